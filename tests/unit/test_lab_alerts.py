"""The lab's alert rules, checked and exercised with promtool on synthetic series (1 s
steps, as the lab scrapes): each alert fires on its symptom and stays quiet otherwise."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RULES = Path(__file__).resolve().parents[2] / "etc" / "lab" / "alerts"
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool (package prometheus) missing")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


def test_rule_files_are_valid() -> None:
    files = sorted(str(p) for p in RULES.glob("*.yml"))
    assert files
    done = promtool("check", "rules", *files)
    assert done.returncode == 0, done.stdout + done.stderr


def alert(name: str, at: str, firing: list[dict[str, str]]) -> dict:
    return {
        "eval_time": at,
        "alertname": name,
        "exp_alerts": [{"exp_labels": labels} for labels in firing],
    }


CASES = [
    {
        "interval": "1s",
        "input_series": [
            {"series": 'up{job="order_service",instance="order-2",zone="zone_b"}',
             "values": "1 1 0 0 0 0 0 0 0 0"},
            {"series": 'up{job="order_service",instance="order-1",zone="zone_a"}',
             "values": "1x10"},
        ],
        "alert_rule_test": [
            alert("InstanceDown", "3s", []),
            alert("InstanceDown", "8s", [{"severity": "page", "job": "order_service",
                                          "instance": "order-2", "zone": "zone_b"}]),
        ],
    },
    {
        "interval": "1s",
        "input_series": [
            {"series": 'lab_traffic_requests_total{outcome="ok"}', "values": "0+20x40"},
            {"series": 'lab_traffic_requests_total{outcome="error"}', "values": "0x20 0+5x20"},
        ],
        "alert_rule_test": [
            alert("HighErrorRatio", "15s", []),
            alert("HighErrorRatio", "35s", [{"severity": "page"}]),
        ],
    },
    {
        "interval": "1s",
        "input_series": [
            {"series": 'lab_traffic_request_duration_seconds_bucket{le="0.5"}',
             "values": "0+20x20 400x20"},
            {"series": 'lab_traffic_request_duration_seconds_bucket{le="5.0"}',
             "values": "0+20x40"},
            {"series": 'lab_traffic_request_duration_seconds_bucket{le="+Inf"}',
             "values": "0+20x40"},
        ],
        "alert_rule_test": [
            alert("HighLatencyP99", "15s", []),
            alert("HighLatencyP99", "38s", [{"severity": "page"}]),
        ],
    },
    {
        "interval": "1s",
        "input_series": [
            {"series": 'pg_replication_lag_seconds{job="postgres",instance="db-2",zone="zone_a"}',
             "values": "0x10 1+1x20"},
            {"series": 'pg_replication_slots_pg_wal_lsn_diff{job="postgres",instance="db-1",'
                       'zone="zone_b",slot_name="db_2"}', "values": "0x30"},
        ],
        "alert_rule_test": [
            alert("ReplicationLag", "10s", []),
            alert("ReplicationLag", "25s", [{"severity": "page", "instance": "db-2",
                                             "zone": "zone_a"}]),
        ],
    },
    {
        # A scrape the exporter missed (a stale sample) must not resolve a lag that is
        # still there and page again a few seconds later.
        "interval": "1s",
        "input_series": [
            {"series": 'pg_replication_lag_seconds{job="postgres",instance="db-2",zone="zone_a"}',
             "values": "0x10 6x5 stale 6x10"},
        ],
        "alert_rule_test": [
            alert("ReplicationLag", "19s", [{"severity": "page", "instance": "db-2",
                                             "zone": "zone_a"}]),
        ],
    },
    {
        "interval": "1s",
        "input_series": [
            {"series": 'node_filesystem_avail_bytes{job="node",instance="db-1",mountpoint="/data"}',
             "values": "50x5 5x10"},
            {"series": 'node_filesystem_size_bytes{job="node",instance="db-1",mountpoint="/data"}',
             "values": "100x15"},
        ],
        "alert_rule_test": [
            alert("DiskAlmostFull", "4s", []),
            alert("DiskAlmostFull", "14s", [{"severity": "ticket", "job": "node",
                                             "instance": "db-1", "mountpoint": "/data"}]),
        ],
    },
    {
        # chaosrun's recording rule: hosts under each run's fault, gone with the fault.
        "interval": "1s",
        "input_series": [
            {"series": 'chaosrun_fault_active{job="node",instance="order-1",run_id="r1",'
                       'experiment="Kill one",role="service_stop"}', "values": "1x5 stale"},
            {"series": 'chaosrun_fault_active{job="node",instance="order-2",run_id="r1",'
                       'experiment="Kill one",role="service_stop"}', "values": "_x2 1x3 stale"},
        ],
        "promql_expr_test": [
            {"expr": "chaosrun:fault_active:count", "eval_time": "4s",
             "exp_samples": [{"labels": 'chaosrun:fault_active:count{run_id="r1",'
                              'experiment="Kill one",role="service_stop"}', "value": 2}]},
            {"expr": "chaosrun:fault_active:count", "eval_time": "8s", "exp_samples": []},
        ],
    },
]  # fmt: skip


def without_annotations(tmp_path: Path) -> list[str]:
    """The rule files minus annotations: the cases check expressions, `for` and labels."""
    out = []
    for path in sorted(RULES.glob("*.yml")):
        rules = yaml.safe_load(path.read_text())
        for group in rules["groups"]:
            for rule in group["rules"]:
                rule.pop("annotations", None)
        copy = tmp_path / path.name
        copy.write_text(yaml.safe_dump(rules))
        out.append(str(copy))
    return out


def test_each_alert_fires_on_its_symptom_only(tmp_path: Path) -> None:
    spec = {
        "rule_files": without_annotations(tmp_path),
        "evaluation_interval": "1s",
        "tests": CASES,
    }
    test_file = tmp_path / "alerts_test.yml"
    test_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    done = promtool("test", "rules", str(test_file))
    assert done.returncode == 0, done.stdout + done.stderr
