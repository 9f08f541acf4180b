"""The warnings chaosrun's users cannot act on stay off stderr, in chaosrun and its plays."""

from __future__ import annotations

import os
import subprocess
import sys

from chaosrun.base import pywarnings

# A child that imports what prints cryptography 51's DSA warning (ansible-core's CLI), then
# warns twice itself: one of the filtered messages and one that must still show.
CHILD = (
    "import warnings, ansible.cli; "
    "warnings.warn('DSA is deprecated and support will be removed'); "
    "warnings.warn('a warning the user should see')"
)


def _child_stderr(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    )
    return done.stderr


def test_env_value_keeps_the_users_entries_first_and_adds_ours_once() -> None:
    value = pywarnings.env_value("error::ResourceWarning")
    assert value == "error::ResourceWarning,ignore:DSA is deprecated"
    assert pywarnings.env_value(value) == value
    assert pywarnings.env_value(None) == "ignore:DSA is deprecated"


def test_a_child_started_after_silence_prints_other_warnings_only(monkeypatch) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    assert "DSA is deprecated" in _child_stderr(env)  # the control: unfiltered, it shows
    monkeypatch.setattr(os, "environ", dict(env))
    pywarnings.silence()
    stderr = _child_stderr(os.environ)
    assert "DSA" not in stderr
    assert "a warning the user should see" in stderr


def test_the_command_line_silences_before_any_command_runs() -> None:
    code = (
        "import os, sys; sys.argv = ['chaosrun', '--help']\n"
        "from chaosrun import cli\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "print('PYTHONWARNINGS=' + os.environ.get('PYTHONWARNINGS', ''))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert "PYTHONWARNINGS=ignore:DSA is deprecated" in done.stdout
