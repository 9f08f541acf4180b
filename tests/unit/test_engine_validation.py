"""Checks against the world: role and its argument specs, inventory patterns, detection time."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_fixtures import COLLECTIONS, GOOD, INVENTORY

from chaosrun.base.errors import InvalidInput, Refused
from chaosrun.hosts import rolespec
from chaosrun.hosts.inventory import load_inventory
from chaosrun.model.experiment import load_experiment
from chaosrun.plan.targets import choose, select_hosts
from chaosrun.plan.validation import check, query_window


@pytest.fixture(autouse=True)
def _collections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
    rolespec.load_role.cache_clear()


def inventory():
    return load_inventory(str(INVENTORY))


def problems(overrides: list[str]) -> str:
    with pytest.raises(InvalidInput) as info:
        check(load_experiment(GOOD, overrides), inventory())
    return str(info.value)


def test_good_experiment_passes_with_detection_times() -> None:
    report = check(load_experiment(GOOD), inventory())
    assert report.matched == ["order-1", "order-2", "order-3"]
    rows = {name: seconds for name, seconds, _ in report.detection}
    # scrape 1 + window 2 + interval 1 x 1 + timeout 1
    assert rows["error ratio under 5%"] == pytest.approx(5.0)
    assert rows["latency not much above baseline"] == pytest.approx(13.0)
    assert len(report.warnings) == 1
    assert "rate window 2s is shorter than four scrape intervals (4s)" in report.warnings[0]


def test_missing_role_is_named() -> None:
    text = problems(["fault.role=testns.faults.nope"])
    assert "fault.role: role testns.faults.nope is not installed" in text


def test_role_vars_checked_against_argument_specs() -> None:
    text = problems(["fault.vars.demo_fault_count=many", "fault.vars.bogus=1"])
    assert "(--set fault.vars.bogus): fault.vars.bogus: not an option of" in text
    assert "fault.vars.demo_fault_count" in text and "int" in text


def test_required_role_var_missing(tmp_path: Path) -> None:
    path = tmp_path / "exp.yml"
    path.write_text(GOOD.read_text().replace("demo_fault_unit: order-service.service", "{}"))
    path.write_text(
        GOOD.read_text().replace("    demo_fault_unit: order-service.service\n", "    {}\n")
    )
    with pytest.raises(InvalidInput, match="missing required arguments: demo_fault_unit"):
        check(load_experiment(path), inventory())


def test_host_pattern_must_match() -> None:
    assert "pattern 'web' matches no host" in problems(["targets.hosts=web"])
    assert "'db-9' matches no host" in problems(["targets.exclude=db-9"])


def test_query_window_is_the_longest_range() -> None:
    assert query_window("rate(a[15s]) / rate(b[1m])") == 60.0
    assert query_window("max_over_time(up[5m:30s])") == 300.0
    assert query_window("up") == 0.0


def test_selection_is_reproducible_and_excludes() -> None:
    exp = load_experiment(GOOD, ["targets.seed=3", "targets.exclude=order-1"])
    first = select_hosts(exp.targets, inventory())
    again = select_hosts(exp.targets, inventory())
    assert first.selected == again.selected and len(first.selected) == 1
    assert "order-1" not in first.selected and first.excluded == ["order-1"]


def test_selection_modes() -> None:
    hosts = [f"h{i}" for i in range(10)]
    assert len(choose(hosts, "percent", 25, 1)) == 2
    assert len(choose(hosts, "percent", 1, 1)) == 1
    assert choose(hosts, "all", 100, None) == hosts
    with pytest.raises(Refused, match="asked for 11 hosts but only 10 match"):
        choose(hosts, "count", 11, 1)


def test_the_old_lease_key_is_warned_about() -> None:
    report = check(load_experiment(GOOD, ["ttl_margin=1m"]), inventory())
    assert any(
        "(--set ttl_margin): ttl_margin: deprecated, write lease_ttl" in w for w in report.warnings
    ), report.warnings


def test_a_role_without_every_entry_point_is_named(tmp_path) -> None:
    from chaosrun.hosts.rolespec import RoleSpec

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "inject.yml").write_text("[]\n")
    (tasks / "verify.yaml").write_text("[]\n")
    role = RoleSpec(fqcn="ns.col.half", path=tmp_path, entry_points={})
    assert role.missing_entry_points() == ["rollback"]
