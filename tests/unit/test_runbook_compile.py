"""Compiled runbooks: valid playbooks that pass ansible-playbook --syntax-check and
ansible-lint's production profile, one play per step in heading order."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from chaosrun.base import usertext
from chaosrun.runbook import compile as compiler
from chaosrun.runbook.check import check_file

ROOT = Path(__file__).resolve().parents[2]
DB_DOWN = ROOT / "runbooks" / "database-primary-down.md"
BIN = Path(sys.executable).parent


def compiled(path: Path) -> tuple[object, list[dict]]:
    book, _ = check_file(path)
    return book, usertext.load(compiler.dump(book))


def test_one_play_per_step_named_after_the_headings() -> None:
    book, plays = compiled(DB_DOWN)
    assert [p["name"] for p in plays] == [f"Step {s.number}: {s.title}" for s in book.steps]
    detect, alert, promote = plays[0], plays[1], plays[2]
    probe = detect["tasks"][0]
    assert probe["chaosrun.chaos.prometheus_probe"]["within"] == 60.0
    assert probe["chaosrun.chaos.prometheus_probe"]["max"] == 0
    assert probe["delegate_to"] == "localhost" and probe["run_once"] is True
    assert alert["tasks"][0]["chaosrun.chaos.alert_probe"]["alertname"] == "HighErrorRatio"
    assert promote["hosts"] == "db_replica"
    assert "pg_ctlcluster" in promote["tasks"][0]["ansible.builtin.command"]
    assert promote["vars"]["postgres_cluster"] == "15 main"


def test_manual_steps_pause_unless_auto_ack() -> None:
    _, plays = compiled(DB_DOWN)
    manual = plays[-1]
    assert manual["name"] == "Step 9: Postmortem"
    pause = next(t for t in manual["tasks"] if "ansible.builtin.pause" in t)
    assert pause["when"] == "not (auto_ack | default(false) | bool)"
    report = manual["tasks"][-1]
    assert report["when"] == "auto_ack | default(false) | bool"


@pytest.fixture
def compiled_dir():
    """A temp dir inside the project, so the project's ansible.cfg finds the collection."""
    work = Path(tempfile.mkdtemp(prefix=".runbook-test-", dir=ROOT))
    for path in sorted((ROOT / "runbooks").glob("*.md")):
        book, _ = check_file(path)
        (work / f"{path.stem}.yml").write_text(compiler.dump(book), encoding="utf-8")
    yield work
    shutil.rmtree(work)


def test_compiled_runbooks_pass_syntax_check_and_ansible_lint(compiled_dir: Path) -> None:
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": f"{BIN}:/usr/bin:/bin"}
    inventory = compiled_dir / "hosts.yml"
    inventory.write_text(
        "all:\n  children:\n    db_replica: {hosts: {db-2: {}}}\n    app: {hosts: {order-1: {}}}\n"
        "    order_service: {hosts: {order-1: {}}}\n"
    )
    for playbook in sorted(compiled_dir.glob("*-*.yml")):
        done = subprocess.run(
            [str(BIN / "ansible-playbook"), "--syntax-check", "-i", str(inventory), str(playbook)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    playbooks = [str(p) for p in sorted(compiled_dir.glob("*-*.yml"))]
    lint = subprocess.run(
        [str(BIN / "ansible-lint"), "--profile", "production", "--nocolor", *playbooks],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "passed" in lint.stderr + lint.stdout
