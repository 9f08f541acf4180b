"""The lab for real: hosts over SSH, Prometheus scraping them, Alertmanager paging the webhook,
`lab up` idempotent, and `lab down` leaving nothing behind (on a lab of its own, so the
session lab stays up for the other tests)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, LabHandle, lab_env, run_lab, up_options

from chaosrun.lab import api, processes, state
from chaosrun.lab.controller import ORDER
from chaosrun.lab.inventory import inventory_path
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig

pytestmark = pytest.mark.lab
PODMAN_ENV = {**os.environ, "CONTAINERS_CONF": str(PROJECT / "etc" / "containers.conf")}


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def podman(*args: str) -> str:
    done = subprocess.run(
        ["podman", *args], env=PODMAN_ENV, capture_output=True, text=True, check=True
    )
    return done.stdout


def containers(name: str) -> dict[str, str]:
    """Container name -> id of a lab's containers."""
    out = podman("ps", "-a", "--filter", f"label=chaosrun.lab={name}", "--format", "json")
    return {c["Names"][0]: c["Id"] for c in json.loads(out or "[]")}


def pids(paths: LabPaths) -> dict[str, int]:
    found = {}
    for name in ORDER:
        running = processes.read(paths, name)
        if running and running.alive:
            found[name] = running.pid
    return found


def test_ansible_pings_every_host_over_ssh(lab: LabHandle) -> None:
    env = {
        **lab_env(lab.config),
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.minimal",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
    }
    ansible = str(Path(sys.executable).parent / "ansible")
    done = subprocess.run(
        [ansible, "-i", str(lab.inventory), "all", "-m", "ansible.builtin.ping"],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    # minimal callback: "<host> | SUCCESS => {...json...}" per host
    verdicts = dict(re.findall(r"^(\S+) \| (\S+) =>", done.stdout, re.MULTILINE))
    assert verdicts == {h.name: "SUCCESS" for h in lab.config.hosts()}
    assert done.stdout.count('"ping": "pong"') == len(lab.config.hosts())


def test_prometheus_sees_every_node_exporter_up(lab: LabHandle) -> None:
    data = api.get_json(lab.prometheus, "/api/v1/query", {"query": 'up{job="node"}'})
    assert data["status"] == "success"
    values = {r["metric"]["instance"]: r["value"][1] for r in data["data"]["result"]}
    assert values == {h.name: "1" for h in lab.config.hosts()}
    zones = {r["metric"]["instance"]: r["metric"]["zone"] for r in data["data"]["result"]}
    assert zones == {h.name: h.zone for h in lab.config.hosts()}


def test_alertmanager_pages_the_webhook(lab: LabHandle) -> None:
    marker = f"ChaosrunLabTest{int(time.time() * 1000)}"
    alert = [{"labels": {"alertname": marker, "severity": "test"}}]
    api.post(lab.alertmanager, "/api/v2/alerts", alert)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pages = get_json(f"{lab.webhook_url}/notifications")
        names = [
            a["labels"]["alertname"]
            for p in pages
            if p["path"] == "/alertmanager" and isinstance(p["body"], dict)
            for a in p["body"].get("alerts", [])
        ]
        if marker in names:
            return
        time.sleep(1)
    pytest.fail(f"alert {marker} never reached the webhook receiver")


def test_lab_ssh_runs_a_command_on_a_host(lab: LabHandle) -> None:
    done = run_lab(lab.config, "ssh", "order-1", "--", "hostname", timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "order-1"
    bad = run_lab(lab.config, "ssh", "nope", timeout=60)
    assert bad.returncode == 1
    assert "no host 'nope'" in bad.stderr


def test_status_reports_a_healthy_lab(lab: LabHandle) -> None:
    done = run_lab(lab.config, "status", "--json", timeout=120)
    report = json.loads(done.stdout)
    failing = [c for c in report["checks"] if not c["ok"]]
    if "provisioned" in state.load_state(lab.paths):
        assert done.returncode == 0 and report["healthy"], failing
    else:  # CHAOSRUN_LAB_NO_PROVISION=1: no services, so only the lab's own parts count
        own = [
            c for c in failing if c["group"] in ("hosts", "controller") or c["name"] == "job node"
        ]
        assert not own, own
    assert {h["name"] for h in report["hosts"]} == {h.name for h in lab.config.hosts()}
    assert all(h["systemd"] in ("running", "degraded") for h in report["hosts"])
    assert {p["name"] for p in report["processes"] if p["running"]} >= {
        "prometheus",
        "alertmanager",
        "webhook",
    }


def test_lab_up_twice_changes_nothing(lab: LabHandle) -> None:
    before = (containers(lab.config.name), pids(lab.paths), lab.inventory.stat().st_mtime_ns)
    done = run_lab(lab.config, "up", *up_options())
    assert done.returncode == 0, done.stderr[-2000:]
    assert "already up" in done.stderr
    after = (containers(lab.config.name), pids(lab.paths), lab.inventory.stat().st_mtime_ns)
    assert after == before


def kill_behind_podmans_back(container: str) -> None:
    """SIGKILL a container's monitor, then its init: podman keeps reporting it running."""
    init, conmon = (
        int(n)
        for n in podman(
            "inspect", container, "--format", "{{.State.Pid}} {{.State.ConmonPid}}"
        ).split()
    )
    os.kill(conmon, 9)
    os.kill(init, 9)
    assert podman("inspect", container, "--format", "{{.State.Status}}").strip() == "running"


def other_lab(session: LabConfig) -> LabConfig:
    """A small lab beside the session's: its own name, subnet and ports."""
    net = ipaddress.ip_network(session.subnet)
    octets = str(net.network_address).split(".")
    octets[2] = str((int(octets[2]) + 100) % 256)
    return LabConfig(
        name=f"{session.name}-ud"[:20],
        subnet=f"{'.'.join(octets)}/24",
        port_base=session.port_base + 10,
        order_hosts=1,
    )


def assert_gone(config: LabConfig, pids_before: dict[str, int]) -> None:
    assert containers(config.name) == {}
    networks = podman("network", "ls", "--format", "{{.Name}}").split()
    assert config.network not in networks
    for name, pid in pids_before.items():
        assert processes.cmdline(pid) is None, f"{name} (pid {pid}) still runs"
    assert not LabPaths.of(config).root.exists()
    assert not inventory_path(config, PROJECT).exists()


def test_up_recovers_a_killed_lab_and_down_leaves_nothing(lab: LabHandle) -> None:
    config = other_lab(lab.config)
    run_lab(config, "down")  # a leftover of an interrupted earlier session
    paths = LabPaths.of(config)
    try:
        up = run_lab(config, "up", "--no-provision")
        assert up.returncode == 0, up.stderr[-2000:]
        first = pids(paths)
        assert set(first) >= {"prometheus", "alertmanager", "webhook"}
        # A killed lab: controller processes gone, a host stopped, and a host killed the
        # way a machine's wholesale process kill does it (podman still says "running").
        for pid in first.values():
            os.kill(pid, 9)
        podman("stop", "--time", "0", config.container("lb-1"))
        kill_behind_podmans_back(config.container("db-1"))
        again = run_lab(config, "up", "--no-provision")
        assert again.returncode == 0, again.stderr[-2000:]
        assert "lb-1" in again.stderr and "db-1" in again.stderr
        second = pids(paths)
        assert set(second) == set(first) and not set(second.values()) & set(first.values())
        # A lost state directory: the processes run on, no pid file knows them.
        recorded = state.load_state(paths)
        assert recorded["name"] == config.name
        subprocess.run(["rm", "-rf", str(paths.root)], check=True)
        down = run_lab(config, "down")
        assert down.returncode == 0, down.stderr[-2000:]
        assert_gone(config, second)
        twice = run_lab(config, "down")
        assert twice.returncode == 1
        assert "already down" in twice.stderr
    finally:
        run_lab(config, "down")
