"""A reboot never keeps a fault: the boot guard reverts what a reboot left active, and a
live run whose host rebooted aborts instead of passing.

`podman restart` of a lab host is the lab's reboot: systemd boots again with a fresh /run
(the transient dead-man timer is gone) while /etc and /var/lib keep what the fault left.
The experiments are meant to last ten minutes, so only the reboot can end them early.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from datetime import datetime

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    Lab,
    Project,
    kill_group,
    project_fixture,
    safety_lab_fixture,
    stop_one_order,
)

from chaosrun.lab import api

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
LB_CONFIG = "/etc/haproxy/haproxy.cfg"
# The fault of experiments/file-corrupt-lb-config.yml without its probes: on a busy
# machine the lab's own traffic errors could trip a guardrail, and only the reboot may end
# these runs. Users are checked in Prometheus by the test itself.
FILE_CORRUPT_TEXT = """\
title: Corrupt the load balancer's configuration on disk
targets: {hosts: lb, select: {count: 1}}
blast_radius: {allow_whole_group: true, max_percent: 100}
fault:
  role: chaosrun.chaos.file_corrupt
  vars: {file_corrupt_path: /etc/haproxy/haproxy.cfg, file_corrupt_count: 32}
duration: 600s
guardrails: {interval: 1s}
recovery: {within: 60s}
"""
ERROR_RATIO = (
    'sum(rate(lab_traffic_requests_total{outcome!="ok"}[15s]))'
    " / sum(rate(lab_traffic_requests_total[15s]))"
)


def reboot(lab: Lab, host: str) -> float:
    """Restart the host's container; returns (the time) when its sshd answers again."""
    lab.podman("restart", lab.config.container(host))
    address = next(h.address for h in lab.config.hosts() if h.name == host)

    def sshd_answers() -> bool:
        try:
            with socket.create_connection((address, 22), timeout=2) as conn:
                return conn.recv(4).startswith(b"SSH")
        except OSError:
            return False

    wait_until(sshd_answers, 120, "answering over SSH")
    return time.time()


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not {what} within {timeout:g}s"
        time.sleep(1)


def users_fine(lab: Lab) -> bool:
    try:
        result = api.query(lab.config, ERROR_RATIO)
    except (OSError, ValueError, KeyError):
        return False
    return bool(result) and float(result[0]["value"][1]) < 0.01


def last_revert(lab: Lab, host: str) -> dict:
    return json.loads(lab.on_host(host, "tail -n 1 /var/lib/chaosrun/history.jsonl"))


def start_long(project: Project, experiment: str, *extra: str):
    proc = project.start(
        "run", experiment, "-i", str(project.lab.inventory), "--set", "duration=600s", *extra
    )
    run_id, journal = project.wait_for_phase(proc, "observe")
    (host,) = journal["targets"]["selected"]
    assert project.lab.active_dirs(host) == [run_id]
    return proc, run_id, host


def assert_a_new_run_is_not_refused(project: Project, experiment: str, host: str) -> None:
    wait_until(lambda: users_fine(project.lab), 180, "serving users again")
    done = project.chaosrun(
        "run", experiment, "-i", str(project.lab.inventory), "--set", "duration=1s", "--json"
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    journal = project.journal(json.loads(done.stdout)["run_id"])
    assert journal["targets"]["selected"] == [host]


def test_a_corrupted_file_is_restored_at_boot_after_the_controller_died(project: Project):
    lab = project.lab
    intact = lab.on_host("lb-1", f"sha256sum < {LB_CONFIG}")
    exp = str(project.experiment("corrupt", FILE_CORRUPT_TEXT))
    proc, run_id, host = start_long(project, exp)
    assert lab.on_host(host, f"sha256sum < {LB_CONFIG}") != intact, "the file is not corrupted"
    kill_group(proc, signal.SIGKILL)
    proc.wait(10)
    reboot(lab, host)  # well inside the lease: only the boot guard can revert it
    wait_until(lambda: lab.unit_active(host, "haproxy.service"), 120, "HAProxy running")
    assert lab.on_host(host, f"sha256sum < {LB_CONFIG}") == intact
    assert lab.active_dirs(host) == []
    reverted = last_revert(lab, host)
    assert (reverted["by"], reverted["run_id"], reverted["ok"]) == ("boot", run_id, True)
    project.assert_no_active_fault()
    assert_a_new_run_is_not_refused(project, exp, host)


def test_a_stopped_unit_is_left_to_boot_and_its_stale_state_cleared(project: Project):
    lab = project.lab
    exp = project.experiment("stop", stop_one_order(duration="600s"))
    proc, run_id, host = start_long(project, str(exp))
    kill_group(proc, signal.SIGKILL)
    proc.wait(10)
    reboot(lab, host)
    wait_until(lambda: lab.unit_active(host, "order-service.service"), 120, "order-service up")
    assert lab.active_dirs(host) == []
    reverted = last_revert(lab, host)
    assert (reverted["by"], reverted["run_id"], reverted["ok"]) == ("boot", run_id, True)
    project.assert_no_active_fault()
    names = [h.name for h in lab.config.hosts()]
    others = tuple(n for n in names if n.startswith("order-") and n != host)
    again = project.experiment("again", stop_one_order(duration="600s", exclude=others))
    assert_a_new_run_is_not_refused(project, str(again), host)


def test_a_live_run_whose_host_rebooted_aborts(project: Project):
    lab = project.lab
    exp = str(project.experiment("corrupt", FILE_CORRUPT_TEXT))
    proc, run_id, host = start_long(project, exp)
    try:
        back = reboot(lab, host)
        _out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:  # a run that missed the reboot must not outlive the test
            proc.terminate()
            proc.wait(120)
    assert proc.returncode == 3, err[-2000:]
    journal = project.journal(run_id)
    assert journal["status"] == "aborted"
    assert host in journal["abort"]["reason"], journal["abort"]
    aborted = datetime.fromisoformat(journal["abort"]["at"].replace("Z", "+00:00")).timestamp()
    # The lease notices within one renewal interval (3 s) after sshd answers again:
    # renewals keep their cadence and give up after one interval, so none stuck on the
    # rebooting host delays the next. The abort follows at the next guardrail tick (1 s);
    # 1.5 s more for a fresh SSH login and a busy machine.
    limit = 3 + 1 + 1.5
    assert aborted - back < limit, f"aborted {aborted - back:.1f}s after the host was back"
    assert lab.unit_active(host, "haproxy.service")
    assert lab.active_dirs(host) == []
    project.assert_no_active_fault()
