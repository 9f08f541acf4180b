"""Export chaosrun as AWX objects: a job template with a survey, and one AWX schedule per
chaosrun schedule, in the JSON that `awx import` (awxkit) reads.

The format is awxkit 24.6.1's export format (AWX 24.6.1): a mapping of resource lists;
every object carries its POST fields, references to other objects as natural keys, a
`natural_key` of its own, and dependent objects under `related` (the survey spec and the
schedules of a job template). Objects that already exist in AWX (the organization; the
project and inventory unless asked to create them) are referenced by natural key only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrun.base import paths
from chaosrun.base.errors import InvalidInput
from chaosrun.model import cronexpr
from chaosrun.modes.schedules import Schedule

AWX_VERSION = "24.6.1"
PLAYBOOK = paths.EXPERIMENT_PLAYBOOK


@dataclass
class Target:
    """Where the export lands in AWX."""

    organization: str = "Default"
    project: str = "chaosrun"
    scm_url: str | None = None  # set: create the project too
    scm_branch: str = "main"
    inventory: str = "chaosrun"
    inventory_source: str | None = None  # set: create the inventory, sourced from the project
    ee_name: str | None = None
    ee_image: str | None = None  # set with ee_name: create the execution environment
    template: str = "chaosrun experiment"
    notes: list[str] = field(default_factory=list)


def org_key(t: Target) -> dict[str, Any]:
    return {"name": t.organization, "type": "organization"}


def project_key(t: Target) -> dict[str, Any]:
    return {"organization": org_key(t), "name": t.project, "type": "project"}


def inventory_key(t: Target) -> dict[str, Any]:
    return {"organization": org_key(t), "name": t.inventory, "type": "inventory"}


def template_key(t: Target) -> dict[str, Any]:
    return {"organization": org_key(t), "name": t.template, "type": "job_template"}


def ee_key(t: Target) -> dict[str, Any] | None:
    return {"name": t.ee_name, "type": "execution_environment"} if t.ee_name else None


def require_playbook() -> None:
    """The template runs the project's copy of the job playbook: AWX refuses a template
    whose playbook its project lacks."""
    found = paths.project_root() / PLAYBOOK
    if not found.is_file():
        raise InvalidInput(
            f"{found}: not in the project, and the job template runs it; copy "
            f"{paths.experiment_playbook()} there and commit it (`chaosrun init` writes it "
            "for a new project)"
        )


def experiment_files(given: Sequence[str]) -> list[str]:
    """Experiment paths relative to the project: the given ones, else every shipped one."""
    root = paths.project_root()
    if given:
        for name in given:
            if not (root / name).is_file():
                raise InvalidInput(f"--experiment: {name} not found in the project")
        return list(dict.fromkeys(given))
    found = sorted(p.relative_to(root).as_posix() for p in (root / "experiments").glob("*.yml"))
    if not found:
        raise InvalidInput(f"{root / 'experiments'}: no experiment files to offer in the survey")
    return found


def survey(experiments: Sequence[str]) -> dict[str, Any]:
    """The launch survey: which experiment, and optional target overrides."""

    def question(variable: str, name: str, kind: str, **extra: Any) -> dict[str, Any]:
        q = {
            "question_name": name,
            "question_description": extra.pop("help", ""),
            "variable": variable,
            "type": kind,
            "required": extra.pop("required", False),
        }
        q.update(extra)
        return q

    return {
        "name": "chaosrun experiment",
        "description": "Which experiment to run, and optional overrides of its targets.",
        "spec": [
            question(
                "chaosrun_experiment",
                "Experiment",
                "multiplechoice",
                required=True,
                choices=list(experiments),
                default=experiments[0],
                help="An experiment file of the project.",
            ),
            question(
                "chaosrun_targets",
                "Targets (host pattern)",
                "text",
                default="",
                min=0,
                max=1024,
                help="Empty: the experiment's targets.hosts.",
            ),
            question(
                "chaosrun_count",
                "How many hosts",
                "integer",
                default="",
                min=1,
                max=1000,
                help="Empty: the experiment's targets.select.",
            ),
            question(
                "chaosrun_duration",
                "Duration",
                "text",
                default="",
                min=0,
                max=32,
                help=(
                    "How long the fault stays, e.g. 30s, at most chaosrun.yml's max_duration. "
                    "Empty: the experiment's."
                ),
            ),
            question(
                "chaosrun_seed",
                "Seed",
                "integer",
                default="",
                min=0,
                max=2**31 - 1,
                help="Seed for the random choice of hosts, to repeat a run. Empty: random.",
            ),
            question(
                "chaosrun_set",
                "More overrides",
                "textarea",
                default="",
                min=0,
                max=4096,
                help=(
                    "One field=value per line, as `chaosrun run --set`; caps, guardrails, "
                    "steady state, windows and exclusions may only be tightened (no command "
                    "probe added), expected alerts only dropped or narrowed; the Prometheus "
                    "stays the file's."
                ),
            ),
            question(
                "chaosrun_schedule",
                "Schedule",
                "text",
                default="",
                min=0,
                max=128,
                help="Set by AWX schedules: the chaosrun schedule whose slot rules apply.",
            ),
        ],
    }


def awx_schedule(sched: Schedule, t: Target, start: dt.date) -> dict[str, Any]:
    """One AWX schedule for one chaosrun schedule: cron -> RRULE; the slot's rules (jitter,
    probability, business hours, minimum gap) stay chaosrun's, applied by `run --scheduled`."""
    extra: dict[str, Any] = {
        "chaosrun_experiment": sched.experiment,
        "chaosrun_schedule": sched.name,
    }
    if sched.overrides:
        extra["chaosrun_set"] = "\n".join(f"{k}={v}" for k, v in sorted(sched.overrides.items()))
    if sched.min_gap_s:
        t.notes.append(
            f"{sched.name}: the minimum gap is read from the audit log; give AWX jobs an "
            "audit.path that outlives a job (see docs/awx.md)"
        )
    if sched.inventory:
        t.notes.append(
            f"{sched.name}: AWX runs it on the job template's inventory, not {sched.inventory}"
        )
    return {
        "name": sched.name,
        "description": f"chaosrun schedule {sched.name}: {sched.cron_text} {sched.timezone}",
        "rrule": cronexpr.rrule(sched.cron, sched.timezone, start),
        "enabled": sched.enabled,
        "extra_data": extra,
        "unified_job_template": template_key(t),
        "natural_key": {
            "unified_job_template": template_key(t),
            "name": sched.name,
            "type": "schedule",
        },
    }


def job_template(
    t: Target, experiments: Sequence[str], schedules: Sequence[Schedule], start: dt.date
) -> dict[str, Any]:
    return {
        "name": t.template,
        "description": "Run a chaosrun experiment: steady state, inject, guardrails, rollback.",
        "job_type": "run",
        "inventory": inventory_key(t),
        "project": project_key(t),
        "playbook": PLAYBOOK,
        "scm_branch": "",
        "forks": 0,
        "limit": "",
        "verbosity": 0,
        "extra_vars": "---\n",
        "job_tags": "",
        "force_handlers": False,
        "skip_tags": "",
        "start_at_task": "",
        "timeout": 0,
        "use_fact_cache": False,
        "organization": org_key(t),
        "execution_environment": ee_key(t),
        "host_config_key": "",
        "ask_scm_branch_on_launch": False,
        "ask_diff_mode_on_launch": False,
        "ask_variables_on_launch": False,
        "ask_limit_on_launch": False,
        "ask_tags_on_launch": False,
        "ask_skip_tags_on_launch": False,
        "ask_job_type_on_launch": False,
        "ask_verbosity_on_launch": False,
        "ask_inventory_on_launch": True,
        "ask_credential_on_launch": False,
        "ask_execution_environment_on_launch": False,
        "ask_labels_on_launch": False,
        "ask_forks_on_launch": False,
        "ask_job_slice_count_on_launch": False,
        "ask_timeout_on_launch": False,
        "ask_instance_groups_on_launch": False,
        "survey_enabled": True,
        "become_enabled": False,
        "diff_mode": False,
        # Two runs of one template at once would fight over the same hosts.
        "allow_simultaneous": False,
        "job_slice_count": 1,
        "webhook_service": "",
        "webhook_credential": None,
        "prevent_instance_group_fallback": False,
        "natural_key": template_key(t),
        "related": {
            "survey_spec": survey(experiments),
            "schedules": [awx_schedule(s, t, start) for s in schedules],
        },
    }


def export(
    t: Target,
    experiments: Sequence[str],
    schedules: Sequence[Schedule],
    start: dt.date | None = None,
) -> dict[str, Any]:
    """The whole export, ready for `awx import`."""
    start = start or dt.datetime.now(dt.UTC).date()
    require_playbook()
    offered = set(experiments)
    for sched in schedules:
        if sched.experiment not in offered:
            raise InvalidInput(
                f"schedule {sched.name} runs {sched.experiment}, which is not among the "
                "survey's experiments (add it with --experiment)"
            )
    data: dict[str, Any] = {}
    if t.ee_name and t.ee_image:
        data["execution_environments"] = [
            {
                "name": t.ee_name,
                "description": "chaosrun and the chaosrun.chaos collection",
                "organization": None,
                "image": t.ee_image,
                "pull": "missing",
                "credential": None,
                "natural_key": ee_key(t),
            }
        ]
    if t.scm_url:
        data["projects"] = [
            {
                "name": t.project,
                "description": "chaosrun: experiments, fault roles and playbooks",
                "local_path": "",
                "scm_type": "git",
                "scm_url": t.scm_url,
                "scm_branch": t.scm_branch,
                "scm_refspec": "",
                "scm_clean": True,
                "scm_track_submodules": False,
                "scm_delete_on_update": False,
                "credential": None,
                "timeout": 0,
                "organization": org_key(t),
                "scm_update_on_launch": True,
                "scm_update_cache_timeout": 0,
                "allow_override": False,
                "default_environment": ee_key(t),
                "signature_validation_credential": None,
                "natural_key": project_key(t),
            }
        ]
    if t.inventory_source:
        data["inventory"] = [
            {
                "name": t.inventory,
                "description": "hosts from the chaosrun project",
                "organization": org_key(t),
                "kind": "",
                "host_filter": None,
                "variables": "---\n",
                "prevent_instance_group_fallback": False,
                "natural_key": inventory_key(t),
            }
        ]
        data["inventory_sources"] = [
            {
                "name": f"{t.inventory} from {t.project}",
                "description": "",
                "source": "scm",
                "source_path": t.inventory_source,
                "source_vars": "---\n",
                "scm_branch": "",
                "credential": None,
                "enabled_var": "",
                "enabled_value": "",
                "host_filter": "",
                "overwrite": True,
                "overwrite_vars": True,
                "timeout": 0,
                "verbosity": 1,
                "limit": "",
                "update_on_launch": True,
                "update_cache_timeout": 0,
                "source_project": project_key(t),
                "inventory": inventory_key(t),
                "execution_environment": ee_key(t),
                "natural_key": {
                    "name": f"{t.inventory} from {t.project}",
                    "inventory": inventory_key(t),
                    "type": "inventory_source",
                },
            }
        ]
    data["job_templates"] = [job_template(t, experiments, schedules, start)]
    return data


def write(data: dict[str, Any], output: Path | None) -> str:
    import json

    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
    return text
