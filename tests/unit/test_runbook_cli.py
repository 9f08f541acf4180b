"""`chaosrun runbook check|compile` through the real command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from chaosrun.base import usertext

ROOT = Path(__file__).resolve().parents[2]
WRONG_UNIT = Path(__file__).parent / "fixtures" / "runbooks" / "order-down-wrong-unit.md"


def chaosrun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaosrun", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_check_reports_the_broken_line_and_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.md"
    broken.write_text("# Broken\n\n## Wait\n\n```chaosrun\nprometheus: up\nmax: 1\n```\n")
    done = chaosrun("runbook", "check", str(broken))
    assert done.returncode == 2
    assert f"{broken}:6:" in done.stderr and "'within'" in done.stderr


def test_check_names_each_step_with_its_kind(tmp_path: Path) -> None:
    book = tmp_path / "two.md"
    book.write_text(
        "# Two\n\n## Wait\n\n```chaosrun\nprometheus: up\nmax: 1\nwithin: 5s\n```\n"
        "\n## Look\n\nLook at the host.\n"
    )
    done = chaosrun("runbook", "check", str(book))
    assert done.returncode == 0, done.stderr
    # Not "2 steps (1 prometheus, 2 manual)", which reads as three.
    assert "2 steps (step 1 prometheus, step 2 manual)" in " ".join(done.stdout.split())


def test_compile_writes_a_playbook_with_one_play_per_step(tmp_path: Path) -> None:
    out = tmp_path / "playbook.yml"
    done = chaosrun("runbook", "compile", str(WRONG_UNIT), "-o", str(out))
    assert done.returncode == 0, done.stderr
    plays = usertext.load(out.read_text())
    assert [p["name"] for p in plays][2] == "Step 3: Restart the instance"
    assert plays[2]["vars"]["order_unit"] == "order-servce.service"


def test_drill_and_run_shout_rollback_failed_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 5 (a fault may still be active) ends `drill` with the same loud line as `run`,
    naming the hosts, even with --json."""
    from typer.testing import CliRunner

    from chaosrun import cli
    from chaosrun.base.secrets import Redactor
    from chaosrun.run.engine import Outcome
    from chaosrun.runbook import drill, plan

    outcome = Outcome("rollback_failed", 5, tmp_path / "j.json", "r-1", "rollback failed", ["o-2"])

    class Stuck:
        failed_step = None

        def __init__(self, *_args: object) -> None:
            self.journal = SimpleNamespace(get={"steps": []}.get)

        def run(self) -> Outcome:
            return outcome

    fake_plan = SimpleNamespace(redactor=Redactor(), config=SimpleNamespace(run_dir=tmp_path))
    monkeypatch.setattr(plan, "drill_plan", lambda *_a: (None, fake_plan))
    monkeypatch.setattr(drill, "DrillEngine", Stuck)
    for args in ([], ["--json"]):
        done = CliRunner().invoke(cli.app, ["drill", str(WRONG_UNIT), "--auto-ack", *args])
        assert done.exit_code == 5, done.output
        assert "ROLLBACK FAILED on o-2" in done.output
        assert "chaosrun recover" in done.output
    # Any other end but a pass says why on stderr, like every other refusal.
    outcome = Outcome("refused", 4, tmp_path / "j.json", "r-2", "freeze in force: INC-42", [])
    done = CliRunner().invoke(cli.app, ["drill", str(WRONG_UNIT), "--auto-ack"])
    assert done.exit_code == 4
    assert "refused: freeze in force: INC-42" in done.stderr


def test_the_drills_prompt_reads_lines_and_sees_the_end_of_input() -> None:
    """The manual step's answer is read from the descriptor (a prompt left waiting past the
    drill's limit must not hold sys.stdin's lock as the interpreter exits); a closed
    standard input is no operator, never an endless wait."""
    import subprocess
    import sys

    code = (
        "from chaosrun.commands.runbook import _answer\n"
        "print([_answer(), _answer(), _answer(), _answer()])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=" Yes \nn\nmaybe", capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['yes', 'n', 'maybe', None]"
