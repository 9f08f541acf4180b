"""The `chaosrun` command line: parse, call, print. Commands live in chaosrun/commands/."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import typer

from chaosrun.base import output, project, pywarnings
from chaosrun.base.errors import ChaosrunError
from chaosrun.commands import awx as awx_commands
from chaosrun.commands import collector, doctor, experiment, fault, init, lab, version, warm
from chaosrun.commands import fleet as fleet_commands
from chaosrun.commands import report as report_commands
from chaosrun.commands import runbook as runbook_commands
from chaosrun.commands import schedule as schedule_commands
from chaosrun.commands.options import ProjectOpt

app = typer.Typer(
    name="chaosrun",
    help="Chaos engineering for fleets run with Ansible.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_enable=False,
)
app.add_typer(lab.app, name="lab")
app.add_typer(fault.app, name="new")
experiment.register(app)
report_commands.register(app)
fleet_commands.register(app)
app.add_typer(schedule_commands.app, name="schedule")
app.add_typer(awx_commands.app, name="awx")
runbook_commands.register(app)
doctor.register(app)
init.register(app)
warm.register(app)


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=version.show,
        is_eager=True,
        help="Print the version and which copy of the collection is used, and exit.",
    ),
    project_dir: ProjectOpt = None,
) -> None:
    """Chaos engineering for fleets run with Ansible."""
    if project_dir is not None:
        project.use(project_dir)


# The command line built from `app`, kept by a process that serves many commands (the warm
# process builds it once; typer would build it again for every command).
_built: Callable[..., Any] | None = None


def prebuild() -> None:
    """Build the command line now, once, for every command this process will run."""
    global _built
    _built = typer.main.get_command(app)


def main() -> None:
    """Entry point: turn user-facing errors into one line and their exit code. A command
    whose output nobody reads (`chaosrun validate x.yml 2>&1 | head -1`) keeps its own exit
    code: the lines are dropped (output.drop_unread_lines) and the streams are flushed, or
    pointed into nothing, before the interpreter's own last flush could make it 120."""
    pywarnings.silence()
    collector.free_exit()
    output.drop_unread_lines()
    try:
        code = _command()
    finally:
        output.flush_or_drop()
    if code:
        sys.exit(code)


def _command() -> int:
    """Run the command line; its exit code."""
    try:
        code = (_built or app)(standalone_mode=False)
        # Without standalone mode, click returns a command's `typer.Exit(code)` instead of exiting.
        return code if isinstance(code, int) else 0
    except ChaosrunError as exc:
        output.error(str(exc))
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        output.error("aborted")
        return 130
    except Exception as exc:  # click usage errors carry their own exit code
        code = getattr(exc, "exit_code", None)
        if code is None:
            raise
        show = getattr(exc, "show", None)
        if show:
            show()
        return code
