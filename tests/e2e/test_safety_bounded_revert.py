"""Reverts are bounded: stopping a run's own running dead-man never waits on systemd's stop
timeout (it once took 90 s, "State 'final-sigterm' timed out", in 2 of 8 rollbacks).

Thirty rounds, six in a row on each of five real hosts at once, each with the role's real
inject (arm.sh: the transient dead-man units as a run arms them), a dead-man whose service
is running (its lease pushed far ahead, the service started as its timer would), then the
engine's own revert command (hostshell.revert_script, what a rollback runs first and times
as `revert_scripts_s`), timed on the host. Thirty full runs would take half an hour; this
takes a few minutes.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    PROJECT,
    STATE_DIR,
    Project,
    project_fixture,
    safety_lab_fixture,
)

from chaosrun.hosts import hostshell

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
HOSTS = "order_service:payment_service"  # five lab hosts
ROUNDS = 6  # on each of them
SCRATCH = "/var/tmp/chaosrun-bounded-revert"
TIMES = "/var/tmp/chaosrun-bounded-revert.times"

ROUND = """\
- name: Corrupt the scratch file with a dead-man armed
  ansible.builtin.include_role:
    name: chaosrun.chaos.file_corrupt
    tasks_from: inject
  vars:
    chaos_run_id: "{{ run }}"
    chaos_ttl: 60
    file_corrupt_path: %(scratch)s
    file_corrupt_count: 4

- name: Push the lease far ahead and start the dead-man's service as its timer would
  ansible.builtin.shell: |
    echo $(( $(date +%%s) + 600 )) > %(state)s/active/{{ run }}/lease
    unit=chaosrun-deadman-{{ run }}-file-corrupt.service
    systemctl start --no-block "$unit"
    for i in $(seq 100); do systemctl is-active --quiet "$unit" && exit 0; sleep 0.1; done
    echo "$unit did not start" >&2
    exit 1
  changed_when: true

- name: Time the run's revert command on the host
  ansible.builtin.shell: |
    script=$(printf '%%s' "$REVERT" | sed "s/RUNID/{{ run }}/g")
    began=$(date +%%s.%%N)
    /bin/sh -c "$script"
    rc=$?
    echo "{{ run }} $rc $began $(date +%%s.%%N)" >> %(times)s
  changed_when: true
  environment:
    REVERT: "{{ lookup('ansible.builtin.env', 'CHAOSRUN_TEST_REVERT') }}"
"""

PLAYBOOK = """\
- name: Rollbacks of a fault with a running dead-man, in a row on each host
  hosts: %(hosts)s
  gather_facts: false
  tasks:
    - name: Write the scratch file and start the timings afresh
      ansible.builtin.shell: |
        head -c 8192 /dev/urandom > %(scratch)s
        rm -f %(times)s
      changed_when: true

    - name: Inject, run the dead-man, revert
      ansible.builtin.include_tasks: round.yml
      loop: "{{ range(%(rounds)d) | list }}"
      vars:
        # A run id is used once per host (its rollback marks it ended there), also on a
        # lab kept from an earlier session: the ids carry the test's start.
        run: "bounded-revert-%(started)d-{{ item }}"
"""


def test_thirty_rollbacks_with_a_running_dead_man_each_answer_within_5s(project: Project):
    lab = project.lab
    hosts = [h.name for h in lab.config.hosts() if h.name.startswith(("order-", "payment-"))]
    assert len(hosts) * ROUNDS >= 30
    values = {
        "hosts": HOSTS,
        "scratch": SCRATCH,
        "times": TIMES,
        "state": STATE_DIR,
        "rounds": ROUNDS,
        "started": int(time.time()),
    }
    (project.root / "round.yml").write_text(ROUND % values)
    playbook = project.root / "rounds.yml"
    playbook.write_text(PLAYBOOK % values)
    # The round puts each run's id in place of RUNID.
    revert = hostshell.revert_script(STATE_DIR, "RUNID")
    done = subprocess.run(
        [str(PROJECT / ".venv/bin/ansible-playbook"), "-i", str(lab.inventory), str(playbook)],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=PROJECT,
        env={
            **project.env(),
            "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"),
            "CHAOSRUN_TEST_REVERT": revert,
        },
    )
    assert done.returncode == 0, done.stdout[-3000:]
    rounds = [
        line.split() for host in hosts for line in lab.on_host(host, f"cat {TIMES}").splitlines()
    ]
    assert len(rounds) == len(hosts) * ROUNDS
    assert all(rc == "0" for _run, rc, _began, _ended in rounds), rounds
    seconds = sorted(float(ended) - float(began) for _run, _rc, began, ended in rounds)
    assert seconds[-1] < 5, f"slowest revert {seconds[-1]:.2f}s (all: {seconds})"
    # Nothing of the runs is left: no state, and no dead-man unit once the last ones ended
    # (a revert does not wait for a running dead-man's stop, which its TimeoutStopSec
    # bounds to 2 s, so the last round's unit may still be deactivating for that long).
    for host in hosts:
        assert lab.active_dirs(host) == []
        units = _units_left(lab, host, within=15)
        assert "bounded-revert" not in units, (host, units)
        lab.on_host(host, f"rm -f {SCRATCH} {TIMES}")
    project.assert_no_active_fault()
    print(f"revert seconds: median {seconds[len(seconds) // 2]:.3f}, max {seconds[-1]:.3f}")


def _units_left(lab, host: str, within: float) -> str:
    """The host's chaosrun units, once none of these runs' is left or the time is up."""
    deadline = time.monotonic() + within
    while True:
        units = lab.on_host(host, "systemctl list-units --all --plain --no-legend 'chaosrun-*'")
        if "bounded-revert" not in units or time.monotonic() > deadline:
            return units
        time.sleep(0.5)
