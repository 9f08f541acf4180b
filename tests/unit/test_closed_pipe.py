"""Every command keeps its exit code when nobody reads its output (`chaosrun validate
x.yml 2>&1 | head -1`): a child `chaosrun` writes into a pipe whose reader is gone, in a
shell with and without PYTHONUNBUFFERED, and exits as it does when its output is read,
never 1 (rich's answer to a broken pipe) nor 120 (the interpreter's last flush of a
buffered stream). What a reader who does read sees is unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from engine_fixtures import COLLECTIONS, GOOD, INVENTORY


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "chaosrun.yml"
    config.write_text(f"run_dir: {tmp_path / 'runs'}\naudit: {{path: {tmp_path / 'audit'}}}\n")
    return {
        **{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "CHAOSRUN_PROMETHEUS_URL": "http://127.0.0.1:9",
        "CHAOSRUN_CONFIG": str(config),
    }


def commands(tmp_path: Path) -> list[tuple[list[str], int]]:
    bad = tmp_path / "bad.yml"
    bad.write_text("title: x\nduration: [\n")
    empty = tmp_path / "empty.yml"
    empty.write_text("all:\n  hosts: {}\n")
    return [
        (["validate", str(bad)], 2),
        (["validate", "--json", str(bad)], 2),
        (["plan", str(GOOD), "-i", str(INVENTORY)], 0),
        (["plan", str(bad), "-i", str(INVENTORY)], 2),
        (["status", "-i", str(empty)], 2),
        (["status", "--help"], 0),
        (["--version"], 0),
    ]


def chaosrun(args: list[str], env: dict[str, str], cwd: Path, read: bool) -> tuple[int, str]:
    """The exit code and, when read, the output of `python -m chaosrun ARGS` with stdout
    and stderr on one pipe; unread: its reader closed before the child writes."""
    argv = [sys.executable, "-m", "chaosrun", *args]
    if read:
        done = subprocess.run(
            argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, timeout=120, check=False,
        )  # fmt: skip
        return done.returncode, done.stdout
    reader, writer = os.pipe()
    os.close(reader)  # nobody reads: every write fails with EPIPE
    try:
        done = subprocess.run(
            argv, env=env, cwd=cwd, stdout=writer, stderr=writer, timeout=120, check=False
        )
    finally:
        os.close(writer)
    return done.returncode, ""


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
def test_every_command_keeps_its_exit_code_when_nobody_reads(
    tmp_path: Path, env: dict[str, str], buffered: bool
) -> None:
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    for args, code in commands(tmp_path):
        read_code, output = chaosrun(args, env, tmp_path, read=True)
        assert read_code == code, (args, output[-2000:])
        assert "Traceback" not in output and output.strip(), (args, output[-2000:])
        assert chaosrun(args, env, tmp_path, read=False)[0] == code, args
