"""A schedule's `set:` that loosens its experiment's safety is refused up front, through the
real command line: `schedule add|list|install` and `awx export` exit 2 naming the schedule
file's line, the entry and the field, and nothing is written (an earlier install stays as
it was). A `set:` that tightens goes through."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from engine_fixtures import GOOD
from engine_fixtures import main_in_process as chaosrun

GAP = "0 4 * * *"
TIGHT = """\
  - name: tight
    experiment: experiments/good.yml
    cron: "0 3 * * *"
    set: {blast_radius.max_hosts: 1, duration: 2s}
"""
LOOSE = """\
  - name: loose
    experiment: experiments/good.yml
    cron: "0 4 * * *"
    set:
      duration: 2s
      blast_radius.max_percent: 100
"""
LOOSE_LINE = 11  # of blast_radius.max_percent, with TIGHT first
LOOSENED = (
    "schedules[1].set.blast_radius.max_percent (loose): blast_radius.max_percent: 100 asked, "
    "looser than the ceiling 50 from the built-in default"
)


@pytest.fixture(name="project")
def project_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    (tmp_path / "experiments").mkdir()
    shutil.copy(GOOD, tmp_path / "experiments" / "good.yml")
    (tmp_path / "chaosrun.yml").write_text(f"audit: {{path: {tmp_path / 'audit.jsonl'}}}\n")
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    monkeypatch.delenv("CHAOSRUN_SCHEDULES", raising=False)
    monkeypatch.delenv("CHAOSRUN_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def schedules(project: Path, *entries: str) -> Path:
    path = project / "chaosrun-schedules.yml"
    path.write_text("schedules:\n" + "".join(entries))
    return path


def refused(code: int, stderr: str, path: Path) -> None:
    assert code == 2, stderr
    assert f"{path}:{LOOSE_LINE}: {LOOSENED}" in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr  # the tight entry passes


def test_install_refuses_a_loosening_entry_and_leaves_the_earlier_install(project: Path):
    path = schedules(project, TIGHT)
    cron = project / "cron.d" / "chaosrun"
    install = ("schedule", "install", "--backend", "cron", "--cron-file", str(cron))
    code, _, err = chaosrun(*install)
    assert code == 0, err
    state = project / ".chaosrun" / "schedules"
    before = {p: p.read_text() for p in (cron, *state.iterdir())}
    assert "run --scheduled tight" in before[cron]
    assert "--set blast_radius.max_hosts=1" in before[state / "tight.sh"]  # a long line's script
    schedules(project, TIGHT, LOOSE)
    refused(*chaosrun(*install)[::2], path)
    # Nothing installed, nothing removed.
    assert {p: p.read_text() for p in (cron, *state.iterdir())} == before


def test_list_and_awx_export_refuse_it(project: Path):
    path = schedules(project, TIGHT, LOOSE)
    refused(*chaosrun("schedule", "list", "--json")[::2], path)
    out = project / "awx.json"
    refused(*chaosrun("awx", "export", "-o", str(out))[::2], path)
    assert not out.exists()
    schedules(project, TIGHT)
    code, stdout, err = chaosrun("schedule", "list", "--json")
    assert code == 0, err
    assert [row["name"] for row in json.loads(stdout)] == ["tight"]


def test_add_refuses_a_loosening_set_and_writes_nothing(project: Path):
    path = schedules(project, TIGHT)
    before = path.read_text()
    add = ("schedule", "add", "loose", "--experiment", "experiments/good.yml", "--cron", GAP)
    code, _, err = chaosrun(*add, "--set", "guardrails.interval=5s")
    assert code == 2, err
    assert (
        "schedule loose (--set guardrails.interval): guardrails.interval: 5s asked, looser "
        "than 1s from"
    ) in err, err
    assert path.read_text() == before
    code, _, err = chaosrun(*add, "--set", "guardrails.interval=500ms", "--set", "duration=2s")
    assert code == 0, err
    code, stdout, err = chaosrun("schedule", "list", "--json")
    assert code == 0 and [r["name"] for r in json.loads(stdout)] == ["tight", "loose"], err
    assert "guardrails.interval: 500ms" in path.read_text()


def test_a_set_that_breaks_a_valid_experiment_is_named_too(project: Path):
    path = schedules(project, TIGHT.replace("duration: 2s", "duration: soon"))
    code, _, err = chaosrun("schedule", "list")
    assert code == 2, err
    assert f"{path}:5: schedules[0].set.blast_radius.max_hosts, set.duration (tight): " in err
    assert "(--set duration): duration:" in err and len(err.strip().splitlines()) == 1, err


def test_an_entry_is_held_to_the_chaosrun_yml_its_slots_read(project: Path):
    (project / "strict.yml").write_text("blast_radius: {max_hosts: 1}\n")
    entry = (
        TIGHT.replace("max_hosts: 1", "max_hosts: 2") + "    env: {CHAOSRUN_CONFIG: strict.yml}\n"
    )
    path = schedules(project, entry)
    code, _, err = chaosrun("schedule", "list")
    assert code == 2, err
    assert (
        f"{path}:5: schedules[0].set.blast_radius.max_hosts (tight): blast_radius.max_hosts: "
        f"2 asked, looser than the ceiling 1 from {project / 'strict.yml'}"
    ) in err, err
    schedules(project, entry.replace("    env: {CHAOSRUN_CONFIG: strict.yml}\n", ""))
    assert chaosrun("schedule", "list")[0] == 0  # the project's chaosrun.yml has no such cap


def test_a_set_that_asks_a_longer_fault_than_max_duration_is_refused(project: Path):
    (project / "chaosrun.yml").write_text(
        f"audit: {{path: {project / 'audit.jsonl'}}}\nmax_duration: 10m\n"
    )
    path = schedules(project, TIGHT.replace("duration: 2s", "duration: 5h"))
    code, _, err = chaosrun("schedule", "list")
    assert code == 2, err
    assert f"{path}:5: schedules[0].set.blast_radius.max_hosts, set.duration (tight): " in err
    assert "duration: 5h is longer than the ceiling max_duration 10m from" in err, err
    add = ("schedule", "add", "long", "--experiment", "experiments/good.yml", "--cron", GAP)
    schedules(project, TIGHT)
    code, _, err = chaosrun(*add, "--set", "duration=2h")
    assert code == 2 and "schedule long (--set duration): " in err, err
    assert "long" not in path.read_text()
