"""The experiment's safety fields as validate/plan see them: blast radius with numbers,
ramps checked at their largest step, blackout windows checked with file and line."""

from __future__ import annotations

import pytest
from engine_fixtures import COLLECTIONS, GOOD, INVENTORY

from chaosrun.base.errors import InvalidInput, Refused
from chaosrun.hosts import rolespec
from chaosrun.hosts.inventory import load_inventory
from chaosrun.model.experiment import load_experiment
from chaosrun.plan.validation import check


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
    (tmp_path / "chaosrun.yml").write_text("")
    monkeypatch.setenv("CHAOSRUN_CONFIG", str(tmp_path / "chaosrun.yml"))
    rolespec.load_role.cache_clear()


def run_check(*overrides: str):
    return check(load_experiment(GOOD, list(overrides)), load_inventory(str(INVENTORY)))


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


def test_the_experiment_may_raise_its_caps():
    decision = run_check(
        "targets.ramp=[1, 2, '100%']", "blast_radius={max_percent: 100, allow_whole_group: true}"
    ).blast_radius
    assert decision.selected == 3 and decision.allowed
    assert any(str(GOOD) in reason for reason in decision.reasons)


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
