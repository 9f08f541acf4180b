"""The ceiling on how long a fault stays on (chaosrun.yml `max_duration`,
chaosrun.model.fault_time): an experiment's duration, times its ramp steps, from its file or
`--set`, above it is refused by `validate`, `plan` and `run` through the real command line
(exit 2, one line naming the place, the value, the ceiling and its source, nothing
touched); `plan` shows the ceiling beside the duration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_fixtures import GOOD, INVENTORY, isolated_project
from engine_fixtures import main_in_process as chaosrun

from chaosrun.base.durations import say_duration
from chaosrun.hosts.inventory import load_inventory
from chaosrun.model import fault_time
from chaosrun.model.experiment import load_experiment

PROJECT = Path(__file__).resolve().parents[2]
RULE = "(the longest a fault may stay on in one run"


@pytest.fixture(autouse=True)
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = isolated_project(monkeypatch, tmp_path)
    load_inventory(str(INVENTORY))  # Ansible loaded here: its start-up warnings are not ours
    return path


def command(name: str, experiment: Path, tmp_path: Path, *args: str) -> list[str]:
    cmd = [name, str(experiment), "-i", str(INVENTORY), *args]
    return [*cmd, "--runs-dir", str(tmp_path / "runs")] if name == "run" else cmd


def refused(tmp_path: Path, cmd: list[str]) -> str:
    """The one line a refused command prints; it touched nothing, and the audit log has
    a line for it when an override asked for the longer fault (a loosening), none when the
    file did."""
    code, _, stderr = chaosrun(*cmd)
    assert code == 2, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert not (tmp_path / "runs").exists()  # no run directory, no journal
    audit = tmp_path / "audit"
    if "(--set " not in stderr:
        assert not audit.exists()
        return stderr
    (entry,) = [json.loads(line) for line in audit.read_text().splitlines()]
    assert (entry["action"], entry["outcome"], entry["command"]) == ("refused", "loosened", cmd[0])
    assert entry["problems"] == [stderr.strip().removeprefix("chaosrun: error: ")]
    audit.unlink()
    return stderr


def experiment(tmp_path: Path, duration: str, ramp: str | None = None) -> Path:
    text = GOOD.read_text().replace("duration: 5s", f"duration: {duration}")
    if ramp:
        text = text.replace("  seed: 7\n", f"  seed: 7\n  ramp: {ramp}\n")
    path = tmp_path / "exp.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["validate", "plan", "run"])
def test_a_duration_over_the_ceiling_from_set_is_refused(tmp_path: Path, name: str) -> None:
    stderr = refused(tmp_path, command(name, GOOD, tmp_path, "--set", "duration=5h"))
    assert (
        f"{GOOD} (--set duration): duration: 5h is longer than the ceiling max_duration 1h "
        f"from the built-in default {RULE}"
    ) in stderr, stderr


@pytest.mark.parametrize("name", ["validate", "plan", "run"])
def test_a_file_over_the_project_ceiling_is_refused_naming_both_lines(
    tmp_path: Path, config: Path, name: str
) -> None:
    config.write_text(config.read_text() + "# the team's ceiling\nmax_duration: 10m\n")
    exp = experiment(tmp_path, "20m")
    stderr = refused(tmp_path, command(name, exp, tmp_path))
    assert (
        f"{exp}:11: duration: 20m is longer than the ceiling max_duration 10m from {config}:4 "
    ) in stderr, stderr


def test_a_ramp_counts_every_step(tmp_path: Path) -> None:
    # Three steps of 20m are the ceiling itself (steps as written: the inventory merges
    # these into one, the ceiling does not count on it); four are over it.
    code, _, stderr = chaosrun(
        *command("validate", experiment(tmp_path, "20m", "[1, 1, 1]"), tmp_path)
    )
    assert code == 0, stderr
    exp = experiment(tmp_path, "20m", "[1, 1, 1, 1]")
    stderr = refused(tmp_path, command("validate", exp, tmp_path))
    assert (
        f"{exp}:12: duration: 20m for each of 4 ramp steps (targets.ramp) keeps the fault on "
        "1h20m, which is longer than the ceiling max_duration 1h from the built-in default"
    ) in stderr, stderr
    # The --set keys that asked for it are named, the ramp's and the duration's.
    exp = experiment(tmp_path, "20m")
    stderr = refused(tmp_path, command("run", exp, tmp_path, "--set", "targets.ramp=[1,1,1,1]"))
    assert f"{exp} (--set targets.ramp): duration: 20m for each of 4 ramp steps" in stderr
    args = ["--set", "targets.ramp=[1, 1, 1, 1]", "--set", "duration=20m"]
    stderr = refused(tmp_path, command("plan", GOOD, tmp_path, *args))
    assert f"{GOOD} (--set duration, targets.ramp): duration: 20m for each of 4" in stderr


def test_a_shorter_set_runs_a_file_over_the_ceiling(tmp_path: Path) -> None:
    """The ceiling bounds what runs: a file's 2h cut to 10m by --set plans."""
    exp = experiment(tmp_path, "2h")
    refused(tmp_path, command("plan", exp, tmp_path))
    code, stdout, stderr = chaosrun(*command("plan", exp, tmp_path, "--set", "duration=10m"))
    assert code == 0, stderr
    assert "duration: 10m (ceiling: max_duration 1h from the built-in default)" in stdout
    # Also beside an override that tightens a safety field (the file is read again as filed).
    args = ["--set", "duration=10m", "--set", "blast_radius.max_hosts=1"]
    code, stdout, stderr = chaosrun(*command("plan", exp, tmp_path, *args))
    assert code == 0, stderr


def test_plan_shows_the_ceiling_beside_the_duration(tmp_path: Path, config: Path) -> None:
    config.write_text(config.read_text() + "max_duration: 30m\n")
    code, stdout, stderr = chaosrun("plan", str(GOOD), "-i", str(INVENTORY))
    assert code == 0, stderr
    assert f"duration: 5s (ceiling: max_duration 30m from {config}:3)" in stdout
    exp = experiment(tmp_path, "20s", "[1, 1, 1]")
    code, stdout, stderr = chaosrun("plan", str(exp), "-i", str(INVENTORY), "--json")
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert (doc["duration_s"], doc["fault_on_s"]) == (20, 60)
    assert doc["max_duration"] == {"s": 1800, "source": f"{config}:3"}
    code, stdout, _ = chaosrun("plan", str(exp), "-i", str(INVENTORY))
    assert "duration: 20s x 3 ramp steps = 1m (ceiling: max_duration 30m" in stdout


def test_every_shipped_experiment_fits_the_default_ceiling() -> None:
    shipped = sorted((PROJECT / "experiments").glob("*.yml"))
    scaffold = PROJECT / "chaosrun" / "ops" / "scaffold_templates" / "project" / "experiments"
    assert shipped
    for path in [*shipped, *scaffold.glob("*.yml.tmpl")]:
        exp = load_experiment(path)  # the built-in ceiling: it would raise
        held = fault_time.of(exp.duration, exp.targets.ramp)
        assert held.seconds <= fault_time.DEFAULT_S / 10, path


def test_fault_time_and_durations_read_as_written() -> None:
    assert fault_time.of(20.0).text() == "20s"
    assert fault_time.of(600.0, [1, "50%", "100%"]).text() == "10m x 3 ramp steps = 30m"
    assert [say_duration(s) for s in (0.5, 90, 3600, 5400, 86400 + 61)] == [
        "0.5s",
        "1m30s",
        "1h",
        "1h30m",
        "1d1m1s",
    ]


def test_a_drills_limit_is_its_own_duration_within_the_ceiling_else_the_ceiling() -> None:
    own = fault_time.drill_limit(600, "runbooks/x.md:4", 3600, "chaosrun.yml:31")
    assert own == fault_time.Limit(600, "duration", "runbooks/x.md:4")
    assert own.text() == "duration 10m from runbooks/x.md:4"
    ceiling = fault_time.drill_limit(None, "runbooks/x.md:1", 3600, "chaosrun.yml:31")
    assert ceiling.text() == "max_duration 1h from chaosrun.yml:31"
    assert ceiling.as_dict() == {"s": 3600, "key": "max_duration", "source": "chaosrun.yml:31"}
    # Over the ceiling the loader refuses it; were it ever asked, the ceiling still holds.
    assert fault_time.drill_limit(7200, "x.md:4", 3600, "the built-in default").seconds == 3600


def test_the_lease_never_reaches_past_the_limit() -> None:
    limit = fault_time.Limit(20, "max_duration", "chaosrun.yml:3")
    assert fault_time.arm_ttl(30, limit) == 20  # armed for no longer than the limit
    assert fault_time.arm_ttl(30, fault_time.Limit(3600, "max_duration", "")) == 30
    assert fault_time.arm_ttl(30, None) == 30
    assert fault_time.arm_ttl(30, fault_time.Limit(0.5, "duration", "")) == 1  # a role's least
    assert fault_time.lease_seconds(30, None) == 30
    assert fault_time.lease_seconds(30, 3599.5) == 30
    assert fault_time.lease_seconds(30, 12.9) == 12  # rounded down: never past it
    assert fault_time.lease_seconds(30, -4) == 0  # passed: the dead-man reverts at once


RUNBOOK = """\
---
fault: {role: testns.faults.demo_fault, vars: {demo_fault_unit: order-service.service}}
targets: {hosts: order_service, select: {count: 1}, seed: 7}
DURATION
---

# Demo down

## Look

Look at it.
"""


@pytest.mark.parametrize("own", ["", "duration: 15m", "duration: 2h"])
def test_drill_dry_run_shows_the_limit_and_a_longer_one_is_refused(
    tmp_path: Path, config: Path, own: str
) -> None:
    config.write_text(config.read_text() + "max_duration: 1h\n")
    book = tmp_path / "demo.md"
    book.write_text(RUNBOOK.replace("DURATION", own))
    runs = tmp_path / "runs"
    args = ["drill", str(book), "-i", str(INVENTORY), "--dry-run", "--runs-dir", str(runs)]
    code, stdout, stderr = chaosrun(*args)
    if own == "duration: 2h":
        assert code == 2, stderr
        assert f"{book}:4: duration: 2h is longer than the ceiling max_duration 1h from " in stderr
        assert not runs.exists()
        return
    assert code == 0, stderr
    text = "duration 15m from {book}:4" if own else "max_duration 1h from {config}:3"
    assert f"the fault stays on at most {text.format(book=book, config=config)};" in stdout
    assert "on-host lease: 30s" in stdout
    assert not runs.exists() and not (tmp_path / "audit").exists()  # touched nothing
    code, stdout, stderr = chaosrun(*args, "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["limit"]["key"] == ("duration" if own else "max_duration")
