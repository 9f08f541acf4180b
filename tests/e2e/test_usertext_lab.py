"""Text a user typed never runs as code, on the lab: `{{ lookup('pipe', 'touch ...') }}` in
a fault var (in the file; through `--set` it is refused), in a command probe, and in a runbook's
heading and prose leaves no marker on the controller or the hosts through validate,
plan, run, runbook compile + ansible-playbook --syntax-check, and drill; an endless Jinja
loop in a fault var costs nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    PROJECT,
    Project,
    project_fixture,
    safety_lab_fixture,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
LOOP = "{% for x in range(10**9) %}{% endfor %}"
HOSTS = ("order-1", "order-2", "order-3")


class Markers:
    """Files a hostile template would create: on the controller and, were the text run
    on a host, there too."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def template(self) -> str:
        path = f"/tmp/chaosrun-usertext-{uuid.uuid4().hex[:12]}"
        self.paths.append(path)
        return "{{ lookup('pipe', 'touch " + path + "') }}"

    def assert_none(self, project: Project) -> None:
        assert not [p for p in self.paths if Path(p).exists()], "a template ran on the controller"
        listing = " ".join(self.paths)
        for host in HOSTS:
            assert project.lab.on_host(host, f"ls {listing} 2>/dev/null") == "", host


def experiment(markers: Markers) -> str:
    return f"""\
title: Hostile text
targets: {{hosts: order_service, select: {{count: 1}}}}
fault:
  role: chaosrun.chaos.process_kill
  vars:
    process_kill_pidfile: "/run/chaosrun-none-{markers.template()}.pid{LOOP}"
duration: 5s
steady_state:
  - name: the command ran as text
    command:
      hosts: order-1
      cmd: "echo '{markers.template()}'"
      stdout: "lookup"
recovery: {{within: 30s}}
"""


def test_hostile_text_in_experiments_is_never_evaluated(project: Project) -> None:
    markers = Markers()
    exp = project.experiment("hostile", experiment(markers))
    validate = project.chaosrun("validate", str(exp))
    assert validate.returncode == 0, validate.stderr
    assert "fault.vars.process_kill_pidfile holds Jinja" in validate.stderr
    assert "steady_state[0].command.cmd holds Jinja" in validate.stderr
    plan = project.chaosrun("plan", str(exp))
    assert plan.returncode == 0, plan.stderr
    # An override may not change the fault's options at all: refused before anything runs,
    # its text not evaluated either.
    override = f"fault.vars.process_kill_pidfile=/run/none-{markers.template()}{LOOP}"
    refused = project.chaosrun("run", str(exp), "--set", override, "--json", timeout=120)
    assert refused.returncode == 2, refused.stderr
    assert "fault.vars.process_kill_pidfile: a value asked where" in refused.stderr
    started = time.monotonic()
    done = project.chaosrun("run", str(exp), "--json", timeout=300)
    elapsed = time.monotonic() - started
    result = json.loads(done.stdout)
    journal = project.journal(result["run_id"])
    # It got as far as the hosts (the steady state's command probe passed), in little time.
    assert any(p["name"] == "inject" for p in journal["phases"]), journal["phases"]
    assert elapsed < 120, elapsed
    assert journal["fault"]["vars"]["process_kill_pidfile"].endswith(LOOP)
    markers.assert_none(project)
    project.assert_no_active_fault()


def runbook(markers: Markers) -> str:
    return f"""\
---
fault:
  role: chaosrun.chaos.service_stop
  vars: {{service_stop_units: [order-service.service]}}
targets: {{hosts: order_service, select: {{count: 1}}}}
recovery: {{within: 60s}}
---

# Hostile runbook

## Look at it {markers.template()}

Read this {markers.template()} and act.

## Restart it

```chaosrun
hosts: order_service
become: true
tasks:
  - name: Start order-service
    ansible.builtin.systemd_service:
      name: order-service.service
      state: started
```
"""


def test_hostile_text_in_runbooks_is_never_evaluated(project: Project, tmp_path: Path) -> None:
    markers = Markers()
    book = tmp_path / "hostile.md"
    book.write_text(runbook(markers))
    check = project.chaosrun("runbook", "check", str(book))
    assert check.returncode == 0, check.stderr
    assert check.stderr.count("holds Jinja") == 2, check.stderr
    compiled = tmp_path / "hostile.yml"
    assert project.chaosrun("runbook", "compile", str(book), "-o", str(compiled)).returncode == 0
    syntax = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check",
         "-i", str(project.lab.inventory), str(compiled)],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg")},
    )  # fmt: skip
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    done = project.chaosrun("drill", str(book), "--auto-ack", "--json", timeout=600)
    result = json.loads(done.stdout)
    assert done.returncode == 0, (result, done.stderr[-3000:])
    markers.assert_none(project)
    project.assert_no_active_fault()
