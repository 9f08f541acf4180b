"""The lab's Prometheus: generated config (1 s scrapes of every host), run as a process.

Jobs and labels are part of the lab's interface: `node` on every host, the services,
HAProxy, the PostgreSQL exporter and the traffic generator, each target labelled with
`instance` and `host` (the lab host name) and `zone`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from chaosrun.base.paths import lab_root
from chaosrun.lab import api, webauth
from chaosrun.lab import topology as t
from chaosrun.lab.processes import Spec
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig
from chaosrun.lab.webauth import WebFiles

SCRAPE_INTERVAL = "1s"
RETENTION = "2d"
# job -> (host group, port); an empty group means a controller-side target.
JOBS: dict[str, tuple[str, int]] = {
    "node": ("", t.NODE_EXPORTER_PORT),
    "order_service": ("order_service", t.APP_PORT),
    "payment_service": ("payment_service", t.APP_PORT),
    "haproxy": ("lb", t.LB_STATS_PORT),
    "postgres": ("db", t.POSTGRES_EXPORTER_PORT),
}


def rules_glob(root: Path | None = None) -> str:
    return str((root or lab_root()) / "etc" / "lab" / "alerts" / "*.yml")


def static_configs(lab: LabConfig, job: str) -> list[dict[str, Any]]:
    group, port = JOBS[job]
    return [
        {
            "targets": [f"{h.address}:{port}"],
            "labels": {"instance": h.name, "host": h.name, "zone": h.zone},
        }
        for h in lab.hosts()
        if not group or group in h.groups
    ]


def config(lab: LabConfig, root: Path | None = None) -> dict[str, Any]:
    jobs = [{"job_name": job, "static_configs": static_configs(lab, job)} for job in JOBS]
    jobs.append(
        {
            "job_name": "traffic",
            "static_configs": [
                {
                    "targets": [f"127.0.0.1:{lab.traffic_port}"],
                    "labels": {"instance": "traffic", "host": "controller", "zone": "controller"},
                }
            ],
        }
    )
    return {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
            "external_labels": {"lab": lab.name},
        },
        "rule_files": [rules_glob(root)],
        "alerting": {"alertmanagers": [alertmanager_client(lab)]},
        "scrape_configs": jobs,
    }


def alertmanager_client(lab: LabConfig) -> dict[str, Any]:
    """Prometheus sends alerts the way every other client reaches Alertmanager: HTTPS
    checked against the lab's CA, with the lab's credentials."""
    files = WebFiles.of(LabPaths.of(lab))
    return {
        "scheme": "https",
        "tls_config": {"ca_file": str(files.ca)},
        "basic_auth": {"username": webauth.USERNAME, "password_file": str(files.password)},
        "static_configs": [{"targets": [f"127.0.0.1:{lab.alertmanager_port}"]}],
    }


def render(lab: LabConfig, root: Path | None = None) -> str:
    return "# Written by `chaosrun lab up`.\n" + yaml.safe_dump(config(lab, root), sort_keys=False)


def spec(lab: LabConfig, paths: LabPaths) -> Spec:
    home = paths.service_dir("prometheus")
    return Spec(
        name="prometheus",
        argv=(
            shutil.which("prometheus") or "prometheus",
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--storage.tsdb.retention.time={RETENTION}",
            f"--web.listen-address=127.0.0.1:{lab.prometheus_port}",
            f"--web.external-url={lab.prometheus_url}",
            "--web.enable-lifecycle",
            f"--web.config.file={WebFiles.of(paths).web_config}",  # HTTPS, basic auth
        ),
    )


def ready(lab: LabConfig) -> bool:
    return api.ready(api.prometheus(lab))


def reload(lab: LabConfig) -> None:
    api.post(api.prometheus(lab), "/-/reload")


def targets(lab: LabConfig) -> list[dict[str, Any]]:
    """Active targets as Prometheus sees them: job, instance, health, last error."""
    data = api.get_json(api.prometheus(lab), "/api/v1/targets", {"state": "active"})
    return [
        {
            "job": tgt["labels"].get("job", ""),
            "instance": tgt["labels"].get("instance", ""),
            "address": tgt.get("scrapeUrl", ""),
            "health": tgt.get("health", "unknown"),
            "error": tgt.get("lastError", ""),
        }
        for tgt in data["data"]["activeTargets"]
    ]
