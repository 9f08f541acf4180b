"""The lab for the schedule and AWX tests, and ways to look at its hosts directly.

The lab is named by CHAOSRUN_LAB_* (this suite's own lab when run in parallel with
others); `chaosrun lab up` is idempotent, so the fixture is cheap when it is up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chaosrun.base.hostlayout import STATE_DIR
from chaosrun.lab.topology import LabConfig

PROJECT = Path(__file__).resolve().parents[2]


@dataclass
class Lab:
    config: LabConfig
    inventory: Path

    def on_host(self, host: str, script: str) -> str:
        """Run a shell script inside the host's container: the test's own eyes, not SSH."""
        env = {**os.environ, "CONTAINERS_CONF": str(PROJECT / "etc" / "containers.conf")}
        done = subprocess.run(
            ["podman", "exec", self.config.container(host), "sh", "-c", script],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        return done.stdout.strip()

    def order_hosts(self) -> list[str]:
        return [h.name for h in self.config.hosts() if "order_service" in h.groups]

    def unit_state(self, host: str, unit: str) -> str:
        return self.on_host(host, f"systemctl is-active {unit}")

    def active_faults(self, host: str) -> list[str]:
        out = self.on_host(host, f"ls -1 {STATE_DIR}/active 2>/dev/null")
        return [line for line in out.splitlines() if line]


@pytest.fixture(scope="session")
def sched_lab() -> Lab:
    cfg = LabConfig.from_env()
    # CHAOSRUN_LAB_NO_PROVISION=1: hosts and monitoring only, as the session lab (conftest).
    no_provision = os.environ.get("CHAOSRUN_LAB_NO_PROVISION") == "1"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaosrun",
            "lab",
            "up",
            *(["--no-provision"] if no_provision else []),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=PROJECT,
    )
    if done.returncode != 0:
        pytest.fail(f"chaosrun lab up failed: {done.stderr[-2000:]}")
    return Lab(cfg, PROJECT / "inventories" / cfg.name / "hosts")


@dataclass
class UnitWatch:
    """Samples a unit on some hosts in the background: which hosts were ever seen down,
    and for how long (first sample down to the first sample up again)."""

    lab: Lab
    hosts: list[str]
    unit: str
    seen_down: set[str] = field(default_factory=set)
    down_since: dict[str, float] = field(default_factory=dict)
    down_for: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> UnitWatch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for host in self.hosts:
                active = self.lab.unit_state(host, self.unit) == "active"
                if not active:
                    self.seen_down.add(host)
                    self.down_since.setdefault(host, time.monotonic())
                elif host in self.down_since and host not in self.down_for:
                    self.down_for[host] = time.monotonic() - self.down_since[host]
            time.sleep(0.3)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
