"""What ansible-runner leaves in a run's directory: it writes every play's whole
environment into `artifacts/<id>/command`, so whatever the operator's shell holds would
stay there with the run. `keep_own_env` cuts that record to the variables chaosrun and
Ansible set when the play ends; `sweep_ended` does it for the runs a killed controller
left (their records uncut, their extra vars files still there), for `recover`."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from pathlib import Path

from chaosrun.base import liveness

# Ansible's own settings say which configuration a play ran with: worth keeping.
KEPT_PREFIXES = ("ANSIBLE_",)
# What chaosrun sets beside them (chaosrun.hosts.runner.runner_env).
KEPT_NAMES = ("PATH",)
# How every play's extra vars file ends (chaosrun.hosts.runner.play_inputs).
VARS_SUFFIX = ".vars.yml"


def keep_own_env(work_dir: Path, own: Iterable[str]) -> None:
    """Rewrite each `artifacts/*/command` under `work_dir` with only the variables named
    in `own` or Ansible's; the command and its directory stay as ansible-runner wrote them."""
    for path in work_dir.glob("artifacts/*/command"):
        _cut(path, set(own))


def _cut(path: Path, kept: set[str]) -> bool:
    """Cut one record to `kept` and Ansible's variables; whether it was rewritten."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    env = record.get("env") if isinstance(record, dict) else None
    if not isinstance(env, dict):
        return False
    record["env"] = {k: v for k, v in env.items() if k in kept or k.startswith(KEPT_PREFIXES)}
    if record["env"] == env:
        return False
    # The file keeps its mode (0600): it is rewritten in place, not replaced.
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    return True


def sweep(run_path: Path) -> int:
    """Cut every environment record under one run's directory (any depth: plays of
    probes and drill steps have their own directories) to chaosrun's and Ansible's
    variables, and remove extra vars files left behind; how many files it changed."""
    changed = sum(_cut(p, set(KEPT_NAMES)) for p in run_path.rglob("artifacts/*/command"))
    for path in run_path.rglob(f"*{VARS_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            changed += 1
    return changed


def sweep_ended(run_dir: Path) -> dict[str, int]:
    """`sweep` every run under `run_dir` whose journal says it ended or whose controller on
    this machine is gone (chaosrun.base.liveness): run id -> files changed, where any. A
    run still going, or of a controller elsewhere, is left alone: its play may yet read
    its vars file."""
    swept: dict[str, int] = {}
    for journal_path in sorted(run_dir.glob("*/journal.json")) if run_dir.is_dir() else []:
        try:
            journal = json.loads(journal_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(journal, dict) or liveness.classify(journal).get("status") == "running":
            continue
        changed = sweep(journal_path.parent)
        if changed:
            swept[journal_path.parent.name] = changed
    return swept
