"""Whole-zone targets and the zone caps: selection by the hosts' `zone` variable, caps
that count zones (never every zone), and zones refused whole rather than trimmed."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_fixtures import COLLECTIONS, GOOD, INVENTORY

from chaosrun.base.errors import InvalidInput, Refused
from chaosrun.hosts import rolespec
from chaosrun.hosts.inventory import load_inventory
from chaosrun.model import blast_radius, zones
from chaosrun.model.blast_radius import Caps
from chaosrun.model.experiment import load_experiment
from chaosrun.plan.targets import select_hosts
from chaosrun.plan.validation import check

# The fixture inventory: order-1, order-3, payment-1 in zone_a; order-2, db-1 in zone_b.
# Selections keep the inventory's order (Ansible's for the pattern `lab`).
ZONE_A = ["order-1", "order-3", "payment-1"]
ZONE_B = ["db-1", "order-2"]


@pytest.fixture(autouse=True)
def _collections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
    rolespec.load_role.cache_clear()


def experiment(tmp_path: Path, targets: str, blast: str = "") -> Path:
    """The fixture experiment with other targets (and blast_radius)."""
    text = GOOD.read_text().replace(
        "targets:\n  hosts: order_service\n  select: {count: 1}\n  seed: 7\n", targets
    )
    path = tmp_path / "zone.yml"
    path.write_text(text + blast)
    return path


NAMED = "targets:\n  hosts: lab\n  zones: [zone_a]\n"


def test_named_zone_selects_every_host_of_it(tmp_path: Path) -> None:
    exp = load_experiment(experiment(tmp_path, NAMED))
    assert exp.targets.mode == "zones" and exp.targets.zones == ("zone_a",)
    sel = select_hosts(exp.targets, load_inventory(str(INVENTORY)))
    assert sel.selected == ZONE_A
    assert sel.selected_zones == ("zone_a",)
    assert sel.zone_counts() == (1, 2)
    assert zones.journal_fields(sel)["zones"]["hosts"]["zone_b"] == ZONE_B


def test_random_zone_is_whole_and_reproducible(tmp_path: Path) -> None:
    path = experiment(tmp_path, "targets:\n  hosts: lab\n  zones: {count: 1}\n")
    spec = load_experiment(path).targets
    inventory = load_inventory(str(INVENTORY))
    picks = {tuple(select_hosts(spec, inventory, seed).selected) for seed in range(20)}
    assert picks == {tuple(ZONE_A), tuple(ZONE_B)}
    assert select_hosts(spec, inventory, 5).selected == select_hosts(spec, inventory, 5).selected


def test_excluded_hosts_stay_out_of_their_zone(tmp_path: Path) -> None:
    path = experiment(tmp_path, NAMED + "  exclude: [payment-1]\n")
    sel = select_hosts(load_experiment(path).targets, load_inventory(str(INVENTORY)))
    assert sel.selected == ["order-1", "order-3"] and sel.excluded == ["payment-1"]


@pytest.mark.parametrize(
    ("targets", "needle"),
    [
        (NAMED + "  select: all\n", "targets.select: targets.zones takes whole zones; drop select"),
        (NAMED + "  ramp: [1, 2]\n", "targets.ramp: targets.zones takes whole zones; drop ramp"),
        ("targets:\n  hosts: lab\n  zones: []\n", "name at least one zone"),
        ("targets:\n  hosts: lab\n  zones: {count: 0}\n", "targets.zones.count"),
        ("targets:\n  hosts: lab\n  zones: {pick: 1}\n", "targets.zones"),
    ],
)
def test_bad_zone_targets_name_the_field(tmp_path: Path, targets: str, needle: str) -> None:
    with pytest.raises(InvalidInput) as info:
        load_experiment(experiment(tmp_path, targets))
    assert needle in str(info.value)
    assert f"{tmp_path / 'zone.yml'}:" in str(info.value)


def test_unknown_zone_and_hosts_without_zone_are_refused() -> None:
    known = {"zone_a": ["a1"], "zone_b": ["b1"]}
    with pytest.raises(Refused, match="no matched host is in zone_c"):
        zones.choose_zones(known, ["zone_c"], 0, None)
    with pytest.raises(Refused, match="asked for 3 zones but the hosts span only 2"):
        zones.choose_zones(known, [], 3, None)

    class Vars:
        def host_vars(self, name: str) -> dict:
            return {"zone": "zone_a"} if name == "a1" else {}

    with pytest.raises(Refused, match="b1 have no `zone` variable"):
        zones.zone_map(Vars(), ["a1", "b1"])


def test_zone_caps_never_take_every_zone() -> None:
    caps = Caps(max_hosts=None, max_percent=None, allow_whole_group=True)
    one = blast_radius.check("lab", 5, 3, caps, zones=(1, 2))
    assert one.allowed and one.zone_limit == 1
    assert "in 1 of 2 zones" in one.summary()
    assert one.as_dict()["zones_selected"] == 1
    with pytest.raises(Refused) as info:
        blast_radius.check("lab", 5, 5, caps, zones=(2, 2))
    assert "never all 2 zones -> 1" in str(info.value)
    three = blast_radius.decide("lab", 9, 6, replace_caps(caps, max_zones=2), zones=(2, 3))
    assert three.allowed and three.zone_limit == 2


def replace_caps(caps: Caps, **changes: object) -> Caps:
    return Caps().override(
        {"allow_whole_group": True, "max_hosts": None, "max_percent": None, **changes},
        lambda at: ".".join(map(str, at)),
        ("blast_radius",),
        "test",
    )


def test_zone_caps_parse_and_say_where_they_came_from() -> None:
    caps = Caps().override(
        {"max_zones": 2, "allow_all_zones": True}, lambda at: "x", ("blast_radius",), "exp.yml"
    )
    assert caps.max_zones == 2 and caps.allow_all_zones
    assert caps.source_of("max_zones") == "exp.yml"
    with pytest.raises(InvalidInput, match="must be a whole number"):
        Caps().override({"max_zones": 0}, lambda at: "x", ("b",), "e")
    with pytest.raises(InvalidInput, match="must be true or false"):
        Caps().override({"allow_all_zones": "yes"}, lambda at: "x", ("b",), "e")


def test_a_zone_over_the_host_cap_is_refused_whole_not_trimmed(tmp_path: Path) -> None:
    """Default caps: at most 50% of the 5 matched hosts (2); zone_a has 3: refused."""
    path = experiment(tmp_path, NAMED)
    with pytest.raises(Refused) as info:
        check(load_experiment(path), load_inventory(str(INVENTORY)))
    assert "3 of 5 hosts" in str(info.value) and "in 1 of 2 zones" in str(info.value)
    blast = "blast_radius: {max_percent: 60, max_zones: 1}\n"
    report = check(
        load_experiment(experiment(tmp_path, NAMED, blast)), load_inventory(str(INVENTORY))
    )
    assert report.blast_radius is not None and report.blast_radius.allowed


def test_random_zones_are_capped_by_the_largest_zone(tmp_path: Path) -> None:
    path = experiment(
        tmp_path, "targets:\n  hosts: lab\n  zones: {count: 1}\n", "blast_radius: {max_hosts: 2}\n"
    )
    with pytest.raises(Refused, match="3 of 5 hosts"):
        check(load_experiment(path), load_inventory(str(INVENTORY)))


def test_plan_says_which_zone_goes_down_and_which_survives(tmp_path: Path) -> None:
    exp = load_experiment(experiment(tmp_path, NAMED))
    sel = select_hosts(exp.targets, load_inventory(str(INVENTORY)))
    lines = zones.plan_lines(sel)
    assert lines[0] == "zone zone_a: taken down whole (order-1, order-3, payment-1)"
    assert lines[1].startswith("zone zone_b: survives")
    assert (
        zones.plan_lines(
            select_hosts(load_experiment(GOOD).targets, load_inventory(str(INVENTORY)))
        )
        == []
    )
