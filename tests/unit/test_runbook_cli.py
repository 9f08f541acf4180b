"""`chaosrun runbook check|compile` through the real command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

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


def test_compile_writes_a_playbook_with_one_play_per_step(tmp_path: Path) -> None:
    out = tmp_path / "playbook.yml"
    done = chaosrun("runbook", "compile", str(WRONG_UNIT), "-o", str(out))
    assert done.returncode == 0, done.stderr
    plays = yaml.safe_load(out.read_text())
    assert [p["name"] for p in plays][2] == "Step 3: Restart the instance"
    assert plays[2]["vars"]["order_unit"] == "order-servce.service"
