"""Shared pieces of the safety end-to-end tests: the lab, a private project config, running
`chaosrun` as a user would, and reading the fleet's state from the hosts.

Every test runs the real CLI against the real lab (systemd hosts over SSH, Prometheus);
faults are observed on the hosts themselves (the unit's state), not taken on trust.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from chaosrun.base.hostlayout import STATE_DIR
from chaosrun.lab import api, wait
from chaosrun.lab.topology import LabConfig
from chaosrun.model.apiaccess import ApiAccess

PROJECT = Path(__file__).resolve().parents[2]
CHAOSRUN = [sys.executable, "-m", "chaosrun"]
LEASE_TTL = 15  # seconds; short so the dead-man tests finish fast
NOT_STEADY = "steady state does not hold before the start"
STEADY_ATTEMPTS = 3  # a busy machine stalls the lab's traffic now and then; such a run is refused
Outcome = TypeVar("Outcome", bound=tuple)


@dataclass
class Lab:
    config: LabConfig
    inventory: Path

    @property
    def prometheus(self) -> ApiAccess:
        """The lab's Prometheus with its CA and credentials (chaosrun.lab.api)."""
        return api.prometheus(self.config)

    def podman(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CONTAINERS_CONF": str(PROJECT / "etc" / "containers.conf")}
        return subprocess.run(
            ["podman", *args], capture_output=True, text=True, env=env, check=check, timeout=timeout
        )

    def on_host(self, host: str, script: str) -> str:
        """Run a shell script inside the host's container (the test's own eyes, not SSH)."""
        done = self.podman("exec", self.config.container(host), "sh", "-c", script, check=False)
        return done.stdout.strip()

    def unit_active(self, host: str, unit: str) -> bool:
        return self.on_host(host, f"systemctl is-active {unit}") == "active"

    def active_dirs(self, host: str) -> list[str]:
        out = self.on_host(host, f"ls -1 {STATE_DIR}/active 2>/dev/null")
        return [line for line in out.splitlines() if line]


@pytest.fixture(scope="session", name="safety_lab")
def safety_lab_fixture() -> Lab:
    """The lab named by CHAOSRUN_LAB_* (brought up if needed; `lab up` is idempotent)."""
    cfg = LabConfig.from_env()
    inventory = PROJECT / "inventories" / cfg.name / "hosts"
    done = subprocess.run(
        [*CHAOSRUN, "lab", "up"], capture_output=True, text=True, timeout=1800, cwd=PROJECT
    )
    if done.returncode != 0:
        pytest.fail(f"chaosrun lab up failed: {done.stderr[-2000:]}")
    return Lab(cfg, inventory)


@dataclass
class Project:
    """A private chaosrun.yml (own run dir, audit log, freeze file) for one test."""

    root: Path
    lab: Lab
    workdir: Path = PROJECT  # where chaosrun runs; another controller's is its own directory

    @property
    def config_file(self) -> Path:
        return self.root / "chaosrun.yml"

    @property
    def audit_log(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def run_dir(self) -> Path:
        return self.root / "runs"

    def write_config(self, **extra: Any) -> None:
        data: dict[str, Any] = {
            "prometheus": {"url": self.lab.config.prometheus_url},
            "lease": {"ttl": f"{LEASE_TTL}s", "renew_every": "3s"},
            "audit": {"path": str(self.audit_log)},
            "run_dir": str(self.run_dir),
            "freeze_file": str(self.root / "freeze.json"),
        }
        data.update(extra)
        self.config_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAOSRUN_CONFIG")}
        env.update(
            CHAOSRUN_CONFIG=str(self.config_file),
            CHAOSRUN_INVENTORY=str(self.lab.inventory),
            CHAOSRUN_PROJECT=str(PROJECT),
        )
        return env

    def experiment(self, name: str, text: str) -> Path:
        path = self.root / f"{name}.yml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def chaosrun(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CHAOSRUN, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            cwd=self.workdir,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """`chaosrun run ...` in the background, in its own process group."""
        return subprocess.Popen(
            [*CHAOSRUN, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
            cwd=self.workdir,
            start_new_session=True,
        )

    def audit(self) -> list[dict[str, Any]]:
        if not self.audit_log.is_file():
            return []
        return [json.loads(line) for line in self.audit_log.read_text().splitlines() if line]

    def journal(self, run_id: str) -> dict[str, Any]:
        return json.loads((self.run_dir / run_id / "journal.json").read_text())

    def explain(self, run_id: str) -> str:
        """What a failed assertion should show: the abort, each phase's end and the rollback."""
        journal = self.journal(run_id)
        phases = [
            f"{p.get('name')}: {p.get('outcome')} {p.get('detail', '')}".strip()
            for p in journal.get("phases", [])
        ]
        return json.dumps(
            {"abort": journal.get("abort"), "phases": phases, "rollback": journal.get("rollback")},
            indent=1,
        )

    def wait_for_phase(
        self,
        proc: subprocess.Popen[str],
        phase: str,
        timeout: float = 400,
        any_controller: bool = False,
    ):
        """Wait until a run's journal shows `phase` started; returns (run_id, journal).
        The run is `proc`'s own, or with `any_controller` any of the project's (a warm
        process's fork runs it: the journal names the fork, not `proc`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for path in sorted(self.run_dir.glob("*/journal.json")):
                try:
                    journal = json.loads(path.read_text())
                except ValueError:
                    continue
                pid = journal.get("controller", {}).get("pid")
                if not any_controller and pid not in (proc.pid, None):
                    continue
                if any(p.get("name") == phase for p in journal.get("phases", [])):
                    return journal["run_id"], journal
            if proc.poll() is not None:
                _out, err = proc.communicate()
                pytest.fail(f"run ended (rc {proc.returncode}) before {phase}: {err[-2000:]}")
            time.sleep(0.5)
        pytest.fail(f"no {phase} phase within {timeout}s")

    def status(self) -> dict[str, Any]:
        done = self.chaosrun("status", "-i", str(self.lab.inventory), "--json", timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def assert_no_active_fault(self) -> None:
        """Every test ends here: `chaosrun status` reads the hosts and finds nothing."""
        state = self.status()
        assert state["faults"] == [], state["faults"]
        assert state["unreachable"] == []


@pytest.fixture(name="project")
def project_fixture(tmp_path: Path, safety_lab: Lab) -> Project:
    proj = Project(tmp_path, safety_lab)
    proj.write_config()
    return proj


def stop_one_order(
    *,
    duration: str = "600s",
    hosts: str = "order_service",
    exclude: tuple[str, ...] = (),
    extra: str = "",
) -> str:
    """An experiment that stops order-service on one host. No probes: these tests are about
    the safety checks, which run every guardrail interval with or without probes."""
    excl = f"\n  exclude: [{', '.join(exclude)}]" if exclude else ""
    return f"""\
title: Stop one order-service instance
targets:
  hosts: {hosts}
  select: {{count: 1}}{excl}
fault:
  role: chaosrun.chaos.service_stop
  vars: {{service_stop_units: [order-service.service]}}
duration: {duration}
guardrails: {{interval: 1s}}
recovery: {{within: 60s}}
{extra}"""


def when_steady(project: Project, attempt: Callable[[], Outcome]) -> Outcome:
    """`attempt()` (a run or drill returning (done, result, journal)) once the lab's user
    traffic is steady, and again after 20 s when it was refused because the traffic was not
    steady at its start (exit 4, nothing touched): a test before it may have stopped a
    service, and its errors stay in a steady-state window for a while after. Any other
    outcome is returned as it is."""
    for _ in range(STEADY_ATTEMPTS - 1):
        wait.steady_traffic(project.lab.config, 180)
        outcome = attempt()
        if outcome[0].returncode != 4 or NOT_STEADY not in str(outcome):
            return outcome
        time.sleep(20)
    wait.steady_traffic(project.lab.config, 180)
    return attempt()


def kill_group(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    """Signal only the run's own process (not its group: ansible children may linger, like
    they would after a real crash)."""
    os.kill(proc.pid, sig)
