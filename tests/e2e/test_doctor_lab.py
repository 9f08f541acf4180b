"""`chaosrun doctor -i` on the lab: the healthy lab holds everything (exit 0); with `tc`
renamed away on one host, doctor names that host and tc in one line and exits non-zero.
The rename is undone whatever happens."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import PROJECT, LabHandle, lab_env

pytestmark = [pytest.mark.lab, pytest.mark.e2e]

HOST = "order-2"


def on_host(lab: LabHandle, script: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(PROJECT / "etc" / "containers.conf")}
    return subprocess.run(
        ["podman", "exec", lab.config.container(HOST), "sh", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def doctor(lab: LabHandle, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaosrun", "doctor", "-i", str(lab.inventory), "--json", *args],
        capture_output=True,
        text=True,
        env=lab_env(lab.config),
        cwd=PROJECT,
        timeout=300,
    )


def test_doctor_on_the_lab(lab: LabHandle) -> None:
    healthy = doctor(lab)
    report = json.loads(healthy.stdout)
    assert healthy.returncode == 0, report["problems"]
    hosts = {c["where"] for c in report["checks"]} - {"controller"}
    assert hosts == {h.name for h in lab.config.hosts()}, hosts
    tc = on_host(lab, "command -v tc").stdout.strip()
    assert tc, "the lab host has no tc to begin with"
    moved = on_host(lab, f"mv {tc} {tc}.doctor-off")
    assert moved.returncode == 0, moved.stderr
    try:
        sick = doctor(lab, "--limit", "order_service")  # three hosts, one of them lacking
    finally:
        on_host(lab, f"mv {tc}.doctor-off {tc}")
    assert on_host(lab, "command -v tc").stdout.strip() == tc
    report = json.loads(sick.stdout)
    assert {c["where"] for c in report["checks"]} == {"controller", "order-1", HOST, "order-3"}
    assert sick.returncode == 1
    assert report["problems"] == [
        f"{HOST}: no tc; fix: install iproute2 (latency, loss and bandwidth faults use tc)"
    ]
