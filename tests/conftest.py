"""Shared fixtures. The lab is brought up once per pytest session (for tests that ask for
the `lab` fixture) and torn down at the end.

Which lab: CHAOSRUN_LAB_NAME / CHAOSRUN_LAB_SUBNET / CHAOSRUN_LAB_PORT_BASE /
CHAOSRUN_LAB_HOSTS (default: the lab "lab"). CHAOSRUN_KEEP_LAB=1 keeps the lab up after the
session and reuses a running one (`lab up` on a healthy lab changes nothing), for developers.
CHAOSRUN_LAB_NO_PROVISION=1 skips deploying the lab system (hosts and monitoring only), for
working on the lab itself on a busy machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaosrun.lab import api
from chaosrun.lab.inventory import inventory_path
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig
from chaosrun.model.apiaccess import ApiAccess

PROJECT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class LabHandle:
    """The running lab, as tests need it."""

    config: LabConfig
    inventory: Path
    paths: LabPaths

    @property
    def prometheus_url(self) -> str:
        return self.config.prometheus_url

    @property
    def alertmanager_url(self) -> str:
        return self.config.alertmanager_url

    @property
    def prometheus(self) -> ApiAccess:
        """How tests reach the lab's Prometheus: HTTPS checked against the lab's CA, with
        its credentials (chaosrun.lab.api.get_json/query/post take this)."""
        return api.prometheus(self.config)

    @property
    def alertmanager(self) -> ApiAccess:
        return api.alertmanager(self.config)

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.config.webhook_port}"

    @property
    def key(self) -> Path:
        return self.paths.key


def lab_env(config: LabConfig) -> dict[str, str]:
    """The environment that points chaosrun (and ansible) at this lab."""
    return {
        **os.environ,
        "CHAOSRUN_LAB_NAME": config.name,
        "CHAOSRUN_LAB_SUBNET": config.subnet,
        "CHAOSRUN_LAB_PORT_BASE": str(config.port_base),
        "CHAOSRUN_LAB_HOSTS": str(config.order_hosts),
        "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"),
        "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(PROJECT / "etc/containers.conf")),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def run_lab(config: LabConfig, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run `chaosrun lab ARGS` for this lab, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "chaosrun", "lab", *args],
        env=lab_env(config),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def up_options() -> list[str]:
    """`lab up` options for the session lab (CHAOSRUN_LAB_NO_PROVISION=1: hosts only)."""
    return ["--no-provision"] if os.environ.get("CHAOSRUN_LAB_NO_PROVISION") == "1" else []


@pytest.fixture(scope="session")
def lab() -> Iterator[LabHandle]:
    """The lab, up and healthy (hosts over SSH, Prometheus targets up) for the session."""
    config = LabConfig.from_env()
    keep = os.environ.get("CHAOSRUN_KEEP_LAB") == "1"
    up = run_lab(config, "up", *up_options())
    if up.returncode != 0:
        if not keep:
            run_lab(config, "down")
        pytest.fail(f"`chaosrun lab up` failed (exit {up.returncode}):\n{up.stderr[-3000:]}")
    try:
        yield LabHandle(config, inventory_path(config, PROJECT), LabPaths.of(config))
    finally:
        if not keep:
            down = run_lab(config, "down")
            assert down.returncode == 0, down.stderr[-2000:]


UNVERIFIED_LIST = Path(__file__).parent / "unverified.txt"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "unverified: written but not yet seen passing (see tests/unverified.txt)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests listed in tests/unverified.txt, so `make test` can deselect them."""
    prefixes = [
        line.strip()
        for line in UNVERIFIED_LIST.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for item in items:
        if any(item.nodeid.startswith(prefix) for prefix in prefixes):
            item.add_marker(pytest.mark.unverified)
