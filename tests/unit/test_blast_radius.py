"""Blast-radius caps: hosts per run, percent of the matched group, never the whole group."""

from __future__ import annotations

import pytest

from chaosrun.base.errors import InvalidInput, Refused
from chaosrun.model import blast_radius
from chaosrun.model.blast_radius import Caps


def loc(path):
    return f"exp.yml: {'.'.join(map(str, path))}"


def test_defaults_allow_one_of_three_and_explain_why():
    decision = blast_radius.check("order_service", 3, 1, Caps())
    assert decision.allowed and decision.limit == 1
    assert any("max_percent 50% of 3 -> 1" in r for r in decision.reasons)
    assert any("never all 3 hosts" in r for r in decision.reasons)


def test_over_the_cap_is_refused_with_the_numbers():
    with pytest.raises(Refused) as exc:
        blast_radius.check("order_service", 3, 2, Caps())
    text = str(exc.value)
    assert "2 of 3 hosts" in text and "67%" in text and "cap of 1" in text
    assert exc.value.exit_code == 4


def test_never_every_host_of_a_group_by_default():
    caps = Caps(max_hosts=None, max_percent=None)
    assert blast_radius.decide("db", 2, 1, caps).allowed
    assert not blast_radius.decide("db", 2, 2, caps).allowed
    assert not blast_radius.decide("lb", 1, 1, caps).allowed


def test_experiment_may_allow_the_whole_group_and_the_decision_says_so():
    caps = Caps().override(
        {"allow_whole_group": True, "max_percent": 100}, loc, ("blast_radius",), "zone-outage.yml"
    )
    decision = blast_radius.check("zone_a", 4, 4, caps)
    assert decision.allowed
    assert any("zone-outage.yml" in r for r in decision.reasons)
    assert caps.source_of("max_hosts") == "default"


def test_max_hosts_binds_on_big_groups():
    caps = Caps(max_hosts=5, max_percent=50)
    assert blast_radius.decide("web", 100, 5, caps).allowed
    assert blast_radius.decide("web", 100, 6, caps).limit == 5


def test_empty_selection_is_refused():
    with pytest.raises(Refused, match="no host selected"):
        blast_radius.check("web", 3, 0, Caps())


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"max_hosts": 0}, "whole number >= 1"),
        ({"max_hosts": 1.5}, "whole number >= 1"),
        ({"max_percent": 150}, "percentage"),
        ({"allow_whole_group": "yes"}, "true or false"),
        ({"max_host": 3}, "unknown key"),
        ([1], "must be a mapping"),
    ],
)
def test_bad_caps_name_the_key(raw, needle):
    with pytest.raises(InvalidInput, match=needle) as exc:
        Caps.parse(raw, loc, ("blast_radius",), "chaosrun.yml")
    assert str(exc.value).startswith("exp.yml: blast_radius")
