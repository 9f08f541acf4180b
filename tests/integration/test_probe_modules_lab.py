"""The collection's probe modules against the lab's real Prometheus and Alertmanager,
run by ansible-playbook from the project (as compiled runbooks and AWX jobs run them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chaosrun.lab import webauth
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig

PROJECT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab


def probe(tmp_path: Path, module: str, args: dict[str, Any]) -> dict[str, Any]:
    play = tmp_path / "probe.yml"
    play.write_text(
        json.dumps(
            [
                {
                    "name": "Probe",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Run the probe",
                            f"chaosrun.chaos.{module}": {**args, "fail_on": []},
                            "register": "out",
                        },
                        {
                            "name": "Keep the result",
                            "ansible.builtin.copy": {
                                "content": "{{ out | to_json }}",
                                "dest": str(tmp_path / "out.json"),
                                "mode": "0600",
                            },
                        },
                    ],
                }
            ]
        )
    )
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(play)],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        env={"ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"),
             "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"},
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads((tmp_path / "out.json").read_text())


@pytest.fixture(scope="module")
def lab() -> LabConfig:
    cfg = LabConfig.from_env()
    up = subprocess.run(
        [sys.executable, "-m", "chaosrun", "lab", "up"],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=1800,
    )
    if up.returncode != 0:
        pytest.fail(f"chaosrun lab up failed: {up.stderr[-2000:]}")
    return cfg


def test_prometheus_probe_reads_the_lab(lab: LabConfig, tmp_path: Path) -> None:
    hosts = len(lab.hosts())
    # The lab's HTTPS and basic auth, as its inventory names them (lab_prometheus_access).
    server = {"url": lab.prometheus_url, "access": webauth.access_block(LabPaths.of(lab))}
    query = 'count(up{job="node"})'  # one series per host, whatever its health
    out = probe(tmp_path, "prometheus_probe", {**server, "query": query, "min": hosts})
    assert out["verdict"] == "PASS" and out["value"] == hosts
    out = probe(tmp_path, "prometheus_probe", {**server, "query": 'up{job="node"}', "max": -1})
    assert out["verdict"] == "BREACH" and len(out["values"]) == hosts
    assert {v["labels"]["instance"] for v in out["values"]} == {h.name for h in lab.hosts()}
    out = probe(tmp_path, "prometheus_probe", {**server, "query": "no_such_metric_ever"})
    assert out["verdict"] == "UNKNOWN" and "empty result" in out["evidence"]
    out = probe(tmp_path, "prometheus_probe", {**server, "query": "sum(rate(up[1m]"})
    assert out["verdict"] == "UNKNOWN" and "error" in out["evidence"]


def test_alert_probe_reads_prometheus_and_alertmanager(lab: LabConfig, tmp_path: Path) -> None:
    access = webauth.access_block(LabPaths.of(lab))
    for args in (
        {"url": lab.prometheus_url, "access": access},
        {"url": lab.alertmanager_url, "api": "alertmanager", "access": access},
    ):
        out = probe(
            tmp_path,
            "alert_probe",
            {**args, "alertname": "InstanceDown", "labels": {"instance": "no-such-host"},
             "state": "not_firing"},
        )  # fmt: skip
        assert out["verdict"] == "PASS" and out["firing"] is False, out
        out = probe(tmp_path, "alert_probe", {**args, "alertname": "NoSuchAlert"})
        assert out["verdict"] == "BREACH" and out["firing"] is False


def test_http_probe_against_the_load_balancer(lab: LabConfig, tmp_path: Path) -> None:
    lb = next(h for h in lab.hosts() if h.name == "lb-1")
    out = probe(
        tmp_path,
        "http_probe",
        {"url": f"http://{lb.address}:8404/metrics", "body_regex": "haproxy_", "within": 30},
    )
    assert out["verdict"] == "PASS" and out["status"] == 200 and out["latency"] < 2
