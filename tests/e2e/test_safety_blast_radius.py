"""A selection over the blast-radius cap is refused by validate, plan and run, with numbers;
an override that widens the cap, or holds the fault longer than max_duration, is refused
before any host is contacted."""

from __future__ import annotations

import time

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    PROJECT,
    Project,
    project_fixture,
    safety_lab_fixture,
    stop_one_order,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e]


def test_over_the_cap_is_refused_everywhere_with_the_numbers(project: Project):
    text = stop_one_order(duration="10s").replace("select: {count: 1}", "select: {count: 2}")
    exp = project.experiment("two", text)
    inv = str(project.lab.inventory)
    for command in ("validate", "plan", "run"):
        done = project.chaosrun(command, str(exp), "-i", inv)
        assert done.returncode == 4, (command, done.stdout, done.stderr)
        assert "2 of 3 hosts" in done.stderr and "cap of 1" in done.stderr, done.stderr
        assert "max_percent 50% of 3 -> 1" in done.stderr
    assert [e["action"] for e in project.audit()] == ["refused"]
    project.assert_no_active_fault()


def test_plan_shows_the_cap_decision(project: Project):
    exp = project.experiment("one", stop_one_order(duration="10s"))
    done = project.chaosrun("plan", str(exp), "-i", str(project.lab.inventory))
    assert done.returncode == 0, done.stderr
    assert "1 of 3 hosts" in done.stdout and "within the blast-radius cap of 1" in done.stdout


ORDER_HOSTS = ("order-1", "order-2", "order-3")


def contacts(project: Project, since: float) -> dict[str, int]:
    """Per order host, the SSH logins and sudo commands its own journal recorded since then
    (read through podman, not SSH): what reaching the host leaves behind."""
    script = (
        f"journalctl -q -o cat --since @{since:.6f} 2>/dev/null"
        " | grep -cE 'Accepted publickey|COMMAND=' || true"
    )
    return {host: int(project.lab.on_host(host, script) or 0) for host in ORDER_HOSTS}


def test_an_override_that_widens_the_cap_is_refused_touching_no_host(project: Project):
    exp = str(PROJECT / "experiments" / "kill-one-order.yml")
    since = time.time()  # the hosts share this machine's clock
    done = project.chaosrun(
        "run", exp, "-i", str(project.lab.inventory), "--set", "targets.select=all",
        "--set=blast_radius.allow_whole_group=true", "--set=blast_radius.max_percent=100",
    )  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert (
        "(--set blast_radius.allow_whole_group): blast_radius.allow_whole_group: true asked, "
        "looser than the ceiling false" in done.stderr
    ), done.stderr
    assert not project.run_dir.exists()  # no run directory, no journal
    time.sleep(1)  # the journal's lines are written a moment after the fact
    assert contacts(project, since) == dict.fromkeys(ORDER_HOSTS, 0)
    assert all(project.lab.unit_active(h, "order-service") for h in ORDER_HOSTS)
    project.assert_no_active_fault()  # reads every host over SSH (and sudo) ...
    time.sleep(1)
    assert all(n > 0 for n in contacts(project, since).values())  # ... which the journal shows


def test_a_fault_longer_than_max_duration_is_refused_touching_no_host(project: Project):
    project.write_config(max_duration="10m")
    exp = str(PROJECT / "experiments" / "kill-one-order.yml")
    since = time.time()
    done = project.chaosrun("run", exp, "-i", str(project.lab.inventory), "--set=duration=5h")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert (
        f"kill-one-order.yml (--set duration): duration: 5h is longer than the ceiling "
        f"max_duration 10m from {project.config_file}:" in done.stderr
    ), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not project.run_dir.exists()
    (entry,) = project.audit()  # who asked for the longer fault: a loosening, audited
    assert (entry["action"], entry["outcome"], entry["command"]) == ("refused", "loosened", "run")
    assert entry["overrides"] == {"duration": "5h"}
    time.sleep(1)  # the journal's lines are written a moment after the fact
    assert contacts(project, since) == dict.fromkeys(ORDER_HOSTS, 0)
    assert all(project.lab.unit_active(h, "order-service") for h in ORDER_HOSTS)
