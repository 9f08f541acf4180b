"""The kill switch on the hosts: its shell scripts run by a real /bin/sh on a temporary
state directory (the marker, the reverts, the lease's and the lock step's answers), and
the lease renewer's reading of a frozen host."""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path

import jinja2

from chaosrun.hosts import hostshell
from chaosrun.model import killswitch
from chaosrun.run import hostfreeze
from chaosrun.run.lease import FROZEN, RENEWED, LeaseRenewer

ROLES = Path(__file__).resolve().parents[2] / "collections/ansible_collections/chaosrun/chaos/roles"
STATE = killswitch.Freeze("incident INC-42", "2026-11-27T21:05:01Z", "alice", "ops-1", "/srv/ops")


def sh(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=False)


def fault(state: Path, run: str, role: str, body: str = "true") -> Path:
    """A fault directory whose revert script records how it was called, then removes it
    (as the role's revert script does)."""
    d = state / "active" / run / role
    d.mkdir(parents=True)
    (d / "revert.sh").write_text(
        f'{body}\necho "$1" >> "{state}/reverted.{role}"\nrm -rf "{d}"\n', encoding="utf-8"
    )
    return d


def test_freeze_writes_the_marker_and_reverts_every_fault(tmp_path: Path) -> None:
    fault(tmp_path, "run-1", "service_stop")
    fault(tmp_path, "run-2", "cpu_stress")
    done = sh(hostfreeze.freeze_script(str(tmp_path), hostfreeze.marker_text(STATE)))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    word, when = lines[0].split()
    assert word == hostfreeze.FROZEN_OK and abs(float(when) - time.time()) < 60
    assert sorted(lines[1:]) == ["REVERTED run-1 service_stop", "REVERTED run-2 cpu_stress"]
    assert (tmp_path / "reverted.service_stop").read_text().strip() == "freeze"
    assert not list((tmp_path / "active").glob("*/*/"))
    marker = (tmp_path / "frozen").read_text()
    assert marker.splitlines()[0] == (
        "frozen since 2026-11-27T21:05:01Z by alice@ops-1: incident INC-42"
    )
    assert hostfreeze.parse_marker(marker) == STATE


def test_freeze_names_a_failed_revert_and_stays_frozen(tmp_path: Path) -> None:
    fault(tmp_path, "run-1", "bad", body="echo 'tc: no such qdisc' >&2; exit 1")
    fault(tmp_path, "run-1", "good")
    done = sh(hostfreeze.freeze_script(str(tmp_path), hostfreeze.marker_text(STATE)))
    assert done.returncode == 1
    assert "FAILED run-1 bad: tc: no such qdisc" in done.stdout.splitlines()
    assert "REVERTED run-1 good" in done.stdout.splitlines()
    assert (tmp_path / "frozen").is_file()


def test_a_reason_with_quotes_and_newlines_stays_data(tmp_path: Path) -> None:
    odd = killswitch.Freeze("it's $(reboot)\nline two `x`", "now", "bob", "ops-2")
    assert sh(hostfreeze.freeze_script(str(tmp_path), hostfreeze.marker_text(odd))).returncode == 0
    marker = (tmp_path / "frozen").read_text()
    assert marker.splitlines()[0] == "frozen since now by bob@ops-2: it's $(reboot) line two `x`"
    assert hostfreeze.parse_marker(marker).reason == odd.reason


def test_a_damaged_marker_still_reads_as_frozen() -> None:
    assert hostfreeze.parse_marker("frozen since x by y: z\n{broken").reason == (
        "frozen since x by y: z"
    )
    assert "unparsable" in hostfreeze.parse_marker("").reason


def test_unfreeze_removes_the_marker_and_says_what_it_was(tmp_path: Path) -> None:
    sh(hostfreeze.freeze_script(str(tmp_path), hostfreeze.marker_text(STATE)))
    done = sh(hostfreeze.unfreeze_script(str(tmp_path)))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == hostfreeze.WAS_FROZEN
    assert hostfreeze.parse_marker("\n".join(lines[1:])) == STATE
    assert not (tmp_path / "frozen").exists()
    again = sh(hostfreeze.unfreeze_script(str(tmp_path / "never")))
    assert again.returncode == 0 and again.stdout == ""
    assert not (tmp_path / "never").exists()  # nothing created on a host never frozen


def test_preflight_check_reads_the_marker(tmp_path: Path) -> None:
    assert hostfreeze.frozen_in(sh(hostfreeze.check_script(str(tmp_path))).stdout) is None
    sh(hostfreeze.freeze_script(str(tmp_path), hostfreeze.marker_text(STATE)))
    out = sh(hostfreeze.check_script(str(tmp_path))).stdout
    assert hostfreeze.frozen_in(out) == (
        "frozen since 2026-11-27T21:05:01Z by alice@ops-1: incident INC-42"
    )


def test_lease_renewal_answers_frozen_before_gone(tmp_path: Path) -> None:
    fault(tmp_path, "run-1", "service_stop")
    assert sh(hostshell.lease_script(str(tmp_path), "run-1", 30)).returncode == 0
    sh(hostfreeze.freeze_script(str(tmp_path), hostfreeze.marker_text(STATE)))
    # The freeze reverted the run's fault; the renewal says why, not merely "gone".
    frozen = sh(hostshell.lease_script(str(tmp_path), "run-1", 30))
    assert frozen.returncode == hostshell.LEASE_FROZEN_RC
    assert "INC-42" in frozen.stdout


def render_lock_check(state: Path, run_id: str) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLES / "fault/templates"))
    env.filters["quote"] = lambda value: shlex.quote(str(value))
    return env.get_template("lock-check.sh.j2").render(
        __fault_state_dir=str(state), chaos_run_id=run_id, inventory_hostname="order-1"
    )


def test_the_roles_lock_step_refuses_a_frozen_host(tmp_path: Path) -> None:
    script = render_lock_check(tmp_path, "run-9")
    assert sh(script).returncode == 0
    sh(hostfreeze.freeze_script(str(tmp_path), hostfreeze.marker_text(STATE)))
    refused = sh(script)
    assert refused.returncode == 3
    assert refused.stderr.startswith("order-1: frozen since 2026-11-27T21:05:01Z by alice@ops-1")
    assert "incident INC-42; run run-9 is refused" in refused.stderr
    sh(hostfreeze.unfreeze_script(str(tmp_path)))
    assert sh(script).returncode == 0


def test_the_renewer_records_a_frozen_host_apart_from_lapsed_ones() -> None:
    answers = {"a": RENEWED, "b": RENEWED}
    lease = LeaseRenewer(renew=lambda: answers, ttl=30, every=5)
    lease.renew_now()
    answers["b"] = (FROZEN, "frozen since now by alice@ops-1: INC-42")
    lease.renew_now()
    assert lease.frozen_hosts() == {"b": "frozen since now by alice@ops-1: INC-42"}
    assert lease.lapsed() == []
