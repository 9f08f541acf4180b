"""A selection over the blast-radius cap is refused by validate, plan and run, with numbers."""

from __future__ import annotations

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    Project,
    project_fixture,
    safety_lab_fixture,
    stop_one_order,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e]


def test_over_the_cap_is_refused_everywhere_with_the_numbers(project: Project):
    text = stop_one_order(duration="10s").replace("select: {count: 1}", "select: {count: 2}")
    exp = project.experiment("two", text)
    inv = str(project.lab.inventory)
    for command in ("validate", "plan", "run"):
        done = project.chaosrun(command, str(exp), "-i", inv)
        assert done.returncode == 4, (command, done.stdout, done.stderr)
        assert "2 of 3 hosts" in done.stderr and "cap of 1" in done.stderr, done.stderr
        assert "max_percent 50% of 3 -> 1" in done.stderr
    assert [e["action"] for e in project.audit()] == ["refused"]
    project.assert_no_active_fault()


def test_plan_shows_the_cap_decision(project: Project):
    exp = project.experiment("one", stop_one_order(duration="10s"))
    done = project.chaosrun("plan", str(exp), "-i", str(project.lab.inventory))
    assert done.returncode == 0, done.stderr
    assert "1 of 3 hosts" in done.stdout and "within the blast-radius cap of 1" in done.stdout
