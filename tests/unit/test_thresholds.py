"""The threshold rule: parsing, limits, breaches, and the collection's probe modules
judging the same cases the same way when a playbook hands them `limit(baseline)`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ansible_collections.chaosrun.chaos.tests.unit.plugins.modules.fakehttp import (
    FakeHTTP,
    vector,
)
from ansible_collections.chaosrun.chaos.tests.unit.plugins.modules.test_probe_modules import (
    run_module,
)

from chaosrun.base.thresholds import Amount, Limit, Threshold, parse_amount

# (thresholds, value, baseline, which one breaks or "" when the value holds)
CASES = [
    ({"max": 1.0}, 1.0, None, ""),
    ({"max": 1.0}, 1.5, None, "above max 1.0"),
    ({"min": 2.0}, 1.5, None, "below min 2.0"),
    ({"min": 2.0}, 2.0, None, ""),
    ({"max": 0.5, "min": 0.1}, 0.05, None, "below min 0.1"),
    ({"max_increase": "50%"}, 1.5, 1.0, ""),
    ({"max_increase": "50%"}, 1.51, 1.0, "increase over baseline 1 beyond 50%"),
    ({"max_increase": 0.1}, 1.2, 1.0, "increase over baseline 1 beyond 0.1"),
    ({"max_increase": "100%"}, -0.5, -2.0, ""),  # a percentage of the baseline's size
    ({"max_increase": "100%"}, 0.5, -2.0, "increase over baseline -2 beyond 100%"),
    ({"max_decrease": "10%"}, 0.8, 1.0, "decrease from baseline 1 beyond 10%"),
    ({"max_decrease": 0.5}, 0.6, 1.0, ""),
    ({"max_decrease": "50%"}, 4.0, 10.0, "decrease from baseline 10 beyond 50%"),
    ({"max": 12.0, "max_increase": "50%"}, 13.0, 10.0, "above max 12.0"),
    ({"max": 20.0, "max_increase": "50%"}, 16.0, 10.0, "increase over baseline 10 beyond 50%"),
    ({"min": 1.0, "max_decrease": 2.0}, 7.0, 10.0, "decrease from baseline 10 beyond 2.0"),
    ({"max_increase": "0%"}, 10.0, 10.0, ""),
    ({"max_increase": "0%"}, 10.01, 10.0, "increase over baseline 10 beyond 0%"),
]


@pytest.mark.parametrize("written, value, baseline, reason", CASES)
def test_breached_names_the_threshold(written, value, baseline, reason) -> None:
    assert Threshold.parse(written).breached(value, baseline) == reason


@pytest.fixture(scope="module")
def prometheus() -> Iterator[FakeHTTP]:
    server = FakeHTTP().start()
    yield server
    server.stop()


@pytest.mark.parametrize("written, value, baseline, reason", CASES)
def test_collection_probe_module_judges_the_same(
    prometheus: FakeHTTP, tmp_path: Path, written, value, baseline, reason
) -> None:
    """The collection cannot import chaosrun: its prometheus_probe judges `min`/`max`, and
    the limit this rule derives from a baseline makes it judge each case the same way."""
    limit = Threshold.parse(written).limit(baseline)
    prometheus.route("/api/v1/query", (200, vector(value), 0))
    bounds = {k: v for k, v in (("min", limit.low), ("max", limit.high)) if v is not None}
    rc, out = run_module(
        "prometheus_probe", tmp_path, url=prometheus.url, query="q", fail_on=[], **bounds
    )
    assert rc == 0 and out["verdict"] == ("BREACH" if reason else "PASS"), out


def test_relative_thresholds_need_a_baseline() -> None:
    threshold = Threshold.parse({"max": 5.0, "max_increase": "50%"})
    assert threshold.relative and not Threshold.parse({"max": 5.0}).relative
    assert threshold.limit(None) == Limit(None, 5.0)
    assert threshold.breached(100.0, None) == "above max 5.0"
    assert Threshold.parse({"max_decrease": "50%"}).breached(-100.0, None) == ""


def test_amounts_parse_once() -> None:
    assert parse_amount("50%") == Amount(50.0, True)
    assert parse_amount(" 12.5% ") == Amount(12.5, True)
    assert parse_amount(3) == Amount(3.0, False)
    assert parse_amount("3") == Amount(3.0, False)  # as older journals may hold it
    for bad in ("-5%", "x%", "inf%", "%", True, None, "many"):
        with pytest.raises(ValueError, match="expected a number"):
            parse_amount(bad)


def test_strict_parse_refuses_and_lenient_drops_a_bad_value() -> None:
    with pytest.raises(ValueError, match="percentage like 50%"):
        Threshold.parse({"max_increase": "lots"})
    lenient = Threshold.parse({"max": "high", "max_increase": "lots", "min": 1}, strict=False)
    assert lenient.limit(10.0) == Limit(1.0, None)
    assert lenient.written["max"] == "high"  # kept as written for texts
