"""Generated Prometheus and Alertmanager configs: jobs, labels, routing; checked by the
real promtool/amtool when they are installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from chaosrun.lab import alertmanager, prometheus
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig

LAB = LabConfig(name="unit", subnet="10.99.0.0/24", port_base=30000, order_hosts=3)


def targets(job: str) -> dict[str, dict[str, str]]:
    """address -> labels for one job."""
    cfg = prometheus.config(LAB, Path("/project"))
    job_cfg = next(j for j in cfg["scrape_configs"] if j["job_name"] == job)
    return {sc["targets"][0]: sc["labels"] for sc in job_cfg["static_configs"]}


def test_scrape_every_second_and_send_alerts_to_the_lab_alertmanager() -> None:
    cfg = prometheus.config(LAB, Path("/project"))
    assert cfg["global"]["scrape_interval"] == "1s"
    assert cfg["global"]["evaluation_interval"] == "1s"
    assert cfg["rule_files"] == ["/project/etc/lab/alerts/*.yml"]
    am = cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am == ["127.0.0.1:30003"]
    jobs = [j["job_name"] for j in cfg["scrape_configs"]]
    assert jobs == ["node", "order_service", "payment_service", "haproxy", "postgres", "traffic"]


def test_node_job_covers_every_host_with_its_labels() -> None:
    node = targets("node")
    assert len(node) == len(LAB.hosts())
    for host in LAB.hosts():
        labels = node[f"{host.address}:9100"]
        assert labels == {"instance": host.name, "host": host.name, "zone": host.zone}


def test_service_jobs_point_at_their_groups() -> None:
    assert set(targets("order_service")) == {f"10.99.0.{100 + i}:8000" for i in (1, 2, 3)}
    assert set(targets("payment_service")) == {"10.99.0.21:8000", "10.99.0.22:8000"}
    assert set(targets("haproxy")) == {"10.99.0.10:8404"}
    assert set(targets("postgres")) == {"10.99.0.11:9187", "10.99.0.12:9187"}
    assert set(targets("traffic")) == {"127.0.0.1:30005"}


def test_prometheus_binds_loopback_with_own_data_dir(tmp_path: Path) -> None:
    argv = prometheus.spec(LAB, LabPaths(tmp_path)).argv
    assert "--web.listen-address=127.0.0.1:30000" in argv
    assert f"--storage.tsdb.path={tmp_path / 'prometheus' / 'data'}" in argv
    assert "--web.enable-lifecycle" in argv


def test_alertmanager_routes_everything_to_the_webhook_without_clustering(
    tmp_path: Path,
) -> None:
    cfg = alertmanager.config(LAB)
    assert cfg["route"]["receiver"] == "webhook"
    assert "routes" not in cfg["route"]
    hook = cfg["receivers"][0]["webhook_configs"][0]
    assert hook["url"] == "http://127.0.0.1:30004/alertmanager"
    assert hook["send_resolved"] is True
    argv = alertmanager.spec(LAB, LabPaths(tmp_path)).argv
    assert "--cluster.listen-address=" in argv
    assert "--web.listen-address=127.0.0.1:30003" in argv


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool not installed")
def test_promtool_accepts_the_config(tmp_path: Path) -> None:
    path = tmp_path / "prometheus.yml"
    path.write_text(prometheus.render(LAB, tmp_path))
    done = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(not shutil.which("amtool"), reason="amtool not installed")
def test_amtool_accepts_the_config(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(alertmanager.render(LAB))
    done = subprocess.run(["amtool", "check-config", str(path)], capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert yaml.safe_load(path.read_text())["route"]["group_wait"] == "1s"
