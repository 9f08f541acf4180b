"""`chaosrun schedule add|list|remove|install|uninstall`: experiments on a timetable."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from chaosrun.base.errors import InvalidInput
from chaosrun.base.output import console, emit_json, info, warn
from chaosrun.commands.options import JsonOpt, ScheduleFileOpt

app = typer.Typer(
    help="Run experiments on a timetable from cron or systemd timers.", no_args_is_help=True
)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Schedule name (lowercase, digits, dashes).")],
    experiment: Annotated[str, typer.Option("--experiment", help="Experiment file.")],
    cron: Annotated[str, typer.Option("--cron", help="Cron expression, e.g. '0 10 * * 1-5'.")],
    inventory: Annotated[
        str | None, typer.Option("--inventory", "-i", help="Inventory for the runs.")
    ] = None,
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone.")] = "UTC",
    jitter: Annotated[
        str, typer.Option("--jitter", help="Random delay up to this long, e.g. 30m.")
    ] = "0",
    probability: Annotated[
        float, typer.Option("--probability", help="Chance that a slot runs, 0..1.")
    ] = 1.0,
    min_gap: Annotated[
        str, typer.Option("--min-gap", help="Minimum time between two runs, e.g. 20h.")
    ] = "0",
    business_hours: Annotated[
        bool, typer.Option("--business-hours", help="Run only Mon-Fri 09:00-17:00 local.")
    ] = False,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Experiment override KEY=VALUE for every slot (repeatable; may only tighten "
            "the safety fields).",
        ),
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a same-named one.")] = False,
    file: ScheduleFileOpt = None,
) -> None:
    """Add a schedule to the schedule file (then `chaosrun schedule install`)."""
    from chaosrun.modes import schedule_sets, schedules

    raw: dict[str, Any] = {"name": name, "experiment": experiment, "cron": cron}
    if inventory:
        raw["inventory"] = inventory
    raw.update(timezone=timezone, jitter=jitter, probability=probability, min_gap=min_gap)
    raw["business_hours"] = business_hours
    if overrides:
        raw["set"] = _set_map(overrides)
    new = schedules.parse_one(raw, lambda at: f"--{at[-1]}".replace("_", "-"), ())
    if not (schedules.paths.project_root() / experiment).is_file():
        raise InvalidInput(f"--experiment: {experiment} not found in the project")
    schedule_sets.refuse_added(new)
    current = schedules.load(file)
    if any(s.name == name for s in current) and not replace:
        raise InvalidInput(f"schedule {name!r} exists (use --replace)")
    kept = [s for s in current if s.name != name]
    path = schedules.save([*kept, new], file)
    info(f"added {name} to {path}; `chaosrun schedule install` puts it in the scheduler")


def _set_map(overrides: list[str]) -> dict[str, str]:
    """`--set KEY=VALUE` options as the schedule file's `set:` mapping."""
    found: dict[str, str] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--set {item!r}: expected KEY=VALUE, e.g. duration=30s")
        found[key.strip()] = value
    return found


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="Schedule name.")],
    file: ScheduleFileOpt = None,
) -> None:
    """Remove a schedule from the file (then `chaosrun schedule install` again)."""
    from chaosrun.modes import schedule_install, schedules

    current = schedules.load(file)
    if not any(s.name == name for s in current):
        raise InvalidInput(f"{schedules.schedules_path(file)}: no schedule named {name!r}")
    path = schedules.save([s for s in current if s.name != name], file)
    info(f"removed {name} from {path}")
    manifest = schedule_install.read_manifest(file)
    if manifest and name in manifest.get("schedules", []):
        warn(f"{name} is still installed: run `chaosrun schedule install` or `uninstall`")


@app.command("list")
def list_(file: ScheduleFileOpt = None, as_json: JsonOpt = False) -> None:
    """Show schedules, their next slots, when each last ran and how its last slot ended."""
    from chaosrun.model import config, cronexpr
    from chaosrun.modes import schedule_install, schedule_sets, schedules, slots

    found = schedules.load(file)
    schedule_sets.refuse_loosening(found, file)
    audit_path = config.load().audit_path
    manifest = schedule_install.read_manifest(file) or {}
    now = dt.datetime.now(dt.UTC)
    rows = []
    for s in found:
        nxt = cronexpr.next_fires(s.cron, s.tz, now, 3)
        last = schedules.last_run(audit_path, s.name)
        rows.append(
            {
                "name": s.name,
                "experiment": s.experiment,
                "cron": s.cron_text,
                "timezone": s.timezone,
                "probability": s.probability,
                "min_gap_s": s.min_gap_s,
                "jitter_s": s.jitter_s,
                "business_hours": s.business_hours.describe() if s.business_hours else None,
                "enabled": s.enabled,
                "next": [t.isoformat() for t in nxt],
                "last_run": last.isoformat() if last else None,
                "last_result": slots.last_result(audit_path, s.name),
                "installed": manifest.get("backend")
                if s.name in manifest.get("schedules", [])
                else None,
            }
        )
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table(
        "name", "experiment", "cron", "rules", "next slots", "last run", "last slot", "installed"
    )
    for r in rows:
        rules = [f"p={r['probability']:g}"]
        if r["min_gap_s"]:
            rules.append(f"gap {r['min_gap_s']:g}s")
        if r["jitter_s"]:
            rules.append(f"jitter {r['jitter_s']:g}s")
        if r["business_hours"]:
            rules.append(f"hours {r['business_hours']}")
        if not r["enabled"]:
            rules.append("DISABLED")
        table.add_row(
            r["name"],
            r["experiment"],
            f"{r['cron']} {r['timezone']}",
            ", ".join(rules),
            "\n".join(t[:16].replace("T", " ") for t in r["next"]),
            (r["last_run"] or "never")[:19],
            slots.describe(r["last_result"]),
            r["installed"] or "no",
        )
    console.print(table)


@app.command("install")
def install(
    backend: Annotated[
        str, typer.Option("--backend", help="cron (a cron.d file), crontab or systemd.")
    ] = "cron",
    cron_file: Annotated[
        Path | None,
        typer.Option(
            "--cron-file", help="The cron.d file to write [default: /etc/cron.d/chaosrun]."
        ),
    ] = None,
    unit_dir: Annotated[
        Path | None,
        typer.Option("--unit-dir", help="Where systemd units go [default: /etc/systemd/system]."),
    ] = None,
    user: Annotated[bool, typer.Option("--user", help="systemd: user units.")] = False,
    enable: Annotated[
        bool, typer.Option("--enable/--no-enable", help="systemd: enable and start timers.")
    ] = True,
    file: ScheduleFileOpt = None,
) -> None:
    """Write every schedule into cron or systemd, replacing an earlier install."""
    from chaosrun.modes import schedule_install, schedules

    found = schedules.load(file)
    done = schedule_install.install(
        found,
        backend,
        cron_path=cron_file or schedule_install.DEFAULT_CRON_FILE,
        unit_dir=unit_dir,
        user=user,
        enable=enable,
        schedule_file=file,
    )
    for entry in done.files:
        info(f"wrote {entry['path']}")
    if done.crontab_block:
        info("updated the crontab")
    for timer in done.timers:
        info(f"enabled {timer}")
    for note in done.notes:
        warn(note)
    info(
        f"installed {len(found)} schedule(s) with {backend}; "
        f"logs in {schedule_install.state_dir(file)}"
    )


@app.command("uninstall")
def uninstall(file: ScheduleFileOpt = None) -> None:
    """Remove exactly what `chaosrun schedule install` wrote."""
    from chaosrun.modes import schedule_install

    done = schedule_install.uninstall(file)
    if not done:
        info("nothing installed")
    for line in done:
        info(line)
