"""Probe and phase verdicts: UNKNOWN is never PASS, recovery is judged by its last sample."""

from __future__ import annotations

import report_journals as rj

from chaosrun.report import verdicts


def probe(role, samples, threshold=None):
    return {"name": "p", "role": role, "threshold": threshold or {"max": 1}, "samples": samples}


def s(phase, value, verdict):
    return {"at": rj.at(0), "phase": phase, "value": value, "verdict": verdict}


def test_no_samples_is_unknown():
    assert verdicts.probe_result(probe("guardrail", [])).verdict == "UNKNOWN"


def test_only_unknown_samples_is_unknown_not_pass():
    result = verdicts.probe_result(probe("guardrail", [s("observe", None, "UNKNOWN")] * 3))
    assert result.verdict == "UNKNOWN"


def test_guardrail_breach_reports_count_and_worst():
    samples = [s("observe", 0.5, "PASS"), s("observe", 3.0, "BREACH"), s("observe", 2.0, "BREACH")]
    result = verdicts.probe_result(probe("guardrail", samples))
    assert result.verdict == "BREACH" and result.worst == 3.0
    assert "2 of 3" in result.message


def test_min_threshold_worst_is_the_lowest_value():
    samples = [s("observe", 5, "PASS"), s("observe", 1, "BREACH")]
    result = verdicts.probe_result(probe("guardrail", samples, {"min": 2}))
    assert result.worst == 1


def test_steady_state_breach_during_recovery_is_fine_when_it_ends_passing():
    samples = [
        s("steady_state_before", 0, "PASS"),
        s("recovery", 5, "BREACH"),
        s("recovery", 0, "PASS"),
    ]
    assert verdicts.probe_result(probe("steady_state", samples)).verdict == "PASS"


def test_steady_state_ending_unknown_after_rollback_is_unknown():
    samples = [s("steady_state_before", 0, "PASS"), s("recovery", None, "UNKNOWN")]
    assert verdicts.probe_result(probe("steady_state", samples)).verdict == "UNKNOWN"


def test_phase_classes():
    assert verdicts.phase_class("ok") == "ok"
    assert verdicts.phase_class("skipped") == "skipped"
    assert verdicts.phase_class("running") == "pending"
    assert verdicts.phase_class("breach") == "failed"
    assert verdicts.phase_class(None) == "pending"


def test_windows_follow_inject_and_rollback():
    data = rj.journal("aborted")
    fault = verdicts.fault_window(data)
    assert fault and fault[0].isoformat().startswith("2026-11-27T21:05:05.123")
    assert fault[1].isoformat().startswith("2026-11-27T21:05:14.123")
    assert verdicts.abort_time(data) is not None
    recovered = verdicts.recovered_time(data)
    # time to recover counts from the end of verify_inactive (one second after rollback)
    assert recovered and (recovered - fault[1]).total_seconds() == 1 + 3.2


def test_relative_limits_need_the_recorded_baseline():
    p = {"threshold": {"max_increase": "50%", "max_decrease": 2}, "samples": []}
    assert verdicts.limits(p) == {}
    assert verdicts.limits({**p, "baseline": 10.0}) == {"max": 15.0, "min": 8.0}
    both = {"threshold": {"max": 12, "max_increase": "50%"}, "baseline": 10.0}
    assert verdicts.limits(both) == {"max": 12.0}  # the tighter one
    assert "max_increase 50%" in verdicts.threshold_text(both["threshold"])


def test_host_results_cover_selected_hosts_and_rollback():
    hosts, columns, cells = verdicts.host_results(rj.journal("passed"))
    assert hosts == ["order-2"]
    assert columns == ["preflight", "inject", "verify_active", "rollback", "verify_inactive"]
    assert cells[("order-2", "rollback")] == "ok"


def test_redact_hides_secret_looking_keys_at_any_depth():
    shown = verdicts.redact({"a": {"db_password": "x", "token": ["y"]}, "unit": "u"})
    assert shown == {"a": {"db_password": "***", "token": "***"}, "unit": "u"}
