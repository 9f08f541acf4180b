"""The revert's locks on a real host, with the fault role's own steps (begin, arm, apply,
rollback) and its revert script, timed and measured on the host.

- A process the fault leaves running without systemd (as a hog does where systemd is
  absent) does not hold the revert's lock: its rollback returns in seconds, not after the
  revert's 120 s wait on that lock, and the process is gone.
- Two reverts of one fault never undo it twice, even past the revert's 120 s wait for a
  hung apply: the rollback and the dead-man both waiting on an apply that holds the lock
  (held here by the test) time out together, and only one of them undoes the fault.
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

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
HOST = "order-1"
ROLE = "lockcheck"

STEPS = """\
- name: Arm a fault with the fault role's own steps
  hosts: %(host)s
  gather_facts: false
  vars:
    chaos_run_id: %(run)s
    chaos_ttl: 300
    fault_role: %(role)s
  tasks:
    - name: Check the host is free
      ansible.builtin.include_role:
        name: chaosrun.chaos.fault
        tasks_from: begin
        rolespec_validate: false

    - name: Arm the dead-man
      ansible.builtin.include_role:
        name: chaosrun.chaos.fault
        tasks_from: arm
        rolespec_validate: false
      vars:
        fault_revert_body: |
          %(revert)s

    - name: Apply the fault while it is armed
      ansible.builtin.include_role:
        name: chaosrun.chaos.fault
        tasks_from: apply
        rolespec_validate: false
      vars:
        fault_apply_body: |
          %(apply)s
      when: %(apply_it)s
"""

ROLLBACK = """\
- name: Roll the fault back
  hosts: %(host)s
  gather_facts: false
  vars:
    chaos_run_id: %(run)s
    fault_role: %(role)s
  tasks:
    - name: Run the fault's revert script
      ansible.builtin.include_role:
        name: chaosrun.chaos.fault
        tasks_from: rollback
        rolespec_validate: false
"""


def _play(project: Project, name: str, text: str, timeout: float = 300) -> float:
    """Run a playbook on the lab; its wall time in seconds."""
    path = project.root / name
    path.write_text(text)
    began = time.monotonic()
    done = subprocess.run(
        [str(PROJECT / ".venv/bin/ansible-playbook"), "-i", str(project.lab.inventory), str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT,
        env={**project.env(), "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg")},
    )
    assert done.returncode == 0, done.stdout[-3000:]
    return time.monotonic() - began


def _values(run: str, **values: str) -> dict[str, str]:
    return {"host": HOST, "run": run, "role": ROLE, "apply_it": "false", "apply": ":", **values}


def test_a_process_the_fault_left_running_does_not_hold_the_revert_lock(project: Project):
    """The `apply` entry point: a process started with nohup/setsid (no systemd) once
    inherited the lock's fd 8, so the rollback's revert waited 120 s for it."""
    lab = project.lab
    run = f"revert-lock-bg-{int(time.time())}"
    sleep = "sleep 617"
    seen = "slee[p] 617"  # a pattern the shell that runs pgrep does not match itself
    values = _values(
        run,
        apply_it="true",
        apply=f'nohup setsid {sleep} </dev/null >/dev/null 2>&1 & echo $! > "$dir/bg.pid"',
        revert='kill "$(cat "$dir/bg.pid")" 2>/dev/null || true',
    )
    _play(project, "steps.yml", STEPS % values)
    assert lab.on_host(HOST, f"pgrep -f '{seen}'"), "the fault's process did not start"
    seconds = _play(project, "rollback.yml", ROLLBACK % values)
    assert seconds < 30, f"rollback took {seconds:.1f}s (the revert waited on its lock)"
    assert lab.on_host(HOST, f"pgrep -f '{seen}' || echo gone") == "gone"
    assert run not in lab.active_dirs(HOST)
    project.assert_no_active_fault()
    print(f"rollback with a process the fault left running: {seconds:.1f}s")


def test_two_reverts_past_a_hung_apply_undo_the_fault_once(project: Project):
    """A hung apply holds revert.lock (the test holds it); the rollback and the dead-man
    both wait 120 s for it, then revert anyway. Only one may undo the fault."""
    lab = project.lab
    run = f"revert-lock-twice-{int(time.time())}"
    count = f"/var/tmp/chaostest-undo-{run}"
    values = _values(run, revert=f"echo undo >> {count}; sleep 2")
    _play(project, "steps.yml", STEPS % values)
    fault = f"{STATE_DIR}/active/{run}/{ROLE}"
    # The "hung apply": the lock held for a little longer than the reverts wait for it.
    container = lab.config.container(HOST)
    lab.podman("exec", "-d", container, "flock", f"{fault}/revert.lock", "sleep", "125")
    time.sleep(1)
    began = time.monotonic()
    both = (
        f"sh {fault}/revert.sh rollback > /var/tmp/{run}.a 2>&1 & "
        f"sh {fault}/revert.sh deadman > /var/tmp/{run}.b 2>&1 & "
        f"wait; cat /var/tmp/{run}.a /var/tmp/{run}.b; rm -f /var/tmp/{run}.a /var/tmp/{run}.b"
    )
    # Longer than Lab.on_host waits: both reverts wait out their 120 s.
    out = lab.podman("exec", container, "sh", "-c", both, timeout=400).stdout
    seconds = time.monotonic() - began
    undone = lab.on_host(HOST, f"cat {count} 2>/dev/null; rm -f {count}").splitlines()
    assert undone == ["undo"], f"undone {len(undone)} times:\n{out}"
    assert "reverting anyway" in out and "already reverted" in out, out
    assert run not in lab.active_dirs(HOST)
    history = lab.on_host(HOST, f'grep -c \'"run_id": "{run}"\' {STATE_DIR}/history.jsonl')
    assert history == "1", history
    project.assert_no_active_fault()
    print(f"two reverts past a hung apply: {seconds:.1f}s, undone once")
