"""JUnit XML of runs: one test suite per run, one test case per phase and per probe,
plus one for the run's verdict, so a CI gate fails whenever the run did not pass."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from chaosrun.report import alerts, impact, impact_text, verdicts
from chaosrun.report.journal import Journal, experiment_title, seconds_between

# Characters XML 1.0 cannot carry at all, even escaped; they are dropped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(value: Any) -> str:
    return _NOT_XML.sub("", "" if value is None else str(value))


def _case(suite: ET.Element, classname: str, name: str, seconds: float | None = None) -> ET.Element:
    return ET.SubElement(
        suite,
        "testcase",
        {
            "classname": _clean(classname),
            "name": _clean(name),
            "time": f"{max(seconds or 0.0, 0.0):.3f}",
        },
    )


def _fail(case: ET.Element, kind: str, message: str, text: str = "") -> None:
    node = ET.SubElement(case, "failure", {"message": _clean(message), "type": _clean(kind)})
    node.text = _clean(text or message)


def _phase_cases(suite: ET.Element, journal: Journal) -> None:
    for p in journal.get("phases") or []:
        took = seconds_between(p.get("started_at"), p.get("ended_at"))
        case = _case(suite, "phase", str(p.get("name", "?")), took)
        cls = verdicts.phase_class(p.get("outcome"))
        detail = str(p.get("detail") or "")
        hosts = ", ".join(f"{h}: {o}" for h, o in (p.get("hosts") or {}).items())
        if cls == "failed":
            message = f"{p.get('name')}: {p.get('outcome')}" + (f": {detail}" if detail else "")
            _fail(case, str(p.get("outcome")), message, "\n".join(x for x in (message, hosts) if x))
        elif cls in ("skipped", "pending"):
            ET.SubElement(case, "skipped", {"message": _clean(p.get("outcome") or "not finished")})
        elif hosts or detail:
            ET.SubElement(case, "system-out").text = _clean(
                "\n".join(x for x in (detail, hosts) if x)
            )


def _probe_cases(suite: ET.Element, journal: Journal) -> None:
    for probe in journal.get("probes") or []:
        result = verdicts.probe_result(probe)
        case = _case(suite, f"probe.{probe.get('role', 'probe')}", str(probe.get("name", "probe")))
        if result.verdict != "PASS":
            text = f"{result.message}\nquery: {probe.get('query', '')}"
            _fail(case, result.verdict, f"{probe.get('name')}: {result.message}", text)
        else:
            ET.SubElement(case, "system-out").text = _clean(result.message)


def _alert_cases(suite: ET.Element, journal: Journal) -> None:
    """A case per expected alert (failed when it never fired: the monitoring did not see
    the fault); the alerts nobody expected are listed on the suite, as they paged."""
    if not journal.get("alerts"):
        return
    expected, unexpected, notes = alerts.rows(journal)
    for name, labels, state in expected:
        case = _case(suite, "alert.expected", name + (f" ({labels})" if labels else ""))
        if state.startswith("fired"):
            ET.SubElement(case, "system-out").text = _clean(state)
        else:
            _fail(case, "not fired", f"{name}: expected, {state}")
    lines = [f"Unexpected alert {n} ({labels}): {state}" for n, labels, state in unexpected]
    if lines or notes:
        ET.SubElement(suite, "system-out").text = _clean("\n".join([*lines, *notes]))


def _verdict_case(suite: ET.Element, journal: Journal) -> None:
    status = str(journal.get("status"))
    took = seconds_between(journal.get("started_at"), journal.get("ended_at"))
    case = _case(suite, "run", "verdict", took)
    if status != "passed":
        reason = (journal.get("abort") or {}).get("reason")
        message = verdicts.headline(status, journal) + (f": {reason}" if reason else "")
        _fail(case, status, message)


def _impact_properties(props: ET.Element, journal: Journal) -> None:
    """The impact sentence and the two recovery figures ("none": never held again)."""
    found = impact.of(journal)
    if not found:
        return
    for name, value in (
        ("impact", found.get("summary") or impact_text.sentence(journal, found)),
        ("self_healing_s", found.get("self_healing_s")),
        ("recovery_after_rollback_s", found.get("after_rollback_s")),
    ):
        shown = "none" if value is None else value
        ET.SubElement(props, "property", {"name": name, "value": _clean(shown)})


def _suite(parent: ET.Element, journal: Journal) -> ET.Element:
    suite = ET.SubElement(parent, "testsuite", {"name": _clean(experiment_title(journal))})
    props = ET.SubElement(suite, "properties")
    exp = journal.get("experiment") or {}
    recovery = journal.get("recovery") or {}
    for name, value in (
        ("run_id", journal.get("run_id")),
        ("status", journal.get("status")),
        ("exit_code", journal.get("exit_code")),
        ("experiment_file", exp.get("file")),
        ("severity", exp.get("severity")),
        ("time_to_recover_s", recovery.get("time_to_recover_s")),
    ):
        if value is not None:
            ET.SubElement(props, "property", {"name": name, "value": _clean(value)})
    _impact_properties(props, journal)
    _phase_cases(suite, journal)
    _probe_cases(suite, journal)
    _alert_cases(suite, journal)
    _verdict_case(suite, journal)
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", "0")
    suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    took = seconds_between(journal.get("started_at"), journal.get("ended_at"))
    suite.set("time", f"{max(took or 0.0, 0.0):.3f}")
    if journal.get("started_at"):
        suite.set("timestamp", _clean(str(journal["started_at"]).removesuffix("Z")))
    return suite


def render_junit(journals: Iterable[Journal]) -> str:
    """JUnit XML (testsuites/testsuite/testcase/failure) for one or more runs."""
    root = ET.Element("testsuites", {"name": "chaosrun"})
    suites = [_suite(root, j) for j in journals]
    for attr in ("tests", "failures", "errors", "skipped"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in suites)))
    root.set("time", f"{sum(float(s.get('time', '0')) for s in suites):.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
