"""The experiment's safety fields as validate/plan see them: blast radius with numbers,
ramps checked at their largest step, blackout windows checked with file and line; caps an
experiment file may raise and a `--set` may only lower."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_fixtures import COLLECTIONS, GOOD, INVENTORY

from chaosrun.base.errors import InvalidInput, Refused
from chaosrun.hosts import rolespec
from chaosrun.hosts.inventory import load_inventory
from chaosrun.model.experiment import load_experiment
from chaosrun.plan.planning import load_plan
from chaosrun.plan.validation import check


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
    (tmp_path / "chaosrun.yml").write_text("")
    monkeypatch.setenv("CHAOSRUN_CONFIG", str(tmp_path / "chaosrun.yml"))
    rolespec.load_role.cache_clear()


def inventory():
    return load_inventory(str(INVENTORY))


def run_check(*overrides: str):
    return check(load_experiment(GOOD, list(overrides)), inventory())


def test_the_decision_is_in_the_report():
    decision = run_check().blast_radius
    assert decision is not None and decision.allowed
    assert (decision.selected, decision.matched, decision.limit) == (1, 3, 1)


@pytest.mark.parametrize(
    ("override", "numbers"),
    [
        ("targets.select={count: 2}", "2 of 3 hosts"),
        ("targets.select={percent: 100}", "3 of 3 hosts"),
        ("targets.select=all", "3 of 3 hosts"),
        ("targets.ramp=[1, 2]", "2 of 3 hosts"),
    ],
)
def test_over_the_cap_is_refused_with_the_numbers(override, numbers):
    with pytest.raises(Refused) as exc:
        run_check(override)
    assert numbers in str(exc.value) and "cap of 1" in str(exc.value)


def raised_caps(tmp_path) -> Path:
    """GOOD with caps of its own, looser than the project's (as zone-outage.yml has)."""
    exp = tmp_path / "raised.yml"
    exp.write_text(
        GOOD.read_text()
        + "blast_radius: {max_hosts: 3, max_percent: 100, allow_whole_group: true}\n"
    )
    return exp


def test_the_experiment_file_may_raise_its_caps(tmp_path):
    exp = raised_caps(tmp_path)
    report = check(load_experiment(exp, ["targets.ramp=[1, 2, '100%']"]), inventory())
    decision = report.blast_radius
    assert decision.selected == 3 and decision.allowed
    assert any(str(exp) in reason for reason in decision.reasons)


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("blast_radius.max_hosts=6", "max_hosts: 6 asked, looser than the ceiling 5"),
        (
            "blast_radius.max_hosts=null",
            "max_hosts: null (no cap) asked, looser than the ceiling 5",
        ),
        ("blast_radius.max_percent=100", "max_percent: 100 asked, looser than the ceiling 50"),
        (
            "blast_radius.allow_whole_group=true",
            "allow_whole_group: true asked, looser than the ceiling false",
        ),
        ("blast_radius.max_zones=2", "max_zones: 2 asked, looser than the ceiling 1"),
        (
            "blast_radius.allow_all_zones=true",
            "allow_all_zones: true asked, looser than the ceiling false",
        ),
    ],
)
def test_an_override_may_not_raise_a_cap(override, needle):
    key = override.partition("=")[0]
    with pytest.raises(InvalidInput) as exc:
        run_check(override)
    assert f"{GOOD} (--set {key}): blast_radius.{needle} from the built-in default" in str(
        exc.value
    )
    assert exc.value.exit_code == 2


def test_the_ceiling_is_the_experiment_file_when_it_sets_the_cap(tmp_path):
    exp = raised_caps(tmp_path)
    with pytest.raises(InvalidInput) as exc:
        check(load_experiment(exp, ["blast_radius.max_hosts=4"]), inventory())
    assert f"max_hosts: 4 asked, looser than the ceiling 3 from {exp}" in str(exc.value)
    # a whole mapping replaces the file's: the project's caps fill in, tighter here
    caps = check(load_experiment(exp, ["blast_radius={max_hosts: 2}"]), inventory()).caps
    assert (caps.max_hosts, caps.max_percent, caps.allow_whole_group) == (2, 50, False)
    exp.write_text(GOOD.read_text() + "blast_radius: {max_hosts: 2}\n")
    # ... and looser there, which is refused
    with pytest.raises(InvalidInput, match="max_hosts: 5 asked, looser than the ceiling 2"):
        check(load_experiment(exp, ["blast_radius={max_percent: 10}"]), inventory())


def test_the_ceiling_from_chaosrun_yml_is_named(tmp_path, monkeypatch):
    config = tmp_path / "chaosrun.yml"
    config.write_text("blast_radius: {max_hosts: 2}\n")
    monkeypatch.setenv("CHAOSRUN_CONFIG", str(config))
    with pytest.raises(InvalidInput) as exc:
        load_plan(GOOD, INVENTORY, ["blast_radius.max_hosts=3"])
    assert f"max_hosts: 3 asked, looser than the ceiling 2 from {config}" in str(exc.value)


def test_a_tighter_override_works_and_plan_names_it():
    report = run_check("blast_radius.max_hosts=1", "blast_radius.max_percent=40")
    assert report.caps.max_hosts == 1 and report.caps.max_percent == 40
    assert report.caps.source_of("max_hosts") == "--set blast_radius.max_hosts"
    assert report.blast_radius.allowed
    assert any(
        "max_percent 40% of 3 -> 1 (--set blast_radius.max_percent)" in r
        for r in report.blast_radius.reasons
    )


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("targets.ramp=[1, zero]", "targets.ramp"),
        ("blackout_windows=[{name: x, cron: '0 2 * *', length: 1h}]", "5 fields"),
        ("blackout_windows=[{name: x, weekly: {start: 'Fri 18:00'}}]", "weekly needs"),
    ],
)
def test_bad_safety_fields_are_invalid_input(override, needle):
    with pytest.raises(InvalidInput, match=needle):
        run_check(override)
