"""The ceiling on how long a fault stays on (chaosrun.yml `max_duration`,
chaosrun.model.fault_time): an experiment's duration, times its ramp steps, from its file or
`--set`, above it is refused by `validate`, `plan` and `run` through the real command line
(exit 2, one line naming the place, the value, the ceiling and its source, nothing
touched); `plan` shows the ceiling beside the duration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_fixtures import COLLECTIONS, GOOD, INVENTORY
from engine_fixtures import main_in_process as chaosrun

from chaosrun.base.durations import say_duration
from chaosrun.hosts import rolespec
from chaosrun.hosts.inventory import load_inventory
from chaosrun.model import fault_time
from chaosrun.model.experiment import load_experiment

PROJECT = Path(__file__).resolve().parents[2]
RULE = "(the longest a fault may stay on in one run"


@pytest.fixture(autouse=True)
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
    monkeypatch.setenv("CHAOSRUN_PROMETHEUS_URL", "http://127.0.0.1:9")
    path = tmp_path / "chaosrun.yml"
    path.write_text(f"run_dir: {tmp_path / 'runs'}\naudit: {{path: {tmp_path / 'audit'}}}\n")
    monkeypatch.setenv("CHAOSRUN_CONFIG", str(path))
    rolespec.load_role.cache_clear()
    load_inventory(str(INVENTORY))  # Ansible loaded here: its start-up warnings are not ours
    return path


def command(name: str, experiment: Path, tmp_path: Path, *args: str) -> list[str]:
    cmd = [name, str(experiment), "-i", str(INVENTORY), *args]
    return [*cmd, "--runs-dir", str(tmp_path / "runs")] if name == "run" else cmd


def refused(tmp_path: Path, cmd: list[str]) -> str:
    """The one line a refused command prints; it touched nothing."""
    code, _, stderr = chaosrun(*cmd)
    assert code == 2, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert not (tmp_path / "runs").exists()  # no run directory, no journal
    assert not (tmp_path / "audit").exists()
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
