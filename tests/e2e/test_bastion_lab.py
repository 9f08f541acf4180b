"""A fleet reached only through a bastion: `lab up --bastion` on the session lab (then
back), a run whose guardrail breaches at once, and its revert over the fast path, which
has no way to a host but the inventory's ProxyJump since the hosts refuse the
controller's SSH."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    PROJECT,
    Project,
    project_fixture,
    safety_lab_fixture,
)

from chaosrun.lab.bastion import jump_options
from chaosrun.lab.keys import ssh_argv
from chaosrun.lab.state import LabPaths

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
ABORTED = 3
UNIT = "order-service.service"


def lab_up(*options: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chaosrun", "lab", "up", "--no-provision", *options],
        capture_output=True, text=True, timeout=900, cwd=PROJECT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture
def behind_bastion(project: Project) -> Iterator[Project]:
    lab_up("--bastion")
    try:
        yield project
    finally:
        lab_up("--no-bastion")


def ssh_true(project: Project, host: str, through_bastion: bool) -> int:
    lab = dataclasses.replace(project.lab.config, bastion=True)
    paths = LabPaths.of(lab)
    address = next(h.address for h in lab.hosts() if h.name == host)
    jump = jump_options(lab, paths) if through_bastion else []
    argv = [*ssh_argv(paths, address, jump), "true"]
    done = subprocess.run(argv, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    return done.returncode


def test_abort_and_revert_go_through_the_bastion(behind_bastion: Project) -> None:
    project = behind_bastion
    assert ssh_true(project, "order-1", through_bastion=False) != 0, "direct SSH still works"
    assert ssh_true(project, "order-1", through_bastion=True) == 0
    path = project.experiment(
        "bastion",
        f"""\
title: Stop one order-service instance behind the bastion
targets: {{hosts: order_service, select: {{count: 1}}}}
fault:
  role: chaosrun.chaos.service_stop
  vars: {{service_stop_units: [{UNIT}]}}
duration: 120s
guardrails:
  interval: 1s
  probes:
    - name: breaches at once
      prometheus: vector(1)
      max: 0
recovery: {{within: 60s}}
""",
    )
    done = project.chaosrun("run", str(path), "--json", timeout=600)
    result = json.loads(done.stdout)
    journal = project.journal(result["run_id"])
    assert done.returncode == ABORTED, (done.stdout[-2000:], done.stderr[-3000:])
    assert "breaches at once" in journal["abort"]["reason"]
    answers = journal["rollback"]["revert_answers"]
    assert len(answers) == 1 and all(a["via"] == "shell" for a in answers.values()), answers
    assert journal["rollback"]["ok"] is True
    (host,) = answers
    assert project.lab.unit_active(host, UNIT), f"{UNIT} not active again on {host}"
    assert project.lab.active_dirs(host) == []
