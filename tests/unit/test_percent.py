"""The one "hosts for a percent" count, and the selection, ramp and cap that use it."""

from __future__ import annotations

import pytest

from chaosrun.base.percent import hosts_for_percent
from chaosrun.model import blast_radius, ramp_steps
from chaosrun.model.blast_radius import Caps
from chaosrun.plan.targets import choose

# (hosts, percent, a selection's count, a cap's count)
CASES = [
    (10, 30, 3, 3),  # 30% of 10 is 3, not 2.9999 rounded down
    (3, 50, 1, 1),
    (5, 60, 3, 3),
    (4, 25, 1, 1),
    (7, 10, 1, 0),  # a selection takes at least one host; a cap may allow none
    (1, 50, 1, 0),
    (20, 100, 20, 20),
    (3, 0.1, 1, 0),
]


@pytest.mark.parametrize("total, percent, selected, capped", CASES)
def test_count_rounds_down_with_a_floor(total, percent, selected, capped) -> None:
    assert hosts_for_percent(total, percent) == selected
    assert hosts_for_percent(total, percent, at_least=0) == capped


@pytest.mark.parametrize("total, percent, selected, capped", CASES)
def test_selection_ramp_and_cap_count_alike(total, percent, selected, capped) -> None:
    hosts = [f"h{i}" for i in range(total)]
    assert len(choose(hosts, "percent", percent, 7)) == selected
    assert ramp_steps.host_counts([f"{percent}%"], total) == [selected]
    caps = Caps(max_hosts=None, max_percent=percent, allow_whole_group=True)
    assert blast_radius.limit_for(total, caps)[0] == capped
