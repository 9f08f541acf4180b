"""The project: the directory of a team's ops repository that holds its `chaosrun.yml`.

Found as git and Ansible find theirs: `--project` / `CHAOSRUN_PROJECT` when given, else
the nearest directory holding a `chaosrun.yml` from the working directory upward, else
the working directory itself. Relative paths of the project (its config's paths, the
runs directory, schedules, the audit log, the freeze marker, the inventory pointer)
resolve against its root. Where runs live is the configuration's `run_dir`
(chaosrun.model.config); `--runs-dir` reaches it as $CHAOSRUN_RUNS_DIR (`set_runs_dir`), which
replaces the file's value for every command that writes or reads runs. See docs/config.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from chaosrun.base.errors import InvalidInput
from chaosrun.base.output import warn

FILE_NAME = "chaosrun.yml"
ENV_VAR = "CHAOSRUN_PROJECT"
RUNS_DIR_ENV = "CHAOSRUN_RUNS_DIR"
# The names `run` used before there was one runs directory option; still read, with a warning.
OLD_RUNS_DIR_ENV = "CHAOSRUN_RUN_DIR"


@dataclass(frozen=True)
class Project:
    """A project directory and, when it has one, its `chaosrun.yml`."""

    root: Path
    config_file: Path | None

    def resolve(self, path: str | Path) -> Path:
        """A path of the project: `~` expanded, a relative one taken from the root."""
        given = Path(os.path.expanduser(str(path)))
        return given if given.is_absolute() else self.root / given

    def name_of(self, path: str | Path) -> str:
        """How a journal names a file: from the project root when it is inside the
        project, so one file has one name whichever directory a run started from (a
        schedule's entry gives an absolute path); else its absolute path."""
        full = Path(os.path.expanduser(str(path))).resolve()
        try:
            return full.relative_to(self.root).as_posix()
        except ValueError:
            return str(full)


def find(start: Path | None = None) -> Project:
    """The project for a command started in `start` (default: the working directory)."""
    env = os.environ.get(ENV_VAR)
    if env:
        root = Path(os.path.expanduser(env)).resolve()
        if not root.is_dir():
            raise InvalidInput(f"{ENV_VAR}={env}: no such directory")
        config = root / FILE_NAME
        return Project(root, config if config.is_file() else None)
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        config = directory / FILE_NAME
        if config.is_file():
            return Project(directory, config)
    return Project(here, None)


def use(directory: str | Path) -> None:
    """Make `directory` the project of this process and of the processes it starts
    (`--project`): the lookup above and any child chaosrun read CHAOSRUN_PROJECT."""
    path = Path(os.path.expanduser(str(directory))).resolve()
    if not path.is_dir():
        raise InvalidInput(f"--project {directory}: no such directory")
    os.environ[ENV_VAR] = str(path)


def set_runs_dir(path: Path | None) -> None:
    """`--runs-dir`: every reader of the runs directory in this process (the engine, the
    safety checks, abort requests) and the processes it starts see the same one."""
    if path is not None:
        os.environ[RUNS_DIR_ENV] = str(Path(os.path.expanduser(str(path))).resolve())


def env_runs_dir(project: Project) -> Path | None:
    """$CHAOSRUN_RUNS_DIR (or its deprecated old name), resolved against the project."""
    value = os.environ.get(RUNS_DIR_ENV)
    if not value and os.environ.get(OLD_RUNS_DIR_ENV):
        value = os.environ[OLD_RUNS_DIR_ENV]
        _warn_once(f"{OLD_RUNS_DIR_ENV} is deprecated: use {RUNS_DIR_ENV}")
    return project.resolve(value) if value else None


_warned: set[str] = set()


def _warn_once(text: str) -> None:
    if text not in _warned:
        _warned.add(text)
        warn(text)
