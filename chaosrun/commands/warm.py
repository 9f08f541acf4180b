"""`chaosrun warm`: keep chaosrun loaded for the commands that follow from this shell."""

from __future__ import annotations

from typing import Annotated

import typer

from chaosrun.base.output import emit_json, info


def register(app: typer.Typer) -> None:
    app.command("warm")(warm)


def warm(
    idle: Annotated[
        str,
        typer.Option(
            "--idle",
            envvar="CHAOSRUN_WARM_IDLE",
            help="End the warm process once it has run no command for this long.",
        ),
    ] = "15m",
    stop: Annotated[
        bool, typer.Option("--stop", help="End the warm process (after the commands it runs).")
    ] = False,
    status: Annotated[
        bool, typer.Option("--status", help="Show the warm process, if one runs.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="With --status: print JSON.")] = False,
) -> None:
    """Keep chaosrun and Ansible loaded: `run`, `validate`, `plan` and `status` from this
    directory and environment then start in a fork of a warm process (a run's fault lands
    about 0.15 s sooner). It serves this user only, ends when idle, and steps aside when
    chaosrun, Ansible or an ansible.cfg changes. CHAOSRUN_WARM=0 runs a command without it."""
    from chaosrun.base.durations import parse_duration, say_duration
    from chaosrun.ops import warm_process

    if stop or status:
        found = warm_process.stop() if stop else warm_process.status()
        if json_out:
            emit_json(found)
        elif found is None:
            info("no warm process for this directory and environment")
        else:
            info(_describe(found, stopping=stop))
        if found is None and status:
            raise typer.Exit(1)
        return
    seconds = parse_duration(idle)
    started = warm_process.start(seconds)
    if started.pid is None:
        info("a warm process already runs for this directory and environment")
        return
    info(
        f"warm process {started.pid} ready: run, validate, plan and status from this directory "
        f"and environment start in it until it has been idle for {say_duration(seconds)} "
        "(`chaosrun warm --stop` ends it)"
    )


def _describe(found: dict, stopping: bool) -> str:
    import datetime as dt

    from chaosrun.base.durations import say_duration

    since = dt.datetime.fromtimestamp(found["started"]).astimezone().isoformat(timespec="seconds")
    state = "stopping" if stopping or not found["listening"] else "ready"
    return (
        f"warm process {found['pid']} {state}: since {since}, {found['served']} command(s) "
        f"run, {found['running']} running, ends after {say_duration(found['idle_s'])} idle"
    )
