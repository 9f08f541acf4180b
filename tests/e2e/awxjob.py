"""Running playbooks/experiment.yml the way AWX runs a job template: ansible-runner with a
private data directory, the project checkout as project_dir, the job's inventory and the
survey's answers as extra vars; and reading what the job leaves behind (set_stats, the
journal under the job's artifacts directory)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import ansible_runner

PROJECT = Path(__file__).resolve().parents[2]
PLAYBOOK = "playbooks/experiment.yml"


def runner_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The project's ansible.cfg, and this environment's chaosrun and ansible first on PATH."""
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    return {"ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"), "PATH": path, **(extra or {})}


def run_job(
    private_dir: Path,
    inventory: Path,
    survey: dict[str, Any],
    env: dict[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    """One job, run to its end; extra keyword arguments go to ansible_runner.run."""
    private_dir.mkdir(parents=True, exist_ok=True)
    return ansible_runner.run(
        private_data_dir=str(private_dir),
        project_dir=str(PROJECT),
        playbook=PLAYBOOK,
        inventory=str(inventory),
        extravars=survey,
        envvars=runner_env(env),
        quiet=True,
        timeout=900,
        **kwargs,
    )


def job_stats(result: Any) -> dict[str, Any]:
    """What set_stats left for AWX (a job's artifacts)."""
    stats = next(e["event_data"] for e in result.events if e.get("event") == "playbook_on_stats")
    return stats.get("artifact_data") or {}


def job_journals(result: Any) -> list[Path]:
    """The journals the job wrote under its own artifacts directory."""
    return sorted(Path(result.config.artifact_dir).glob("chaosrun/*/journal.json"))


def job_journal(result: Any) -> dict[str, Any]:
    [path] = job_journals(result)
    return json.loads(path.read_text())
