"""`chaosrun awx export` against what AWX 24.6.1 and its importer (awxkit 24.6.1) expect."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dateutil import rrule as du_rrule

from chaosrun.base import paths
from chaosrun.base.errors import InvalidInput
from chaosrun.modes import awx, schedules

ROOT = Path(__file__).resolve().parents[2]

# POST fields of AWX 24.6.1's serializers (OPTIONS /api/v2/<resource>/ -> actions.POST).
JOB_TEMPLATE_FIELDS = {
    "name", "description", "job_type", "inventory", "project", "playbook", "scm_branch",
    "forks", "limit", "verbosity", "extra_vars", "job_tags", "force_handlers", "skip_tags",
    "start_at_task", "timeout", "use_fact_cache", "organization", "execution_environment",
    "host_config_key", "ask_scm_branch_on_launch", "ask_diff_mode_on_launch",
    "ask_variables_on_launch", "ask_limit_on_launch", "ask_tags_on_launch",
    "ask_skip_tags_on_launch", "ask_job_type_on_launch", "ask_verbosity_on_launch",
    "ask_inventory_on_launch", "ask_credential_on_launch",
    "ask_execution_environment_on_launch", "ask_labels_on_launch", "ask_forks_on_launch",
    "ask_job_slice_count_on_launch", "ask_timeout_on_launch", "ask_instance_groups_on_launch",
    "survey_enabled", "become_enabled", "diff_mode", "allow_simultaneous", "job_slice_count",
    "webhook_service", "webhook_credential", "prevent_instance_group_fallback",
}  # fmt: skip
SCHEDULE_FIELDS = {
    "name", "description", "rrule", "enabled", "extra_data", "unified_job_template",
    "inventory", "scm_branch", "job_type", "job_tags", "skip_tags", "limit", "diff_mode",
    "verbosity", "execution_environment", "forks", "job_slice_count", "timeout",
}  # fmt: skip
PROJECT_FIELDS = {
    "name", "description", "local_path", "scm_type", "scm_url", "scm_branch", "scm_refspec",
    "scm_clean", "scm_track_submodules", "scm_delete_on_update", "credential", "timeout",
    "organization", "scm_update_on_launch", "scm_update_cache_timeout", "allow_override",
    "default_environment", "signature_validation_credential",
}  # fmt: skip
INVENTORY_FIELDS = {
    "name", "description", "organization", "kind", "host_filter", "variables",
    "prevent_instance_group_fallback",
}  # fmt: skip
INVENTORY_SOURCE_FIELDS = {
    "name", "description", "source", "source_path", "source_vars", "scm_branch", "credential",
    "enabled_var", "enabled_value", "host_filter", "overwrite", "overwrite_vars", "timeout",
    "verbosity", "limit", "update_on_launch", "update_cache_timeout", "source_project",
    "inventory", "execution_environment",
}  # fmt: skip
EE_FIELDS = {"name", "description", "organization", "image", "pull", "credential"}
FIELDS = {
    "job_templates": JOB_TEMPLATE_FIELDS,
    "projects": PROJECT_FIELDS,
    "inventory": INVENTORY_FIELDS,
    "inventory_sources": INVENTORY_SOURCE_FIELDS,
    "execution_environments": EE_FIELDS,
}
# awxkit 24.6.1: resource -> (natural key type, NATURAL_KEY of its page class)
NATURAL_KEYS = {
    "job_templates": ("job_template", ("organization", "name")),
    "projects": ("project", ("organization", "name")),
    "inventory": ("inventory", ("organization", "name")),
    "inventory_sources": ("inventory_source", ("name", "inventory")),
    "execution_environments": ("execution_environment", ("name",)),
    "schedules": ("schedule", ("unified_job_template", "name")),
}
SURVEY_TYPES = {
    "text": str,
    "textarea": str,
    "password": str,
    "multiplechoice": str,
    "multiselect": str,
    "integer": int,
    "float": float,
}


def survey_problems(spec: dict[str, Any]) -> list[str]:
    """The checks of AWX 24.6.1's JobTemplateSurveySpec.post, as rules."""
    problems = []
    for key, kind in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(spec.get(key), kind):
            problems.append(f"survey {key} must be {kind.__name__}")
    seen = set()
    for i, q in enumerate(spec.get("spec") or []):
        for key in ("type", "question_name", "variable"):
            if not isinstance(q.get(key), str):
                problems.append(f"question {i}: {key} must be a string")
        if not isinstance(q.get("required"), bool):
            problems.append(f"question {i}: required must be a boolean")
        if q["variable"] in seen:
            problems.append(f"question {i}: duplicate variable")
        seen.add(q["variable"])
        kind = SURVEY_TYPES.get(q["type"])
        if kind is None:
            problems.append(f"question {i}: unknown type {q['type']}")
            continue
        if q.get("default", "") != "" and not isinstance(q["default"], kind):
            problems.append(f"question {i}: default must be {kind.__name__}")
        for key in ("min", "max"):
            if q.get(key) is not None and not isinstance(q[key], int):
                problems.append(f"question {i}: {key} must be an integer")
        if q["type"] in ("multiplechoice", "multiselect"):
            if "choices" not in q:
                problems.append(f"question {i}: needs choices")
            elif q.get("default", "") != "" and q["default"] not in q["choices"]:
                problems.append(f"question {i}: default not among the choices")
    return problems


def answer_problems(spec: dict[str, Any], answers: dict[str, Any]) -> list[str]:
    """What AWX checks of a schedule's extra_data against the survey."""
    problems = []
    questions = {q["variable"]: q for q in spec["spec"]}
    for key, value in answers.items():
        q = questions.get(key)
        if q is None:
            problems.append(f"{key} is not a survey question (ask_variables_on_launch is off)")
            continue
        if q["type"] == "multiplechoice" and value not in q["choices"]:
            problems.append(f"{key}: {value!r} not among {q['choices']}")
        if q["type"] == "float" and not isinstance(value, int | float):
            problems.append(f"{key}: must be a number")
        if q["type"] == "text" and not isinstance(value, str):
            problems.append(f"{key}: must be text")
    for q in spec["spec"]:
        if q["required"] and q["variable"] not in answers and q.get("default", "") == "":
            problems.append(f"{q['variable']} is required")
    return problems


def rrule_problems(text: str) -> list[str]:
    """AWX 24.6.1 SchedulePreviewSerializer.validate_rrule, as rules, plus a real parse."""
    problems = []
    if len(re.findall(r"DTSTART(;[^:]+)?:[0-9]+T[0-9]+Z?", text)) != 1:
        problems.append("exactly one DTSTART")
    if re.findall(r"DTSTART:[0-9]+T[0-9]+ ", text):
        problems.append("DTSTART must not be naive")
    rules = re.findall(r"RRULE:[^\s]*", text)
    if not rules:
        problems.append("one or more RRULE")
    for rule in rules:
        if "INTERVAL" not in rule:
            problems.append("INTERVAL required")
        if "SECONDLY" in rule or re.match(r".*?BYDAY[:=][0-9]+[a-zA-Z]{2}", rule):
            problems.append("unsupported rule")
    try:
        du_rrule.rrulestr(text.replace(" RRULE:", "\nRRULE:"), forceset=True)
    except ValueError as exc:
        problems.append(f"parse: {exc}")
    return problems


def check_natural_key(resource: str, key: dict[str, Any]) -> None:
    kind, fields = NATURAL_KEYS[resource]
    assert key["type"] == kind
    assert set(key) == {*fields, "type"}, key


def validate_export(data: dict[str, Any]) -> None:
    """Everything `awx import` needs of a file, and every field AWX would accept."""
    assert set(data) <= set(FIELDS), set(data)
    json.dumps(data)  # awx import reads JSON
    for resource, assets in data.items():
        for asset in assets:
            extra = set(asset) - FIELDS[resource] - {"natural_key", "related"}
            assert not extra, f"{resource}: fields AWX does not take: {extra}"
            check_natural_key(resource, asset["natural_key"])
            for key in ("organization", "project", "inventory", "source_project"):
                if isinstance(asset.get(key), dict):
                    assert asset[key]["type"] in ("organization", "project", "inventory")
    for jt in data["job_templates"]:
        assert jt["playbook"] and jt["survey_enabled"]
        spec = jt["related"]["survey_spec"]
        assert survey_problems(spec) == []
        for sched in jt["related"]["schedules"]:
            assert set(sched) - SCHEDULE_FIELDS - {"natural_key"} == set()
            check_natural_key("schedules", sched["natural_key"])
            assert sched["natural_key"]["unified_job_template"] == jt["natural_key"]
            assert rrule_problems(sched["rrule"]) == [], sched["rrule"]
            assert answer_problems(spec, sched["extra_data"]) == []


SCHEDULES = """\
schedules:
  - name: weekday-kill
    experiment: experiments/a.yml
    cron: "0 10 * * 1-5"
    timezone: Europe/Berlin
    probability: 0.3
    business_hours: true
  - name: monthly-or-monday
    experiment: experiments/b.yml
    cron: "30 2 1 * mon"
    jitter: 10m
    min_gap: 1d
    set: {duration: 20s}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "experiments").mkdir()
    for name in ("a", "b", "c"):
        (tmp_path / "experiments" / f"{name}.yml").write_text("title: x\n")
    (tmp_path / "chaosrun-schedules.yml").write_text(SCHEDULES)
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    (tmp_path / "playbooks").mkdir()
    shutil.copy(paths.data_dir() / "playbooks" / "experiment.yml", tmp_path / "playbooks")
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    monkeypatch.delenv("CHAOSRUN_SCHEDULES", raising=False)
    return tmp_path


def test_full_export_validates(project: Path) -> None:
    target = awx.Target(
        scm_url="https://git.example.invalid/ops/chaos.git",
        inventory_source="inventories/production/hosts",
        ee_name="chaosrun-ee",
        ee_image="registry.example.invalid/chaosrun-ee:0.1.0",
    )
    found = schedules.load()
    data = awx.export(target, awx.experiment_files([]), found, dt.date(2026, 11, 27))
    validate_export(data)
    assert set(data) == {
        "execution_environments",
        "projects",
        "inventory",
        "inventory_sources",
        "job_templates",
    }
    [jt] = data["job_templates"]
    choices = jt["related"]["survey_spec"]["spec"][0]["choices"]
    assert choices == ["experiments/a.yml", "experiments/b.yml", "experiments/c.yml"]
    weekday, monthly = jt["related"]["schedules"]
    assert weekday["rrule"] == (
        "DTSTART;TZID=Europe/Berlin:20261127T000000 RRULE:FREQ=DAILY;INTERVAL=1;"
        "BYDAY=MO,TU,WE,TH,FR;BYHOUR=10;BYMINUTE=0;BYSECOND=0"
    )
    # the slot's rules stay chaosrun's: the job runs `chaosrun run --scheduled NAME`
    assert weekday["extra_data"] == {
        "chaosrun_experiment": "experiments/a.yml",
        "chaosrun_schedule": weekday["name"],
    }
    # cron ORs day-of-month and weekday: two rules in one AWX schedule
    assert monthly["rrule"].count("RRULE:") == 2 and monthly["rrule"].startswith("DTSTART:")
    assert monthly["extra_data"]["chaosrun_set"] == "duration=20s"
    assert [n for n in target.notes if "gap" in n] and not [
        n for n in target.notes if "jitter" in n
    ]


def test_awx_schedule_fires_when_cron_does(project: Path) -> None:
    """The RRULE, expanded as AWX expands it (dateutil), gives the cron slots."""
    from zoneinfo import ZoneInfo

    from chaosrun.model import cronexpr

    [_, monthly] = schedules.load()
    rule = awx.awx_schedule(monthly, awx.Target(), dt.date(2026, 11, 27))["rrule"]
    rules = du_rrule.rrulestr(rule.replace(" RRULE:", "\nRRULE:"), forceset=True)
    start = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    got, at = [], start
    for _ in range(5):
        at = rules.after(at)
        got.append(at)
    want = cronexpr.next_fires(monthly.cron, ZoneInfo("UTC"), start, 5)
    assert got == want


def test_minimal_export_references_existing_objects(project: Path) -> None:
    data = awx.export(awx.Target(), ["experiments/a.yml", "experiments/b.yml"], schedules.load())
    validate_export(data)
    assert set(data) == {"job_templates"}
    jt = data["job_templates"][0]
    assert jt["project"] == {
        "organization": {"name": "Default", "type": "organization"},
        "name": "chaosrun",
        "type": "project",
    }
    assert jt["execution_environment"] is None


def test_schedule_experiment_must_be_offered(project: Path) -> None:
    with pytest.raises(InvalidInput, match="not among the survey"):
        awx.export(awx.Target(), ["experiments/c.yml"], schedules.load())


def test_export_refuses_a_project_without_the_job_playbook(project: Path) -> None:
    """The job template runs playbooks/experiment.yml of the project: a team's repository
    made before `chaosrun init` wrote it would import a template AWX cannot run."""
    (project / "playbooks" / "experiment.yml").unlink()
    with pytest.raises(InvalidInput) as exc:
        awx.export(awx.Target(), awx.experiment_files([]), [])
    assert str(exc.value).startswith(f"{project / 'playbooks' / 'experiment.yml'}: ")
    assert str(paths.data_dir() / "playbooks" / "experiment.yml") in str(exc.value)


def test_validator_catches_what_awx_rejects() -> None:
    """The checks above are not vacuous."""
    bad_survey = {
        "name": "s",
        "description": "",
        "spec": [
            {"question_name": "q", "variable": "v", "type": "integer", "required": "no"},
            {"question_name": "q", "variable": "v", "type": "multiplechoice", "required": True},
            {"question_name": "q", "variable": "w", "type": "float", "default": "x",
             "required": False, "max": 1.5},
        ],
    }  # fmt: skip
    assert len(survey_problems(bad_survey)) == 5
    assert rrule_problems("DTSTART:20261127T000000 RRULE:FREQ=DAILY;INTERVAL=1")
    assert rrule_problems("DTSTART:20261127T000000Z RRULE:FREQ=SECONDLY;INTERVAL=1")
    assert rrule_problems("DTSTART:20261127T000000Z RRULE:FREQ=DAILY")
    spec = awx.survey(["experiments/a.yml"])
    assert answer_problems(spec, {"chaosrun_experiment": "experiments/zzz.yml"})
    assert answer_problems(spec, {"chaosrun_jitter": "1m"})


def test_cli_export_writes_a_file(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "awx.json"
    env = dict(os.environ, CHAOSRUN_PROJECT=str(project))
    proc = subprocess.run(
        [sys.executable, "-m", "chaosrun", "awx", "export", "-o", str(out), "--ee-name", "ee"],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    validate_export(data)
    assert data["job_templates"][0]["execution_environment"] == {
        "name": "ee",
        "type": "execution_environment",
    }
    assert "awx import" in proc.stderr


def test_awxkit_agrees_on_natural_keys() -> None:
    """Where awxkit is installed, its own page classes confirm the key shapes above."""
    pages = pytest.importorskip("awxkit.api.pages")
    from awxkit.api.pages.api import EXPORTABLE_RESOURCES

    assert set(FIELDS) <= set(EXPORTABLE_RESOURCES)
    assert NATURAL_KEYS["job_templates"][1] == pages.JobTemplate.NATURAL_KEY
    assert NATURAL_KEYS["projects"][1] == pages.Project.NATURAL_KEY
    assert NATURAL_KEYS["inventory"][1] == pages.Inventory.NATURAL_KEY
    assert NATURAL_KEYS["schedules"][1] == pages.Schedule.NATURAL_KEY
    assert NATURAL_KEYS["execution_environments"][1] == pages.ExecutionEnvironment.NATURAL_KEY


def test_execution_environment_builds_a_context(tmp_path: Path) -> None:
    """ansible-builder (v3) accepts execution-environment.yml and writes a build context."""
    builder = Path(sys.executable).parent / "ansible-builder"
    if not builder.exists():
        pytest.skip("ansible-builder is not installed in this environment")
    proc = subprocess.run(
        [str(builder), "create", "-f", "execution-environment.yml", "-c", str(tmp_path / "ctx")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (tmp_path / "ctx" / "Containerfile").read_text()
    # pip installs from the wheelhouse scripts/ee.sh fills, never from an index
    assert "ENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/opt/chaosrun-wheels" in containerfile
    assert containerfile.index("PIP_NO_INDEX=1") < containerfile.index("pip install")
    assert "pip install --no-cache-dir chaosrun" in containerfile
    assert "ansible-core>=2.19,<2.20" in containerfile
    # a Debian base (scripts/ee.sh): apt as the package manager, pip owning the Python
    assert 'PKGMGR="/usr/bin/apt-get"' in containerfile
    assert 'PYCMD="/usr/bin/python3.11"' in containerfile
    build = tmp_path / "ctx" / "_build"
    modules = build / "collection" / "plugins" / "modules"
    assert (modules / "prometheus_probe.py").is_file()
    assert (build / "collection" / "galaxy.yml").is_file()
