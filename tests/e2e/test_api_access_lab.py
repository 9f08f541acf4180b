"""Runs against the lab's HTTPS Prometheus with basic auth (its own web config file): the
lab's CA and credentials pass; a wrong CA, a wrong password or no credentials leave
Prometheus not ready, which is UNKNOWN: the run is refused before inject (exit 4) with
one line naming the URL; `insecure_skip_verify` works and `plan` warns about it. Every
run here ends before inject, so the file is fast and touches no host."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    Project,
    project_fixture,
    safety_lab_fixture,
)

from chaosrun.lab import webauth
from chaosrun.lab.state import LabPaths

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
REFUSED = 4


def experiment(project: Project, name: str, access: str = "") -> Path:
    """A fault that never starts: its steady state holds one passing and one breaching
    probe, so a run shows that Prometheus answered and then stops before inject."""
    block = f"prometheus:\n  timeout: 5s\n{access}" if access else ""
    return project.experiment(
        name,
        f"""\
title: Reach the lab's Prometheus
targets: {{hosts: order_service, select: {{count: 1}}}}
fault:
  role: chaosrun.chaos.service_stop
  vars: {{service_stop_units: [order-service.service]}}
duration: 10s
{block}
steady_state:
  - name: answers
    prometheus: vector(1)
    min: 1
  - name: never holds
    prometheus: vector(1)
    max: 0
""",
    )


def run(project: Project, path: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = project.chaosrun("run", str(path), "--json", timeout=300)
    result = json.loads(done.stdout)
    journal = project.journal(result["run_id"])
    assert "inject" not in [p["name"] for p in journal["phases"]], "the fault was injected"
    assert done.returncode == REFUSED, (done.stdout[-2000:], done.stderr[-2000:])
    return done, journal


def verdicts(journal: dict[str, Any]) -> dict[str, str]:
    """Each probe's last verdict (UNKNOWN when preflight's readiness check, which sees
    the same failure first, refused the run before any probe was sampled)."""
    return {
        p["name"]: p["samples"][-1]["verdict"] if p["samples"] else "UNKNOWN"
        for p in journal["probes"]
    }


def lab_files(project: Project) -> webauth.WebFiles:
    return webauth.WebFiles.of(LabPaths.of(project.lab.config))


def test_lab_credentials_pass_and_stay_out_of_the_run(project: Project) -> None:
    done, journal = run(project, experiment(project, "right"))
    assert verdicts(journal) == {"answers": "PASS", "never holds": "BREACH"}
    password = webauth.read_password(lab_files(project))
    run_dir = project.run_dir / journal["run_id"]
    leaks = [p for p in run_dir.rglob("*") if p.is_file() and password in p.read_text("latin-1")]
    assert leaks == [] and password not in done.stdout + done.stderr
    assert project.audit_log.is_file() and password not in project.audit_log.read_text()


def _other_ca(directory: Path) -> Path:
    ca = directory / "other-ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=not the lab's CA",
         "-keyout", str(directory / "other-ca.key"), "-out", str(ca)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return ca


@pytest.mark.parametrize(
    "case, reason",
    [
        ("wrong_ca", "TLS certificate not trusted"),
        ("wrong_password", "HTTP 401 unauthorized"),
        ("no_credentials", "HTTP 401 unauthorized"),
    ],
)
def test_bad_access_is_unknown_and_refused_before_inject(
    project: Project, case: str, reason: str
) -> None:
    files = lab_files(project)
    wrong = project.root / "wrong-password"
    wrong.write_text("not-the-password\n")
    auth = f"  basic_auth: {{username: {webauth.USERNAME}, password_file: {files.password}}}\n"
    access = {
        "wrong_ca": f"  ca_file: {_other_ca(project.root)}\n{auth}",
        "wrong_password": f"  ca_file: {files.ca}\n"
        f"  basic_auth: {{username: {webauth.USERNAME}, password_file: {wrong}}}\n",
        "no_credentials": f"  ca_file: {files.ca}\n",
    }[case]
    done, journal = run(project, experiment(project, case, access))
    assert set(verdicts(journal).values()) == {"UNKNOWN"}, verdicts(journal)
    url = project.lab.config.prometheus_url
    lines = [line for line in done.stderr.splitlines() if reason in line]
    assert lines and url in lines[0], done.stderr[-2000:]
    assert reason in json.dumps(journal["phases"]), journal["phases"]


def test_insecure_skip_verify_works_and_plan_warns(project: Project) -> None:
    files = lab_files(project)
    access = (
        "  insecure_skip_verify: true\n"
        f"  basic_auth: {{username: {webauth.USERNAME}, password_file: {files.password}}}\n"
    )
    path = experiment(project, "skip", access)
    plan = project.chaosrun("plan", str(path))
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert "insecure_skip_verify is true" in plan.stdout + plan.stderr
    _, journal = run(project, path)
    assert verdicts(journal) == {"answers": "PASS", "never holds": "BREACH"}
