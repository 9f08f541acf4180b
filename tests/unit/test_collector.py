"""The garbage collector around a command: frozen at the process's exit, left as it was for a
caller of main() until then, and running again once `run` has started (even refused)."""

from __future__ import annotations

import gc
import sys

import pytest
from engine_fixtures import COLLECTIONS, GOOD, INVENTORY, run_fresh

from chaosrun import cli

# Registered before main(), so it runs after main's own exit handler: what it sees is what
# the interpreter's final collections will see.
PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0, flush=True))
from chaosrun.cli import main
sys.argv = ["chaosrun", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("frozen before exit:", gc.get_freeze_count() > 0, flush=True)
"""


def test_a_command_freezes_what_it_made_only_when_the_process_exits(tmp_path):
    proc = run_fresh(tmp_path, PROBE, "validate", str(GOOD), "-i", str(INVENTORY))
    assert "frozen before exit: False" in proc.stdout, proc.stderr
    assert "frozen at exit: True" in proc.stdout, proc.stderr


def test_a_refused_run_leaves_the_collector_running(tmp_path, monkeypatch):
    broken = tmp_path / "broken.yml"
    broken.write_text("title: broken\n")
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
    monkeypatch.setenv("CHAOSRUN_CONFIG", str(tmp_path / "chaosrun.yml"))
    (tmp_path / "chaosrun.yml").write_text(f"run_dir: {tmp_path / 'runs'}\n")
    monkeypatch.setattr(sys, "argv", ["chaosrun", "run", str(broken), "-i", str(INVENTORY)])
    try:
        with pytest.raises(SystemExit) as exc:
            cli.main()
        assert exc.value.code == 2
        assert gc.isenabled()
    finally:
        gc.unfreeze()  # what the run froze goes back to this test process's collector
        gc.enable()
