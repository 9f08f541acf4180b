"""Unit-test fixtures."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from chaosrun.run import early, prestart

# The collection's modules and their test helpers, as ansible_collections.chaosrun.chaos.
COLLECTIONS = str(Path(__file__).resolve().parents[2] / "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

# `--project` and `--runs-dir` set these for the whole process (and the processes it
# starts); a command invoked in-process must not leave them to the next test.
PROCESS_WIDE = ("CHAOSRUN_PROJECT", "CHAOSRUN_RUNS_DIR")


@pytest.fixture(autouse=True)
def _restore_process_wide_env():
    saved = {name: os.environ.get(name) for name in PROCESS_WIDE}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _no_prestarted_plays(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's unit tests fake the plays (runner.run_entry_points): no real
    ansible-playbook is started ahead for them (tests/unit/test_prestart.py tests that),
    and `chaosrun run` begins no run before its plan (tests that ask for it say so)."""
    monkeypatch.setattr(prestart, "start", lambda **_kw: None)
    monkeypatch.setenv(early.ENV_SWITCH, "0")


@pytest.fixture
def fake_ansible_runner(monkeypatch: pytest.MonkeyPatch):
    """Installs a fake `ansible_runner` module whose `run` is the given callable (it sends
    the events a play would and returns the exit); returns that callable."""

    def install(run):
        monkeypatch.setitem(sys.modules, "ansible_runner", SimpleNamespace(run=run))
        return run

    return install
