"""The JSON summary (`chaosrun report --format json`) carries what a bot gates on."""

from __future__ import annotations

import report_journals as rj
from test_report_junit import ALERTS

from chaosrun.report.summary import summarize


def test_the_summary_says_which_expected_alerts_fired():
    found = summarize({**rj.journal("passed"), "alerts": ALERTS})["alerts"]
    assert [(a["name"], a["fired"]) for a in found["expected"]] == [
        ("InstanceDown", True),
        ("OrderErrors", False),
    ]
    assert found["expected"][0]["hosts"] == ["order-1"]
    assert [u["name"] for u in found["unexpected"]] == ["DiskFull"]
    assert found["silences_expired"] is True


def test_no_alerts_section_without_expected_alerts():
    assert summarize(rj.journal("passed"))["alerts"] is None
