"""Runs, journals, reports and the audit log are the team's to read (group), whatever the
umask; nothing is readable by others."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from chaosrun.base.secrets import Redactor
from chaosrun.model import audit
from chaosrun.report.writer import write_run_reports
from chaosrun.run.journal import Journal


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def strict_umask():
    old = os.umask(0o077)
    yield
    os.umask(old)


def test_run_files_are_group_readable(tmp_path: Path, strict_umask) -> None:
    run_dir = tmp_path / ".chaosrun" / "runs" / "r1"
    journal = Journal(run_dir, "r1", Redactor())
    journal.save()
    assert mode(tmp_path / ".chaosrun") == mode(run_dir.parent) == mode(run_dir) == 0o750
    assert mode(run_dir / "journal.json") == 0o640
    for report in write_run_reports(run_dir):
        assert mode(report) == 0o640, report
    audit.record(tmp_path / ".chaosrun" / "audit.jsonl", "freeze", "frozen", reason="test")
    assert mode(tmp_path / ".chaosrun" / "audit.jsonl") == 0o640


def test_existing_directories_keep_their_mode(tmp_path: Path, strict_umask) -> None:
    (tmp_path / "runs").mkdir(mode=0o700)
    Journal(tmp_path / "runs" / "r2", "r2", Redactor()).save()
    assert mode(tmp_path / "runs") == 0o700  # the user's choice
    assert mode(tmp_path / "runs" / "r2") == 0o750
