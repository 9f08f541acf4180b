"""The systemd timer that `chaosrun schedule install --backend systemd` renders, loaded
and fired by a lab host's real systemd (PID 1). The host has no chaosrun, so the service
the timer starts is swapped for one that records the time it ran; the timer unit itself
is exactly what install wrote."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from pathlib import Path

import pytest
from labsched import PROJECT, Lab, sched_lab

from chaosrun.modes import schedule_install, schedules

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
__all__ = ["sched_lab"]

NAME = "e2e-systemd"
UNIT = f"chaosrun-{NAME}"


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(PROJECT / "etc" / "containers.conf")}
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, env=env, timeout=60, check=True
    )


def test_lab_systemd_fires_the_rendered_timer(
    sched_lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sched_file = tmp_path / "chaosrun-schedules.yml"
    sched_file.write_text(
        f"schedules:\n  - name: {NAME}\n    experiment: experiments/kill-one-order.yml\n"
        "    cron: '* * * * *'\n    timezone: Pacific/Auckland\n"
    )
    monkeypatch.setenv("CHAOSRUN_SCHEDULES", str(sched_file))
    unit_dir = tmp_path / "units"
    done = schedule_install.install(schedules.load(), "systemd", unit_dir=unit_dir, enable=False)
    units = sorted(
        Path(f["path"]).name for f in done.files if f["path"].endswith((".service", ".timer"))
    )
    assert units == [f"{UNIT}.service", f"{UNIT}.timer"]
    host = "payment-1"
    container = sched_lab.config.container(host)
    stand_in = tmp_path / f"{UNIT}.service"
    stand_in.write_text(
        "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'date +%%s >> /run/chaosrun-e2e-fired'\n"
    )
    podman("cp", str(unit_dir / f"{UNIT}.timer"), f"{container}:/etc/systemd/system/")
    podman("cp", str(stand_in), f"{container}:/etc/systemd/system/")
    try:
        sched_lab.on_host(
            host,
            f"rm -f /run/chaosrun-e2e-fired; systemctl daemon-reload; systemctl start {UNIT}.timer",
        )
        assert sched_lab.on_host(host, f"systemctl is-active {UNIT}.timer") == "active"
        deadline = time.monotonic() + 90
        fired = ""
        while time.monotonic() < deadline and not fired:
            time.sleep(3)
            fired = sched_lab.on_host(host, "cat /run/chaosrun-e2e-fired 2>/dev/null")
        assert fired, "systemd did not start the service within 90s of an every-minute timer"
        at = dt.datetime.fromtimestamp(int(fired.splitlines()[0]), dt.UTC)
        assert at.second <= 2, f"fired at {at}, not on the minute"  # AccuracySec=1s
    finally:
        sched_lab.on_host(
            host,
            f"systemctl stop {UNIT}.timer; rm -f /etc/systemd/system/{UNIT}.timer "
            f"/etc/systemd/system/{UNIT}.service /run/chaosrun-e2e-fired; systemctl daemon-reload",
        )
        schedule_install.uninstall()
    assert not unit_dir.joinpath(f"{UNIT}.timer").exists()
