"""JUnit XML read back by an independent parser (junitparser), as CI systems read it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import report_journals as rj
from junitparser import Failure, JUnitXml, Skipped

from chaosrun.report.journal import load_journal
from chaosrun.report.junit import render_junit

PHASES = [
    "validate", "preflight", "steady_state_before", "inject", "verify_active", "observe",
    "rollback", "verify_inactive", "recovery", "report",
]  # fmt: skip


def read(tmp_path, *journals) -> JUnitXml:
    path = tmp_path / "junit.xml"
    path.write_text(render_junit(list(journals)), encoding="utf-8")
    return JUnitXml.fromfile(str(path))


def cases(suite):
    return {(c.classname, c.name): c for c in suite}


def failures(case) -> list[Failure]:
    return [r for r in case.result if isinstance(r, Failure)]


def test_structure_is_testsuites_testsuite_testcase_failure(tmp_path):
    render = render_junit([rj.journal("aborted")])
    root = ET.fromstring(render)
    assert root.tag == "testsuites"
    assert [s.tag for s in root] == ["testsuite"]
    assert {c.tag for c in root[0]} == {"properties", "testcase"}
    assert root.find("testsuite/testcase/failure") is not None


def test_aborted_run_has_one_case_per_phase_and_probe_and_fails(tmp_path):
    xml = read(tmp_path, rj.journal("aborted"))
    suites = list(xml)
    assert len(suites) == 1
    suite = suites[0]
    by_key = cases(suite)
    assert [n for c, n in by_key if c == "phase"] == PHASES
    assert ("probe.guardrail", "p99 order under 500ms") in by_key
    assert ("probe.steady_state", "error ratio order under 1%") in by_key
    failed = {k for k, c in by_key.items() if failures(c)}
    assert failed == {
        ("phase", "observe"),
        ("probe.guardrail", "p99 order under 500ms"),
        ("run", "verdict"),
    }
    guard = failures(by_key[("probe.guardrail", "p99 order under 500ms")])[0]
    assert "breached 2 of 4 samples" in guard.message and guard.type == "BREACH"
    verdict = failures(by_key[("run", "verdict")])[0]
    assert "ABORTED" in verdict.message and "2 times in a row" in verdict.message
    assert suite.tests == 13 and suite.failures == 3 and xml.failures == 3
    assert suite.time == 30.0


def test_passed_run_has_no_failure(tmp_path):
    xml = read(tmp_path, rj.journal("passed"))
    assert xml.tests == 13 and xml.failures == 0 and xml.errors == 0


def test_steady_state_breach_before_the_fault_fails_the_probe(tmp_path):
    data = rj.journal("failed")
    data["probes"][0]["samples"].insert(
        0,
        {"at": rj.at(1), "phase": "steady_state_before", "value": 0.3, "verdict": "BREACH"},
    )
    by_key = cases(next(iter(read(tmp_path, data))))
    failed = failures(by_key[("probe.steady_state", "error ratio order under 1%")])
    assert failed and "before the fault" in failed[0].message


def test_steady_state_breach_during_the_fault_is_impact_not_a_failure(tmp_path):
    # The guardrails judge the fault; the steady state measures what users saw meanwhile.
    data = rj.journal("passed")
    data["probes"][0]["samples"].append(
        {"at": rj.at(9), "phase": "observe", "value": 0.3, "verdict": "BREACH", "evidence": ""}
    )
    by_key = cases(next(iter(read(tmp_path, data))))
    assert not failures(by_key[("probe.steady_state", "error ratio order under 1%")])


def test_running_phase_is_skipped_not_passed(tmp_path):
    data = rj.journal("passed")
    data["phases"][-1].update(outcome="running", ended_at=None)
    data["status"] = "running"
    by_key = cases(next(iter(read(tmp_path, data))))
    assert any(isinstance(r, Skipped) for r in by_key[("phase", "report")].result)
    assert failures(by_key[("run", "verdict")])


def test_hostile_and_control_characters_round_trip_as_text(tmp_path):
    data = rj.journal("aborted", hostile=True)
    data["experiment"]["title"] += "\x00\x1b[31m"
    xml = read(tmp_path, data)
    suite = next(iter(xml))
    assert suite.name.startswith("Kill " + rj.SCRIPT)
    assert "\x00" not in suite.name and "\x1b" not in suite.name
    names = [c.name for c in suite]
    assert f"p99 {rj.IMG} under 500ms" in names


def test_several_runs_are_several_suites(tmp_path):
    xml = read(tmp_path, rj.journal("passed"), rj.journal("aborted"))
    assert len(list(xml)) == 2 and xml.tests == 26 and xml.failures == 3


CAPTURED = sorted((Path(__file__).parent / "fixtures" / "report").glob("lab-*.json"))


@pytest.mark.parametrize("path", CAPTURED, ids=[p.stem for p in CAPTURED])
def test_captured_lab_journals_read_back(tmp_path, path):
    journal = load_journal(path)
    (suite,) = list(read(tmp_path, journal))
    by_key = cases(suite)
    assert [n for c, n in by_key if c == "phase"] == [p["name"] for p in journal["phases"]]
    assert len(by_key) == len(journal["phases"]) + len(journal["probes"]) + 1
    verdict = failures(by_key[("run", "verdict")])
    assert verdict and journal["abort"]["reason"] in verdict[0].message
    for p in journal["phases"]:
        failed = bool(failures(by_key[("phase", p["name"])]))
        assert failed == (p["outcome"] not in ("ok", "running")), p


ALERTS = {
    "expected": [
        {"name": "InstanceDown", "labels": {"job": "node"}, "fired": True,
         "hosts": ["order-1"], "first_seen": "2026-01-01T00:00:05Z"},
        {"name": "OrderErrors", "labels": {}, "fired": False},
    ],
    "unexpected": [
        {"name": "DiskFull", "labels": {"instance": "db-1"}, "first_seen": "2026-01-01T00:00:07Z"}
    ],
    "silences": [{"id": "s1", "alert": "InstanceDown", "expired": True}],
    "errors": [],
}  # fmt: skip


def test_expected_alerts_are_cases_and_unexpected_ones_are_listed(tmp_path):
    journal = {**rj.journal("passed"), "alerts": ALERTS}
    suite = next(iter(read(tmp_path, journal)))
    found = cases(suite)
    fired = found[("alert.expected", "InstanceDown (job=node)")]
    assert failures(fired) == [] and "fired on order-1" in fired.system_out
    missing = failures(found[("alert.expected", "OrderErrors")])
    assert len(missing) == 1 and "did not fire" in missing[0].message
    said = suite._elem.findtext("system-out") or ""
    assert "Unexpected alert DiskFull (instance=db-1)" in said


def test_a_run_without_expected_alerts_has_no_alert_cases(tmp_path):
    suite = next(iter(read(tmp_path, rj.journal("passed"))))
    assert not [c for c in suite if c.classname.startswith("alert")]
