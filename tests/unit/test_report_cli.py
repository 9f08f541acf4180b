"""`chaosrun report` and `chaosrun history` as users call them."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import pytest
import report_journals as rj

from chaosrun import cli


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def chaosrun(monkeypatch, capsys):
    """Run the real entry point in-process (a subprocess per call would be slow)."""

    def run(*args, cwd=None):
        monkeypatch.setattr(sys, "argv", ["chaosrun", *args])
        monkeypatch.delenv("CHAOSRUN_RUNS_DIR", raising=False)
        if cwd:
            monkeypatch.chdir(cwd)
        code = 0
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code or 0
        out, err = capsys.readouterr()
        return Done(code, out, err)

    return run


def make_run(tmp_path, status="aborted"):
    run_dir = tmp_path / ".chaosrun" / "runs" / "r1"
    run_dir.mkdir(parents=True)
    data = rj.journal(status)
    data["run_id"] = "r1"
    (run_dir / "journal.json").write_text(json.dumps(data))
    return run_dir


def test_report_by_run_id_in_every_format(tmp_path, chaosrun):
    make_run(tmp_path)
    for fmt, marker in [
        ("html", "<!DOCTYPE html>"),
        ("junit", "<testsuites"),
        ("md", "**ABORTED"),
        ("json", '"status": "aborted"'),
    ]:
        done = chaosrun("report", "r1", "--format", fmt, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert marker in done.stdout


def test_report_writes_a_file(tmp_path, chaosrun):
    run_dir = make_run(tmp_path)
    out = tmp_path / "out" / "r.xml"
    done = chaosrun("report", str(run_dir / "journal.json"), "-f", "junit", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text().count("<testcase") == 13


def test_bad_journal_names_the_file_and_field(tmp_path, chaosrun):
    bad = tmp_path / "journal.json"
    bad.write_text(json.dumps({"schema": 1, "status": "passed"}))
    done = chaosrun("report", str(bad))
    assert done.returncode == 2
    assert str(bad) in done.stderr and "'run_id'" in done.stderr
    assert done.stdout == ""


def test_unknown_run_and_format_are_refused(tmp_path, chaosrun):
    make_run(tmp_path)
    assert chaosrun("report", "nope", cwd=tmp_path).returncode == 2
    done = chaosrun("report", "r1", "--format", "pdf", cwd=tmp_path)
    assert done.returncode == 2 and "pdf" in done.stderr


def test_history_text_json_and_html(tmp_path, chaosrun):
    make_run(tmp_path, "passed")
    text = chaosrun("history", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "resilience score not enough runs for a score (1 of 5" in text.stdout
    data = json.loads(chaosrun("history", "--format", "json", cwd=tmp_path).stdout)
    assert data["total"] == 1 and data["experiments"][0]["outcomes"] == "P"
    out = tmp_path / "h.html"
    assert chaosrun("history", "-f", "html", "-o", str(out), cwd=tmp_path).returncode == 0
    assert "Resilience score: not enough runs" in out.read_text()
    late = chaosrun("history", "--since", "2099-01-01", "-f", "json", cwd=tmp_path)
    assert json.loads(late.stdout)["total"] == 0
