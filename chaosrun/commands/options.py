"""Options several commands share (inventory, `--set`, `--json`, runs directory, vault ids,
config, schedule file, hosts' state directory), defined once, and what applies them.

Importing this module must stay cheap: `chaosrun --help` imports it, so it imports only
Typer at the top and the rest of chaosrun where an option is applied.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

# chaosrun.modes.schedules.ENV_VAR (a unit test checks they agree): that module loads the audit
# log and its webhooks, which `--help` must not pay for.
SCHEDULES_ENV = "CHAOSRUN_SCHEDULES"

ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "--project",
        envvar="CHAOSRUN_PROJECT",
        help="The project directory (default: the nearest one upward with a chaosrun.yml, "
        "else the working directory).",
    ),
]
InventoryOpt = Annotated[
    Path | None,
    typer.Option(
        "-i",
        "--inventory",
        envvar="CHAOSRUN_INVENTORY",
        help="Ansible inventory (default: the project's ansible.cfg one).",
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", envvar="CHAOSRUN_CONFIG", help="Project config (chaosrun.yml)."),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a field, e.g. --set duration=5s (repeatable)."),
]
SeedOpt = Annotated[
    int | None, typer.Option("--seed", help="Seed for random target choice (reproducible).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document for machines.")]
RunsDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--runs-dir",
        "--run-dir",  # its old name on run and drill, still read (with a warning)
        help="Directory holding one folder per run (default: run_dir of chaosrun.yml, "
        ".chaosrun/runs in the project; env CHAOSRUN_RUNS_DIR).",
    ),
]
VaultIdOpt = Annotated[
    list[str] | None,
    typer.Option("--vault-id", help="A vault identity, as ansible-playbook takes it (repeatable)."),
]
VaultFileOpt = Annotated[
    list[str] | None,
    typer.Option("--vault-password-file", help="A vault password file (repeatable)."),
]
ScheduleFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--file",
        envvar=SCHEDULES_ENV,
        help="Schedule file [default: chaosrun-schedules.yml at the project root].",
    ),
]
StateDirOpt = Annotated[
    str | None,
    typer.Option("--state-dir", help="chaos_state_dir on the hosts [default: the roles' default]."),
]


def use_runs_dir(path: Path | None) -> Path:
    """Apply `--runs-dir` for the whole command and return the runs directory in effect:
    `--runs-dir`, else $CHAOSRUN_RUNS_DIR, else `run_dir` of the project's chaosrun.yml
    (default `.chaosrun/runs` under the project root)."""
    from chaosrun.base import project
    from chaosrun.base.output import warn
    from chaosrun.model import config

    if path is not None and any(a == "--run-dir" or a.startswith("--run-dir=") for a in sys.argv):
        warn("--run-dir is deprecated: use --runs-dir")
    project.set_runs_dir(path)
    return config.load().run_dir


def use_vault(ids: list[str] | None, files: list[str] | None) -> None:
    """Pass the vault ids to every Ansible run and to chaosrun's own decryption."""
    from chaosrun.base import secrets

    secrets.configure_vault(ids, files)


def state_dir_or_default(value: str | None) -> str:
    """`--state-dir`, else the state directory the roles default to."""
    from chaosrun.ops import fleet

    return value or fleet.STATE_DIR


def project_file(path: Path, kind: str) -> Path:
    """A file named on the command line: from the working directory, else from the
    project's `experiments` or `runbooks` directory (chaosrun.yml), so `chaosrun run
    kill-one.yml` works anywhere in the repository."""
    if path.exists() or path.is_absolute():
        return path
    from chaosrun.model import config

    cfg = config.load()
    base = cfg.experiments_dir if kind == "experiments" else cfg.runbooks_dir
    candidate = base / path if base is not None else path
    return candidate if candidate.exists() else path
