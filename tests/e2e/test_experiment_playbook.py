"""The AWX job playbook (playbooks/experiment.yml) run through ansible-runner, as AWX runs a
job template, on the lab.

One engine: the same experiment file, inventory and seed through `chaosrun run` and
through the job choose the same hosts (a percent of a pattern with a group excluded),
the same thresholds and the same lease; the journals of both runs say so, and the job's
journal is among its artifacts.
An aborted experiment failing the job is shown inside the execution environment
(tests/e2e/test_ee.py) and, for every exit code, in tests/unit/test_awx_playbook.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from awxjob import job_journal, job_stats, run_job
from safety_support import (  # noqa: F401  (fixtures)
    Project,
    project_fixture,
    safety_lab_fixture,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e]

SEED = 7
# 60% of order_service + db less the db_primary group (4 hosts) is 2 hosts (rounded down;
# the old playbook engine rounded up and took group names in exclude for host names).
SAME_CHOICE = """\
title: One engine, two ways in
targets:
  hosts: order_service:db
  exclude: [db_primary]
  select: {percent: 60}
blast_radius: {max_percent: 100}
fault:
  role: chaosrun.chaos.cpu_stress
  vars: {cpu_stress_cores: 1, cpu_stress_load: 5}
duration: 30s
lease_ttl: 20s
# Constant queries: this test compares what the two ways in decide, and must not depend
# on how a busy machine's scrapes fare; the relative threshold still needs a baseline.
steady_state:
  - name: prometheus answers
    prometheus: vector(1)
    min: 1
guardrails:
  interval: 1s
  probes:
    - name: constant holds against its baseline
      prometheus: vector(10)
      max_decrease: 50%
recovery: {within: 60s}
"""


def choices(journal: dict) -> dict:
    """What must not depend on the way in: hosts, thresholds, lease, overrides."""
    return {
        "targets": {k: journal["targets"].get(k) for k in ("pattern", "matched", "excluded")},
        "selected": journal["targets"]["selected"],
        "thresholds": {p["name"]: p["threshold"] for p in journal["probes"]},
        "ttl_s": journal["fault"]["ttl_s"],
        "overrides": journal["overrides"],
        "status": journal["status"],
    }


def test_cli_and_awx_job_run_the_same_experiment(project: Project, tmp_path: Path) -> None:
    exp = project.experiment("same-choice", SAME_CHOICE)
    cli = project.chaosrun(
        "run", str(exp), "-i", str(project.lab.inventory), "--seed", str(SEED),
        "--set", "duration=2s", "--json", timeout=600,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr[-3000:]
    cli_journal = project.journal(json.loads(cli.stdout)["run_id"])

    job = run_job(
        tmp_path / "job",
        project.lab.inventory,
        {"chaosrun_experiment": str(exp), "chaosrun_seed": SEED, "chaosrun_duration": "2s"},
        env={"CHAOSRUN_CONFIG": str(project.config_file)},
    )
    assert job.status == "successful", job.stdout.read()[-4000:]
    job_run = job_journal(job)
    stats = job_stats(job)
    assert stats["chaosrun_status"] == "passed" and stats["chaosrun_run_id"] == job_run["run_id"]

    want = choices(cli_journal)
    # 60% of the 4 hosts left after excluding db_primary: 2 (never 3), db-1 never chosen
    assert len(want["targets"]["matched"]) == 5 and want["targets"]["excluded"] == ["db-1"]
    assert len(want["selected"]) == 2 and "db-1" not in want["selected"]
    assert want["thresholds"]["constant holds against its baseline"] == {"max_decrease": "50%"}
    assert want["ttl_s"] == 20 and want["overrides"] == {"duration": "2s"}
    assert choices(job_run) == want
    project.assert_no_active_fault()
