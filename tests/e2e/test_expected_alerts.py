"""Planned chaos in Alertmanager and on the dashboards, on the lab's real monitoring.

A run stops order-service on one host with `expected_alerts: InstanceDown` (job
order_service): the lab's pager (its webhook receiver) gets no InstanceDown page for that
host, while an alert the experiment did not list still reaches it; the journal and the
report say InstanceDown fired; the silence is expired afterwards. The same run shows
`chaosrun_fault_active` for its host in the lab's Prometheus while the fault holds, and
not after the rollback (the SIGKILL case is in test_safety_crash.py).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
from typing import Any

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    Project,
    project_fixture,
    safety_lab_fixture,
    stop_one_order,
)
from test_safety_crash import wait_for_metric

from chaosrun.hosts.inventory import load_inventory
from chaosrun.model import config as project_config
from chaosrun.plan.planning import alertmanager_access
from chaosrun.probes.session import open_session

pytestmark = [pytest.mark.lab, pytest.mark.e2e]

# Longer than InstanceDown's `for: 3s` plus a scrape and an evaluation many times over.
EXPECTED = """\
expected_alerts:
  - {name: InstanceDown, labels: {job: order_service}}
"""


def alertmanager(project: Project):
    """A session to the lab's Alertmanager as chaosrun itself reaches it."""
    access = alertmanager_access(
        load_inventory(str(project.lab.inventory)), project_config.load(project.config_file)
    )
    assert access is not None
    return access.url, open_session(access)


def pages(project: Project, since: str) -> list[dict[str, Any]]:
    """Alerts the lab's pager received since `since`: alertname, instance, job, status."""
    url = f"http://127.0.0.1:{project.lab.config.webhook_port}/notifications?since={since}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        records = json.load(resp)
    found = []
    for record in records:
        body = record.get("body")
        if record.get("path") != "/alertmanager" or not isinstance(body, dict):
            continue
        for alert in body.get("alerts") or []:
            labels = alert.get("labels") or {}
            found.append(
                {
                    "alertname": labels.get("alertname"),
                    "instance": labels.get("instance"),
                    "job": labels.get("job"),
                    "status": alert.get("status"),
                }
            )
    return found


def post_unlisted_alert(project: Project, host: str) -> None:
    """An alert the experiment does not list, on the target host, straight into
    Alertmanager (as a Prometheus would send it); it ends by itself."""
    url, session = alertmanager(project)
    now = dt.datetime.now(dt.UTC)
    body = [
        {
            "labels": {"alertname": "ChaosTestUnlisted", "instance": host, "severity": "page"},
            "annotations": {"summary": "an alert no experiment expects"},
            "startsAt": now.isoformat(),
            "endsAt": (now + dt.timedelta(seconds=30)).isoformat(),
        }
    ]
    session.post(f"{url}/api/v2/alerts", json=body, timeout=10).raise_for_status()


def test_expected_alert_is_silenced_on_the_target_and_proven_fired(project: Project):
    exp = project.experiment("expected", stop_one_order(duration="25s", extra=EXPECTED))
    proc = project.start("run", str(exp), "-i", str(project.lab.inventory))
    run_id, journal = project.wait_for_phase(proc, "observe")
    (host,) = journal["targets"]["selected"]
    # On the dashboards while the fault holds.
    metric = wait_for_metric(project, run_id, host, present=True)
    assert metric == [(host, run_id, "service_stop", "Stop one order-service instance", 1.0)]
    post_unlisted_alert(project, host)
    out, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, (out[-2000:], err[-2000:])

    # Off the dashboards after the rollback.
    assert wait_for_metric(project, run_id, host, present=False) == []

    alerts = project.journal(run_id)["alerts"]
    (expected,) = alerts["expected"]
    assert (expected["name"], expected["fired"], expected["hosts"], expected["silenced"]) == (
        "InstanceDown",
        True,
        [host],
        True,
    ), alerts
    unexpected = {(u["name"], u["labels"].get("instance")) for u in alerts["unexpected"]}
    assert ("ChaosTestUnlisted", host) in unexpected, alerts
    assert [s["expired"] for s in alerts["silences"]] == [True], alerts

    # Alertmanager itself says the silence is over.
    url, session = alertmanager(project)
    (silence,) = alerts["silences"]
    got = session.get(f"{url}/api/v2/silence/{silence['id']}", timeout=10)
    assert got.json()["status"]["state"] == "expired"

    report = (project.run_dir / run_id / "report.html").read_text()
    assert f"fired on {host} (silenced)" in report
    assert "ChaosTestUnlisted" in report

    # The pager, from the moment the silence was made: the unlisted alert paged; the
    # target's order_service InstanceDown never did, not even once the silence was expired
    # (Alertmanager's group_wait is 1 s in the lab). Other jobs of the host are not
    # silenced: a scrape of them timing out on a busy machine may page, as it should.
    time.sleep(6)
    received = pages(project, alerts["silenced_at"].replace("+00:00", "Z"))
    assert {
        "alertname": "ChaosTestUnlisted",
        "instance": host,
        "job": None,
        "status": "firing",
    } in received
    assert not [
        p
        for p in received
        if (p["alertname"], p["instance"], p["job"]) == ("InstanceDown", host, "order_service")
    ], received
    project.assert_no_active_fault()
