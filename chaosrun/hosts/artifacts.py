"""What ansible-runner leaves in a run's directory: it writes every play's whole
environment into `artifacts/<id>/command`, so a password chaosrun.yml reads from a
variable (and whatever else the operator's shell holds) would stay there with the run.
`keep_own_env` cuts that record to the variables chaosrun and Ansible set."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

# Ansible's own settings say which configuration a play ran with: worth keeping.
KEPT_PREFIXES = ("ANSIBLE_",)


def keep_own_env(work_dir: Path, own: Iterable[str]) -> None:
    """Rewrite each `artifacts/*/command` under `work_dir` with only the variables named
    in `own` or Ansible's; the command and its directory stay as ansible-runner wrote them."""
    kept = set(own)
    for path in work_dir.glob("artifacts/*/command"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        env = record.get("env")
        if not isinstance(env, dict):
            continue
        record["env"] = {k: v for k, v in env.items() if k in kept or k.startswith(KEPT_PREFIXES)}
        if record["env"] != env:
            # The file keeps its mode (0600): it is rewritten in place, not replaced.
            path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
