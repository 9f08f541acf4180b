"""The lab's Alertmanager: a single instance (clustering off) routing every alert to the
webhook receiver, with short group timers so a drill sees its page within seconds."""

from __future__ import annotations

import shutil
from typing import Any

import yaml

from chaosrun.lab.processes import Spec
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig
from chaosrun.lab.webauth import WebFiles


def config(lab: LabConfig) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "webhook",
            "group_by": ["alertname", "instance"],
            "group_wait": "1s",
            "group_interval": "5s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "webhook",
                "webhook_configs": [
                    {
                        "url": f"http://127.0.0.1:{lab.webhook_port}/alertmanager",
                        "send_resolved": True,
                    }
                ],
            }
        ],
    }


def render(lab: LabConfig) -> str:
    return "# Written by `chaosrun lab up`.\n" + yaml.safe_dump(config(lab), sort_keys=False)


def spec(lab: LabConfig, paths: LabPaths) -> Spec:
    home = paths.service_dir("alertmanager")
    return Spec(
        name="alertmanager",
        argv=(
            shutil.which("prometheus-alertmanager") or "prometheus-alertmanager",
            f"--config.file={home / 'alertmanager.yml'}",
            f"--storage.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{lab.alertmanager_port}",
            f"--web.external-url={lab.alertmanager_url}",
            f"--web.config.file={WebFiles.of(paths).web_config}",  # HTTPS, basic auth
            "--cluster.listen-address=",  # empty: no gossip port, no peers
        ),
    )
