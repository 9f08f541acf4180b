"""`chaosrun awx export`: job template, survey and schedules as `awx import` JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chaosrun.base.output import info, warn, write_out
from chaosrun.commands.options import ScheduleFileOpt

app = typer.Typer(help="Run chaosrun from AWX: export job templates and schedules.")


@app.command("export")
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    organization: Annotated[str, typer.Option(help="AWX organization.")] = "Default",
    project: Annotated[str, typer.Option(help="AWX project holding this repository.")] = "chaosrun",
    scm_url: Annotated[
        str | None, typer.Option("--scm-url", help="Also create the project from this git URL.")
    ] = None,
    scm_branch: Annotated[
        str, typer.Option("--scm-branch", help="Branch of the project.")
    ] = "main",
    inventory: Annotated[
        str, typer.Option(help="AWX inventory the template runs on.")
    ] = "chaosrun",
    inventory_source: Annotated[
        str | None,
        typer.Option(
            "--inventory-source",
            help="Also create the inventory, sourced from this file of the project "
            "(e.g. inventories/production/hosts).",
        ),
    ] = None,
    ee_name: Annotated[
        str | None, typer.Option("--ee-name", help="Execution environment for the template.")
    ] = None,
    ee_image: Annotated[
        str | None,
        typer.Option("--ee-image", help="Also create the execution environment from this image."),
    ] = None,
    template: Annotated[str, typer.Option(help="Job template name.")] = "chaosrun experiment",
    experiment: Annotated[
        list[str] | None,
        typer.Option("--experiment", help="Offer this experiment (repeatable; default all)."),
    ] = None,
    file: ScheduleFileOpt = None,
) -> None:
    """Write AWX objects as JSON for `awx import` (awxkit/AWX 24.6.1)."""
    from chaosrun.modes import awx, schedule_sets, schedules

    target = awx.Target(
        organization=organization,
        project=project,
        scm_url=scm_url,
        scm_branch=scm_branch,
        inventory=inventory,
        inventory_source=inventory_source,
        ee_name=ee_name,
        ee_image=ee_image,
        template=template,
    )
    found = schedules.load(file)
    schedule_sets.refuse_loosening(found, file)
    offered = awx.experiment_files(experiment or [])
    offered += [s.experiment for s in found if s.experiment not in offered]
    data = awx.export(target, awx.experiment_files(offered), found)
    text = awx.write(data, output)
    for note in target.notes:
        warn(note)
    if output:
        info(f"wrote {output}: import it with `awx import < {output}`")
    else:
        write_out(text)
