"""No fault outlives its controller: SIGKILL, `recover`, and a cut control connection.

The lease is LEASE_TTL seconds (the test project's chaosrun.yml); the experiment is meant
to last ten minutes, so only the lease can explain a fast revert.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    LEASE_TTL,
    Project,
    kill_group,
    project_fixture,
    safety_lab_fixture,
    stop_one_order,
)

from chaosrun.lab import api

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
UNIT = "order-service.service"


def _inject(project: Project, name: str):
    exp = project.experiment(name, stop_one_order(duration="600s"))
    proc = project.start("run", str(exp), "-i", str(project.lab.inventory))
    run_id, journal = project.wait_for_phase(proc, "observe")
    (host,) = journal["targets"]["selected"]
    assert not project.lab.unit_active(host, UNIT), "the fault is not observable"
    assert project.lab.active_dirs(host) == [run_id]
    return proc, run_id, host


def _query(project: Project, expr: str) -> list[dict]:
    return api.query(project.lab.config, expr, timeout=10)


def fault_metric(project: Project, run_id: str) -> list[tuple[str, str, str, str, float]]:
    """`chaosrun_fault_active` of the run in the lab's Prometheus, as last scraped within
    20 s (one scrape of a busy host may time out): (instance, run_id, role, experiment,
    value) per series."""
    found = []
    for series in _query(
        project, f'last_over_time(chaosrun_fault_active{{run_id="{run_id}"}}[20s])'
    ):
        labels = series["metric"]
        found.append(
            (
                labels.get("instance", ""),
                labels.get("run_id", ""),
                labels.get("role", ""),
                labels.get("experiment", ""),
                float(series["value"][1]),
            )
        )
    return sorted(found)


def metric_gone(project: Project, run_id: str, host: str) -> bool:
    """The host's node_exporter answered its last scrape without the run's metric (a failed
    scrape, which also drops the series, proves nothing)."""
    expr = (
        f'up{{job="node", instance="{host}"}} == 1 '
        f'unless on(instance) chaosrun_fault_active{{run_id="{run_id}"}}'
    )
    return bool(_query(project, expr))


def faults_on(project: Project, host: str) -> list[tuple[str, str, str]]:
    """(host, run_id, role) of the faults `chaosrun status` reads from the hosts; `host`
    must have answered (another host too busy to answer only makes status exit 1)."""
    done = project.chaosrun("status", "-i", str(project.lab.inventory), "--json", timeout=180)
    state = json.loads(done.stdout)
    assert host not in [u["host"] for u in state["unreachable"]], state["unreachable"]
    return [(f["host"], f["run_id"], f["role"]) for f in state["faults"]]


def wait_for_metric(project: Project, run_id: str, host: str, present: bool, within: float = 60):
    """The run's metric once it shows (present) or once the host shows it gone; [] for gone."""
    deadline = time.monotonic() + within
    while True:
        found = fault_metric(project, run_id) if present else []
        if (present and found) or (not present and metric_gone(project, run_id, host)):
            return found
        if time.monotonic() > deadline:
            return found if present else fault_metric(project, run_id) or ["still there"]
        time.sleep(0.5)


def test_sigkill_leaves_the_fault_for_at_most_one_lease(project: Project):
    proc, run_id, host = _inject(project, "sigkill")
    # While the fault holds, the host's node_exporter shows it, as `status` does.
    metric = wait_for_metric(project, run_id, host, present=True)
    assert metric == [(host, run_id, "service_stop", "Stop one order-service instance", 1.0)]
    assert faults_on(project, host) == [m[:3] for m in metric]
    kill_group(proc, signal.SIGKILL)
    killed = time.time()
    proc.wait(10)
    # Poll with slack for a busy machine (each look is a podman exec), then judge by the
    # time the host itself wrote when its dead-man finished the revert (same clock).
    while project.lab.active_dirs(host) and time.time() - killed < LEASE_TTL + 60:
        time.sleep(0.5)
    assert project.lab.active_dirs(host) == [], f"still active {time.time() - killed:.1f}s after"
    assert project.lab.unit_active(host, UNIT)
    history = json.loads(project.lab.on_host(host, "tail -n 1 /var/lib/chaosrun/history.jsonl"))
    assert (history["by"], history["run_id"], history["ok"]) == ("deadman", run_id, True)
    reverted_after = history["at"] - killed  # the host writes whole seconds
    assert reverted_after <= LEASE_TTL + 5, f"reverted {reverted_after:.1f}s after the kill"
    # The dead-man ran the one revert script, which took the fault off the dashboards too.
    assert wait_for_metric(project, run_id, host, present=False) == []
    project.assert_no_active_fault()


def test_recover_right_after_a_kill_reverts_at_once(project: Project):
    # A lease far longer than `status` + `recover` take even on a busy machine, so what
    # reverts the fault can only be `recover` (it never waits for the lease).
    project.write_config(lease={"ttl": "600s", "renew_every": "5s", "max_ttl": "600s"})
    proc, run_id, host = _inject(project, "recover")
    kill_group(proc, signal.SIGKILL)
    proc.wait(10)
    # `status` reads the hosts: the fault is there, its controller dead, so orphaned.
    faults = project.status()["faults"]
    assert [(f["host"], f["run_id"], f["controller_alive"], f["orphaned"]) for f in faults] == [
        (host, run_id, False, True)
    ]
    started = time.monotonic()
    done = project.chaosrun("recover", "-i", str(project.lab.inventory), "--run", run_id)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert f"{host}/service_stop: reverted" in done.stdout
    # Well inside one lease: it was recover, not the dead-man.
    assert project.lab.active_dirs(host) == []
    assert project.lab.unit_active(host, UNIT)
    history = project.lab.on_host(host, "tail -n 1 /var/lib/chaosrun/history.jsonl")
    assert '"by": "recover"' in history, (history, took)
    (entry,) = [e for e in project.audit() if e["action"] == "recover"]
    assert entry["run_id"] == run_id and entry["outcome"] == "recovered"
    assert entry["targets"] == [host]
    project.assert_no_active_fault()


SLOW_LOOK = """\
  probes:
    - name: a slow look at the order hosts
      command: {hosts: order_service, cmd: "sleep 3"}
"""


def _playing(pid: int) -> bool:
    """Whether the controller `pid` has an ansible-playbook child running a play."""
    for entry in Path("/proc").iterdir():
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if f"\nPPid:\t{pid}\n" in status and b"ansible-playbook" in cmdline:
            return True
    return False


def test_a_controller_killed_mid_play_leaves_no_secret_after_recover(project: Project):
    """The operator's shell holds the Prometheus password and a PagerDuty key (both named
    by chaosrun.yml), webhook URLs with a token, and a token chaosrun knows nothing of. A
    controller killed while a probe's play runs cuts nothing itself: the plays were never
    handed the named secrets, and `recover` cuts the rest from the records it left."""
    lab = project.lab
    access = lab.prometheus  # the lab's CA and its real password
    named = {
        "PROMETHEUS_PASSWORD": str(access.password),
        "PD_ROUTING_KEY": "pd-routing-key-4c1f9e",
        "CHAOSRUN_WEBHOOKS": "http://127.0.0.1:9/hooks/webhook-token-77ad01",
    }
    unnamed = {"OPS_VAULT_TOKEN": "ops-vault-token-19b3e2"}
    project.write_config(
        lease={"ttl": "600s", "renew_every": "5s", "max_ttl": "600s"},
        prometheus={
            "url": lab.config.prometheus_url,
            "ca_file": str(access.ca_file),
            "basic_auth": {"username": "chaosrun", "password_env": "PROMETHEUS_PASSWORD"},
        },
        notifications={
            "webhooks": [
                {
                    "url": "http://127.0.0.1:9/pd",
                    "format": "pagerduty",
                    "routing_key_env": "PD_ROUTING_KEY",
                }
            ]
        },
    )
    os.environ.update(named | unnamed)  # the shell chaosrun is started from
    try:
        exp = project.experiment(
            "mid-play",
            stop_one_order().replace(
                "guardrails: {interval: 1s}", f"guardrails:\n  interval: 1s\n{SLOW_LOOK}"
            ),
        )
        proc = project.start("run", str(exp), "-i", str(lab.inventory))
    finally:
        for name in named | unnamed:
            del os.environ[name]
    run_id, _ = project.wait_for_phase(proc, "observe")
    deadline = time.monotonic() + 60
    while not _playing(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _playing(proc.pid), "no probe play ran during observe"
    kill_group(proc, signal.SIGKILL)
    proc.wait(10)
    time.sleep(4)  # the orphaned play ends (its output pipe is gone) or finishes its sleep
    run_path = project.run_dir / run_id
    left = {n for n, v in (named | unnamed).items() if files_holding(project.root, v)}
    assert left == {"OPS_VAULT_TOKEN"}, left  # an uncut record: the play never had the rest
    done = project.chaosrun("recover", "-i", str(lab.inventory), "--run", run_id)
    assert done.returncode == 0, done.stderr
    for name, value in (named | unnamed).items():
        assert files_holding(project.root, value) == [], name
    assert not list(run_path.rglob("*.vars.yml"))
    (entry,) = [e for e in project.audit() if e["action"] == "recover"]
    assert entry["swept_runs"] == [run_id]
    project.assert_no_active_fault()


def files_holding(root: Path, text: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and text in p.read_text(errors="replace")]


PARTITION = """\
title: Isolate one order-service host, control connection included
targets:
  hosts: order_service
  select: {count: 1}
  exclude: [order-2, order-3]
fault:
  role: chaosrun.chaos.network_partition
  vars: {network_partition_exempt_controller: false}
duration: 600s
guardrails: {interval: 1s}
recovery: {within: 60s}
"""


def test_cut_control_connection_host_reverts_by_its_timer(project: Project):
    """A partition that includes the control connection: the controller can neither renew
    the lease nor roll back; the host reverts itself by its dead-man timer."""
    exp = project.experiment("partition", PARTITION)
    proc = project.start("run", str(exp), "-i", str(project.lab.inventory))
    lab = project.lab
    deadline = time.monotonic() + 240
    while "chaosrun:" not in lab.on_host("order-1", "iptables-save"):
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "the partition never showed on the host"
        time.sleep(0.5)
    cut = time.monotonic()
    (run_id,) = lab.active_dirs("order-1")
    while lab.active_dirs("order-1") and time.monotonic() - cut < LEASE_TTL + 15:
        time.sleep(0.5)
    reverted_after = time.monotonic() - cut
    assert lab.active_dirs("order-1") == [], "the host did not revert by itself"
    # One lease after the last renewal that got through, plus the dead-man's 1 s accuracy.
    assert reverted_after <= LEASE_TTL + 15, reverted_after
    assert "chaosrun:" not in lab.on_host("order-1", "iptables-save")
    history = lab.on_host("order-1", "tail -n 1 /var/lib/chaosrun/history.jsonl")
    assert '"by": "deadman"' in history and run_id in history
    # The controller lost the host while the fault was active: never a success.
    assert proc.wait(300) in (3, 5)
    project.assert_no_active_fault()
