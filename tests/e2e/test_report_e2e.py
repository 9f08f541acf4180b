"""Reports and notifications from a real run on the lab.

One run stops node_exporter on one app host; a guardrail that counts the node exporters
Prometheus can scrape breaches as soon as Prometheus sees that one down, so the run
aborts and rolls back (the fault needs only systemd hosts, so the test also runs on a
lab brought up with --no-provision). Then: the lab's webhook receiver got start, abort
and end from that run, in order; the run directory holds report.html and junit.xml;
the JUnit file reads back with junitparser; the HTML opens in headless Chromium with no
console error and no request, one chart per probe, and a screenshot is saved under
test-artifacts/.
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import sys
import urllib.request

import pytest
from junitparser import Failure, JUnitXml
from safety_support import (  # noqa: F401  (fixtures)
    PROJECT,
    Project,
    project_fixture,
    safety_lab_fixture,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e]


def _browser():
    path = PROJECT / "tests" / "integration" / "test_report_browser.py"
    spec = importlib.util.spec_from_file_location("report_browser", path)
    module = importlib.util.module_from_spec(spec)
    # Registered first: its dataclasses look their own module up while they are built.
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(sys.modules[spec.name])
    return sys.modules[spec.name]


def _experiment(hosts: int) -> str:
    # Scraped at least once in 10 s: a busy exporter that misses a scrape still counts,
    # a stopped one drops out within 10 s.
    scraped = 'count(max_over_time(up{job="node"}[10s]) == 1)'
    return f"""\
title: Stop node_exporter on one app host (report e2e)
severity: medium
targets:
  hosts: app
  select: {{count: 1}}
fault:
  role: chaosrun.chaos.service_stop
  vars: {{service_stop_units: [prometheus-node-exporter.service]}}
duration: 120s
prometheus: {{scrape_interval: 1s, timeout: 2s}}
steady_state:
  - name: every node exporter is scraped
    prometheus: '{scraped}'
    min: {hosts}
guardrails:
  interval: 1s
  breaches_in_a_row: 2
  probes:
    - name: every node exporter stays up
      prometheus: '{scraped}'
      min: {hosts}
recovery: {{within: 90s}}
"""


def _notifications(url: str, path: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/notifications", timeout=10) as answer:
        records = json.load(answer)
    return [r["body"] for r in records if r.get("path") == path]


@pytest.fixture
def hooked(project: Project) -> tuple[Project, str, str]:
    """The project config with the lab's webhook receiver as a notification target."""
    receiver = f"http://127.0.0.1:{project.lab.config.webhook_port}"
    path = f"/chaosrun/report-e2e/{secrets.token_hex(4)}"
    project.write_config(
        notifications={"webhooks": [{"name": "lab", "url": receiver + path}]},
    )
    return project, receiver, path


def test_a_real_aborted_run_notifies_and_leaves_reports(hooked, tmp_path):
    project, receiver, path = hooked
    exp = project.experiment("report-e2e", _experiment(len(project.lab.config.hosts())))
    done = project.chaosrun("run", str(exp), "-i", str(project.lab.inventory), timeout=600)
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    (journal_file,) = sorted(project.run_dir.glob("*/journal.json"))
    run_dir = journal_file.parent
    journal = json.loads(journal_file.read_text())
    assert journal["status"] == "aborted"
    assert "every node exporter stays up" in journal["abort"]["reason"]

    # Notifications: start, abort, end of this run, in order, at the lab's receiver.
    bodies = _notifications(receiver, path)
    assert [b["event"] for b in bodies] == ["start", "abort", "end"], bodies
    assert {b["run_id"] for b in bodies} == {journal["run_id"]}
    assert bodies[1]["abort_reason"] == journal["abort"]["reason"]
    assert bodies[2]["status"] == "aborted" and "ABORTED" in bodies[2]["text"]
    assert all("service_stop_units" not in json.dumps(b) for b in bodies)

    # JUnit: a case per phase and probe, failures for the guardrail and the verdict.
    xml = JUnitXml.fromfile(str(run_dir / "junit.xml"))
    (suite,) = list(xml)
    cases = {(c.classname, c.name): c for c in suite}
    phases = [p["name"] for p in journal["phases"]]
    assert [n for c, n in cases if c == "phase"] == phases
    failed = {k for k, c in cases.items() if any(isinstance(r, Failure) for r in c.result)}
    assert ("probe.guardrail", "every node exporter stays up") in failed
    assert ("run", "verdict") in failed
    # The phase the abort cut short fails too (observe, or inject on a slow machine).
    assert any(classname == "phase" for classname, _ in failed)

    # HTML: opens clean in Chromium with the timeline and one chart per probe.
    browser = _browser()
    html = run_dir / "report.html"
    visit = browser.open_in_chromium(html, browser.ARTIFACTS / "report-lab-run.png")
    browser.assert_clean(visit, html)
    assert visit.svgs == 1 + len(journal["probes"])
    assert "ABORTED and rolled back" in visit.text
    assert journal["targets"]["selected"][0] in visit.text

    # History over the same run directory.
    hist = project.chaosrun("history", "--runs-dir", str(project.run_dir), "-f", "json")
    assert hist.returncode == 0, hist.stderr
    data = json.loads(hist.stdout)
    # One run is not enough for a resilience score (history.MIN_RUNS_FOR_SCORE).
    assert data["counts"]["aborted"] == 1 and data["resilience_score"] is None
    project.assert_no_active_fault()
