"""Impact figures from steady-state samples: the time-beyond computation, the two recovery
figures, and the sentence in the probe's own words and units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import report_journals as rj

from chaosrun.report import impact, impact_text

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def series(*verdicts: str, step: float = 1.0) -> list[tuple[datetime, str]]:
    return [(T0 + timedelta(seconds=i * step), v) for i, v in enumerate(verdicts)]


def test_never_left_is_zero_with_no_crossing():
    got = impact.time_beyond(series("PASS", "PASS", "PASS"), 1.0)
    assert (got.seconds, got.unknown_s, got.first_at, got.back_at) == (0.0, 0.0, None, None)


def test_a_dip_counts_each_breach_sample_until_the_next_sample():
    got = impact.time_beyond(series("PASS", "BREACH", "BREACH", "BREACH", "PASS", "PASS"), 1.0)
    assert got.seconds == 3.0
    assert got.first_at == T0 + timedelta(seconds=1)
    assert got.back_at == T0 + timedelta(seconds=4)


def test_uneven_gaps_count_as_they_fell():
    at = [T0 + timedelta(seconds=s) for s in (0, 2.5, 3.2)]
    samples = list(zip(at, ("BREACH", "BREACH", "PASS"), strict=True))
    assert impact.time_beyond(samples, 1.0).seconds == 3.2


def test_never_came_back_has_no_back_time_and_counts_the_last_interval():
    got = impact.time_beyond(series("PASS", "BREACH", "BREACH"), 0.5)
    assert got.seconds == 1.5 and got.back_at is None


def test_unknown_samples_are_neither_beyond_nor_back():
    got = impact.time_beyond(series("BREACH", "UNKNOWN", "UNKNOWN", "PASS"), 1.0)
    assert (got.seconds, got.unknown_s) == (1.0, 2.0)
    assert got.back_at == T0 + timedelta(seconds=3)  # the first PASS, not the first unknown


def test_a_breach_after_coming_back_moves_the_back_time():
    got = impact.time_beyond(series("BREACH", "PASS", "BREACH", "PASS"), 1.0)
    assert got.seconds == 2.0 and got.back_at == T0 + timedelta(seconds=3)


def test_one_sample_holds_for_one_interval():
    assert impact.time_beyond(series("BREACH"), 2.0).seconds == 2.0
    assert impact.time_beyond(series("PASS"), 2.0).seconds == 0.0
    assert impact.time_beyond([], 2.0).seconds == 0.0


def _journal(fault: list[float | None], after: list[float | None]) -> dict:
    """rj's run, with steady-state samples every second through the fault (inject at 4 s,
    rollback at 11 s) and after it (from 11 s on)."""
    data = rj.journal("passed")
    probe = data["probes"][0]
    before = [s for s in probe["samples"] if s["phase"] == "steady_state_before"]
    probe["samples"] = (
        before + rj._samples("observe", 4, fault, 0.01) + rj._samples("recovery", 11, after, 0.01)
    )
    guard = data["probes"][1]
    guard.update(name="error ratio order under 5%", threshold={"max": 0.05})
    return data


def test_self_healing_while_the_fault_is_on():
    data = _journal([0.0, 0.03, 0.042, 0.02, 0.0, 0.0, 0.0], [0.0, 0.0])
    found = impact.summarize(data, 1.0)
    (entry,) = found["probes"]
    assert entry["worst"] == 0.042 and entry["beyond_s"] == 3.0
    assert entry["back_within_at"] == rj.at(8)
    assert found["self_healing_s"] == 4.0  # inject at 4 s, back within at 8 s
    assert found["after_rollback_s"] == 0.0  # nothing left the limits after rollback
    text = impact_text.sentence(data, found)
    assert text == (
        "error ratio order above 1% for 3.0 s, up to 4.2%, below the 5% guardrail; "
        "healed by itself in 4.0 s"
    )


def test_no_self_healing_then_recovery_after_rollback():
    data = _journal([0.0, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03], [0.03, 0.02, 0.0, 0.0])
    found = impact.summarize(data, 1.0)
    assert found["self_healing_s"] is None
    assert found["after_rollback_s"] == 2.0  # rollback at 11 s, back within at 13 s
    assert "did not heal while the fault was on" in impact_text.sentence(data, found)
    assert "back within the limits 2.0 s after rollback" in impact_text.sentence(data, found)


def test_never_recovered_is_none_not_zero():
    data = _journal([0.03] * 7, [0.03, 0.03])
    found = impact.summarize(data, 1.0)
    assert found["self_healing_s"] is None and found["after_rollback_s"] is None
    assert "not back within the limits after rollback" in impact_text.sentence(data, found)


def test_zero_seconds_only_when_nothing_left_the_limits():
    data = _journal([0.0, 0.001, None, 0.0, 0.0, 0.0, 0.0], [0.0])
    found = impact.summarize(data, 1.0)
    assert found["left_limits"] is False
    assert (found["self_healing_s"], found["after_rollback_s"]) == (0.0, 0.0)
    assert found["probes"][0]["beyond_s"] == 0.0 and found["probes"][0]["unknown_s"] == 1.0
    assert "held throughout" in impact_text.sentence(data, found)


def test_no_impact_without_samples_during_the_run():
    data = rj.journal("refused")
    data["phases"] = [p for p in data["phases"] if p["name"] in ("validate", "preflight")]
    assert impact.summarize(data) is None
    assert "not sampled" in impact_text.sentence(data, None)


def test_the_recorded_impact_wins_over_a_rebuild():
    data = _journal([0.03] * 7, [0.0])
    data["impact"] = {"probes": [], "left_limits": False, "summary": "as recorded"}
    assert impact.of(data)["summary"] == "as recorded"


def test_units_come_from_the_name():
    assert impact_text._unit("p99 under 500ms", 0.5) == (1000.0, "ms")
    assert impact_text._unit("user error ratio under 1%", 0.01) == (100.0, "%")
    assert impact_text._unit("p99 under 2s", 2.0) == (1.0, "s")
    assert impact_text._unit("traffic flowing", 5.0) == (1.0, "")
    assert impact_text._unit("lag under 3 s", 7.0) == (1.0, "")  # not this limit


def test_a_latency_probe_speaks_of_latency_in_its_unit():
    entry = {"name": "p99 under 500ms", "limits": {"max": 0.5}, "worst": 0.84, "beyond_s": 2.0}
    data = {"probes": []}
    clause = impact_text.probe_clause(data, entry)
    assert clause == "p99 above 500ms for 2.0 s, up to 840ms"
    assert "error" not in clause


def test_a_lower_limit_reads_below_and_down_to():
    entry = {"name": "traffic flowing", "limits": {"min": 5.0}, "worst": 2.5, "beyond_s": 1.0}
    guard = {"name": "traffic flowing", "role": "guardrail", "threshold": {"min": 1.0}}
    clause = impact_text.probe_clause({"probes": [guard]}, entry)
    assert clause == "traffic flowing below 5 for 1.0 s, down to 2.5, above the 1 guardrail"


def test_a_worst_value_past_the_guardrail_says_so():
    entry = {"name": "errors under 1%", "limits": {"max": 0.01}, "worst": 0.2, "beyond_s": 1.0}
    guard = {"name": "errors under 5%", "role": "guardrail", "threshold": {"max": 0.05}}
    assert impact_text.probe_clause({"probes": [guard]}, entry).endswith(
        "up to 20%, beyond the 5% guardrail"
    )


def test_a_journal_without_samples_during_the_fault_has_no_impact():
    # Journals from before the steady state was sampled through the fault: no figures
    # made up from the recovery samples alone.
    assert impact.summarize(rj.journal("passed")) is None


def test_every_report_states_the_impact():
    import xml.etree.ElementTree as ET

    from chaosrun.report.html import render_run
    from chaosrun.report.junit import render_junit
    from chaosrun.report.markdown import render_markdown
    from chaosrun.report.summary import summarize

    data = _journal([0.0, 0.03, 0.042, 0.02, 0.0, 0.0, 0.0], [0.0, 0.0])
    said = "error ratio order above 1% for 3.0 s, up to 4.2%, below the 5% guardrail"
    page = render_run(data)
    assert "<h2>Impact</h2>" in page and said in page
    assert "<dt>Self-healing</dt><dd>4.0 s</dd>" in page
    assert "<dt>Recovery after rollback</dt><dd>0.0 s (budget 60.0 s)</dd>" in page
    assert (
        '<td class="">4.2%</td><td class="">3.0 s</td><td class="">4.0 s after inject</td>' in page
    )
    text = render_markdown(data)
    assert "## Impact" in text and "- Self-healing: 4.0 s" in text and "4.2%" in text
    props = {
        p.get("name"): p.get("value") for p in ET.fromstring(render_junit([data])).iter("property")
    }
    assert said in props["impact"] and props["self_healing_s"] == "4.0"
    assert summarize(data)["impact"]["probes"][0]["beyond_s"] == 3.0


def test_reports_say_none_when_the_steady_state_never_held_again():
    from chaosrun.report.html import render_run
    from chaosrun.report.markdown import render_markdown

    data = _journal([0.03] * 7, [0.03, 0.03])
    data["recovery"] = {"within_s": 60, "time_to_recover_s": None, "recovered": False}
    page = render_run(data)
    assert "<dt>Self-healing</dt><dd>none</dd>" in page
    assert "<dt>Recovery after rollback</dt><dd>not recovered (budget 60.0 s)</dd>" in page
    assert "never came back" in page
    assert "- Recovery after rollback: not recovered" in render_markdown(data)
