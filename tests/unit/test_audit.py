"""The audit log: one JSON line per action, appended by concurrent writers."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from chaosrun.model import audit


def _writer(path, n):
    for i in range(n):
        audit.record(path, "run", "passed", experiment="e.yml", run_id=f"r{i}", targets=["a"] * 50)


def test_one_line_per_action_with_who_and_when(tmp_path):
    log = tmp_path / "sub" / "audit.jsonl"
    audit.record(
        log, "refused", "refused", experiment="exp.yml", targets=["order-1"], reason="frozen"
    )
    (entry,) = list(audit.read(log))
    assert entry["action"] == "refused" and entry["targets"] == ["order-1"]
    assert entry["user"] and entry["host"] and entry["at"].endswith("Z")
    assert log.read_text().count("\n") == 1


def test_unknown_action_is_a_bug(tmp_path):
    with pytest.raises(ValueError):
        audit.record(tmp_path / "a", "reboot", "ok")


def test_concurrent_writers_never_interleave(tmp_path):
    log = tmp_path / "audit.jsonl"
    procs = [multiprocessing.Process(target=_writer, args=(log, 200)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    lines = log.read_text().splitlines()
    assert len(lines) == 800
    assert all(json.loads(line)["action"] == "run" for line in lines)


def test_a_torn_last_line_is_skipped(tmp_path):
    log = tmp_path / "audit.jsonl"
    audit.record(log, "freeze", "frozen", reason="x")
    with log.open("a") as handle:
        handle.write('{"action": "ru')
    assert [e["action"] for e in audit.read(log)] == ["freeze"]
