"""The fault role's one-step inject (begin_arm) run for real with /bin/sh in a temporary
state directory (the dead-man's detached fallback: the test machine has no systemd as PID 1):
what it refuses touches nothing, idempotence, the probe's output reaching the apply and
meta.json's pre_state, the controller's address.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from fault_templates import FAULT, environment

from chaosrun.base import hostlayout as layout

RUN = "run-1"
PROBE = '{"pids": [12,34], "unit_active": "active"}'


def script(state: Path, out: Path, **given: object) -> str:
    """begin-arm.sh.j2 as the role renders it for a demo fault whose apply writes the
    probe's output to `out` (appending: a second apply would show)."""
    fault_dir = state / "active" / RUN / "demo"
    values: dict[str, object] = {
        "fault_role": "demo",
        "chaos_run_id": RUN,
        "chaos_ttl": 60,
        "inventory_hostname": "testhost",
        "__fault_input_error": "",
        "__fault_state_dir": str(state),
        "__fault_dir": str(fault_dir),
        "__fault_unit": f"chaosrun-deadman-{RUN}-demo",
        "__fault_textfile": "",
        "__fault_meta": {"run_id": RUN, "role": "demo"},
        "fault_probe_body": f"echo {shlex.quote(PROBE)}",
        "fault_pre_state": {"signal": "KILL"},
        "fault_apply_body": f'printf "%s\\n" "$CHAOSRUN_PROBE_OUTPUT" >> {shlex.quote(str(out))}',
        "fault_revert_body": "true",
        **given,
    }
    return environment().get_template("begin-arm.sh.j2").render(values)


def run(text: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "SSH_CLIENT"}
    return subprocess.run(
        ["/bin/sh", "-c", text],
        env={**environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def fault_dir(state: Path) -> Path:
    return state / "active" / RUN / "demo"


@pytest.fixture
def armed() -> Iterator[list[Path]]:
    """Fault directories a test armed: reverted after it (the detached dead-man ends)."""
    dirs: list[Path] = []
    yield dirs
    for d in dirs:
        if (d / layout.REVERT).exists():
            run(f"/bin/sh {shlex.quote(str(d / layout.REVERT))} rollback")


def test_one_step_arms_applies_with_the_probe_and_records_it(
    tmp_path: Path, armed: list[Path]
) -> None:
    state, out = tmp_path / "state", tmp_path / "out"
    armed.append(fault_dir(state))
    first = run(script(state, out), SSH_CLIENT="10.9.8.7 40000 22")
    assert first.returncode == 0, (first.stdout, first.stderr)
    lines = first.stdout.splitlines()
    # begin's lines, the probe's output, then arm's: what the role's vars read.
    assert lines[:3] == [f"CHAOSRUN_INJECT {RUN} demo", "ABSENT", "CONTROLLER 10.9.8.7"]
    assert lines[3:6] == ["CHAOSRUN_PROBE", PROBE, "CHAOSRUN_ARM"]
    assert lines[-1] == "applied" and any(line.startswith("armed process ") for line in lines)
    assert out.read_text() == PROBE + "\n"
    meta = json.loads((fault_dir(state) / layout.META).read_text())
    assert meta["pre_state"] == {"pids": [12, 34], "unit_active": "active", "signal": "KILL"}
    assert meta["controller"] == "10.9.8.7" and meta["run_id"] == RUN
    assert (fault_dir(state) / layout.REVERT).exists()

    again = run(script(state, out), SSH_CLIENT="10.9.8.7 40000 22")
    assert again.returncode == 0, again.stderr
    header = f"CHAOSRUN_INJECT {RUN} demo"
    assert again.stdout.splitlines() == [header, "PRESENT", "CONTROLLER 10.9.8.7"]
    assert out.read_text() == PROBE + "\n"  # not applied twice


def test_chaos_controller_wins_and_an_empty_probe_object_takes_the_roles_state(
    tmp_path: Path, armed: list[Path]
) -> None:
    state, out = tmp_path / "state", tmp_path / "out"
    armed.append(fault_dir(state))
    text = script(state, out, chaos_controller='ops "box"', fault_probe_body="echo '{ }'")
    done = run(text)
    assert done.returncode == 0, done.stderr
    meta = json.loads((fault_dir(state) / layout.META).read_text())
    assert meta["controller"] == 'ops "box"'
    assert meta["pre_state"] == {"signal": "KILL"}


@pytest.mark.parametrize(
    ("given", "rc", "message"),
    [
        ({"__fault_input_error": "set exactly one selector"}, 2, "set exactly one selector"),
        ({"fault_probe_body": "echo 'x matches nothing' >&2; exit 65"}, 2, "x matches nothing"),
        ({"fault_probe_body": "exit 7"}, 6, "demo's probe of the host failed (exit 7)"),
        ({"fault_probe_body": "echo 12 34"}, 6, "printed no JSON object"),
    ],
)
def test_a_refusal_touches_nothing(
    tmp_path: Path, given: dict[str, object], rc: int, message: str
) -> None:
    state, out = tmp_path / "state", tmp_path / "out"
    done = run(script(state, out, **given))
    assert done.returncode == rc, (done.stdout, done.stderr)
    assert message in done.stderr
    assert not out.exists() and not (state / "active" / RUN).exists()
    if "__fault_input_error" in given:  # refused before it looked at the host
        assert not state.exists() and "CHAOSRUN_INJECT" not in done.stdout


def test_a_host_another_run_holds_is_refused_before_the_probe(tmp_path: Path) -> None:
    state, out = tmp_path / "state", tmp_path / "out"
    other = state / "active" / "run-0" / "x"
    other.mkdir(parents=True)
    (other / layout.REVERT).write_text("true\n")
    probed = tmp_path / "probed"
    probe = f"touch {shlex.quote(str(probed))}; echo '{{}}'"
    done = run(script(state, out, fault_probe_body=probe))
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "holds an active fault of run run-0" in done.stderr
    assert not probed.exists() and not out.exists() and not (state / "active" / RUN).exists()


ONE_STEP = {
    "stdout": f"CHAOSRUN_INJECT {RUN} process_kill\nABSENT\nCONTROLLER 10.0.0.1\nCHAOSRUN_PROBE\n"
    f"{PROBE}\nCHAOSRUN_ARM\narmed timer u until 9\napplied\n"
}
BEGIN = {"stdout": "PRESENT\nCONTROLLER 10.0.0.2\nCHAOSRUN_PROBE\nfrom begin\n"}


@pytest.mark.parametrize(
    ("given", "found"),
    [
        # begin_arm of this run and role: its output, the probe's without arm's lines.
        ({"fault_role": "process_kill"}, [False, "10.0.0.1", PROBE]),
        # a two-step role after it in the same play: its own begin, never the stale one.
        ({"fault_role": "service_stop"}, [True, "10.0.0.2", "from begin"]),
        # a role's own task outside the shared steps (no fault_role): begin's.
        ({}, [True, "10.0.0.2", "from begin"]),
    ],
)
def test_the_role_vars_read_begin_arm_only_for_its_own_run_and_role(
    given: dict[str, str], found: list[object]
) -> None:
    """__fault_present, __fault_controller and __fault_probe as Ansible evaluates them."""
    role_vars = yaml.safe_load((FAULT / "vars/main.yml").read_text())
    variables = {
        **{k: trust_as_template(v) if isinstance(v, str) else v for k, v in role_vars.items()},
        "chaos_run_id": RUN,
        "__fault_arm": ONE_STEP,
        "__fault_begin": BEGIN,
        **given,
    }
    templar = Templar(loader=DataLoader(), variables=variables)
    names = ("__fault_present", "__fault_controller", "__fault_probe")
    assert [templar.template(trust_as_template(f"{{{{ {n} }}}}")) for n in names] == found


def test_the_controller_is_found_in_a_parents_environment(
    tmp_path: Path, armed: list[Path]
) -> None:
    """As under sudo, which drops SSH_CLIENT: the step's shell has none, its parent has."""
    state, out = tmp_path / "state", tmp_path / "out"
    armed.append(fault_dir(state))
    inner = f"env -u SSH_CLIENT /bin/sh -c {shlex.quote(script(state, out))}"
    done = run(inner, SSH_CLIENT="10.9.8.6 40000 22")
    assert done.returncode == 0, done.stderr
    assert "CONTROLLER 10.9.8.6" in done.stdout.splitlines()
    assert json.loads((fault_dir(state) / layout.META).read_text())["controller"] == "10.9.8.6"


def test_the_dead_mans_programs_are_written_when_this_version_lacks_them(
    tmp_path: Path, armed: list[Path]
) -> None:
    """bin/installed names the programs' version: an inject that finds it and them writes
    nothing, one that misses a program, or finds another version, writes them all."""
    state, out = tmp_path / "state", tmp_path / "out"
    bin_dir = state / "bin"
    programs = [bin_dir / "chaosrun-deadman", bin_dir / "chaosrun-boot-guard"]
    programs.append(bin_dir / "boot-path" / "systemctl")

    def inject(run_id: str) -> None:
        fault = state / "active" / run_id / "demo"
        unit = f"chaosrun-deadman-{run_id}-demo"
        text = script(state, out, chaos_run_id=run_id, __fault_dir=str(fault), __fault_unit=unit)
        assert run(text).returncode == 0
        armed.append(fault)
        # Reverted at once: the next inject is another run's, which the host would refuse.
        assert run(f"/bin/sh {shlex.quote(str(fault / layout.REVERT))} rollback").returncode == 0

    inject("run-a")
    version = (bin_dir / "installed").read_text()
    assert len(version.strip()) == 40 and all(p.stat().st_mode & 0o777 == 0o755 for p in programs)
    assert programs[0].read_text().rstrip("\n") == (
        FAULT / "files/chaosrun-deadman"
    ).read_text().rstrip("\n")
    for path in programs:
        path.write_text("# left as found\n")
    inject("run-b")
    assert all(p.read_text() == "# left as found\n" for p in programs)

    programs[1].unlink()
    inject("run-c")
    assert all(p.read_text() != "# left as found\n" for p in programs)
    (bin_dir / "installed").write_text("another-version\n")
    programs[0].write_text("# an older dead-man\n")
    inject("run-d")
    assert programs[0].read_text() != "# an older dead-man\n"
    assert (bin_dir / "installed").read_text() == version


def test_the_probe_reads_the_controller_the_step_found(tmp_path: Path, armed: list[Path]) -> None:
    """The probe is given the controller's SSH_CLIENT (CHAOSRUN_SSH_CLIENT), found once by
    the step, even where sudo dropped it from the step's own environment."""
    state, out = tmp_path / "state", tmp_path / "out"
    armed.append(fault_dir(state))
    probe = 'printf \'{"client": "%s"}\\n\' "$CHAOSRUN_SSH_CLIENT"'
    inner = script(state, out, fault_probe_body=probe)
    done = run(f"env -u SSH_CLIENT /bin/sh -c {shlex.quote(inner)}", SSH_CLIENT="10.9.8.5 4 22")
    assert done.returncode == 0, done.stderr
    meta = json.loads((fault_dir(state) / layout.META).read_text())
    assert meta["pre_state"]["client"] == "10.9.8.5 4 22"
