"""Options several commands share: the runs directory and Ansible's vault ids."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from chaosrun import project, secrets
from chaosrun.output import warn

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


def use_runs_dir(path: Path | None) -> Path:
    """Apply `--runs-dir` for the whole command and return the runs directory in effect."""
    if path is not None and any(a == "--run-dir" or a.startswith("--run-dir=") for a in sys.argv):
        warn("--run-dir is deprecated: use --runs-dir")
    project.set_runs_dir(path)
    return project.runs_dir()


def use_vault(ids: list[str] | None, files: list[str] | None) -> None:
    """Pass the vault ids to every Ansible run and to chaosrun's own decryption."""
    secrets.configure_vault(ids, files)


def project_file(path: Path, kind: str) -> Path:
    """A file named on the command line: from the working directory, else from the
    project's `experiments` or `runbooks` directory (chaosrun.yml), so `chaosrun run
    kill-one.yml` works anywhere in the repository."""
    if path.exists() or path.is_absolute():
        return path
    from chaosrun import config

    cfg = config.load()
    base = cfg.experiments_dir if kind == "experiments" else cfg.runbooks_dir
    candidate = base / path if base is not None else path
    return candidate if candidate.exists() else path
