"""The on-host layout of chaosrun's state, as the Python side spells it.

The hosts are the source of truth for active faults. Under the state directory
(`chaos_state_dir`, default STATE_DIR):

    lock                      the arm step's lock file (flock)
    frozen                    the freeze marker (`chaosrun freeze -i`)
    history.jsonl             one line per revert, kept after the fault is gone
    ended/<run>               the run ended on this host (rollback, recover): a late arm of
                              it refuses; removed after ENDED_KEEP_MINUTES
    active/<run>/lease        the run's lease expiry (epoch seconds), renewed while it lives
    active/<run>/<role>/      one fault: meta.json, revert.sh, armed, its pre-state

The fault role (`chaosrun.chaos.fault`: its argument specs and vars/main.yml) is the
Ansible side's one statement of the same layout; a unit test keeps the two in step.
"""

from __future__ import annotations

STATE_DIR = "/var/lib/chaosrun"
ACTIVE = "active"
LEASE = "lease"
LEASE_TMP = ".lease.tmp"  # a renewal's temporary file (the boot guard clears it)
HISTORY = "history.jsonl"
FROZEN = "frozen"
LOCK = "lock"
META = "meta.json"
REVERT = "revert.sh"
ENDED = "ended"
# Longer than any lease (lease.max_ttl): a marker this old can stop no late arm any more.
ENDED_KEEP_MINUTES = 24 * 60


def _root(state_dir: str) -> str:
    return state_dir.rstrip("/")


def active_root(state_dir: str) -> str:
    """The directory holding one directory per run with a fault on the host."""
    return f"{_root(state_dir)}/{ACTIVE}"


def run_dir(state_dir: str, run_id: str) -> str:
    return f"{active_root(state_dir)}/{run_id}"


def fault_dir(state_dir: str, run_id: str, role: str) -> str:
    """One fault's directory (`role` is the role's short name, like process_kill)."""
    return f"{run_dir(state_dir, run_id)}/{role}"


def lease_file(state_dir: str, run_id: str) -> str:
    return f"{run_dir(state_dir, run_id)}/{LEASE}"


def lease_tmp_file(state_dir: str, run_id: str) -> str:
    return f"{run_dir(state_dir, run_id)}/{LEASE_TMP}"


def history_file(state_dir: str) -> str:
    return f"{_root(state_dir)}/{HISTORY}"


def frozen_marker(state_dir: str) -> str:
    """The freeze marker: its first line says who froze the host, when and why (the
    on-host lock step prints it when it refuses), its last line is the same as JSON."""
    return f"{_root(state_dir)}/{FROZEN}"


def lock_file(state_dir: str) -> str:
    return f"{_root(state_dir)}/{LOCK}"


def ended_root(state_dir: str) -> str:
    """The directory of the markers of runs that ended on the host."""
    return f"{_root(state_dir)}/{ENDED}"


def ended_marker(state_dir: str, run_id: str) -> str:
    """Written under the lock when a run's rollback or recover ends it on the host."""
    return f"{ended_root(state_dir)}/{run_id}"
