"""Overrides may not redirect or blind the guardrails, on the real lab: `chaosrun run ...
--set prometheus.url=<a Prometheus that answers healthy>` is refused before any host is
reached (no SSH login, no sudo command in the hosts' own journals), before the fake is
asked anything, and before any silence exists in the lab's Alertmanager; the refusal is in
the audit log. And what a file's silence without host scope is on the real Alertmanager:
matchers on the alert alone, muting it on every host (validate and plan warn about it)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    Project,
    project_fixture,
    safety_lab_fixture,
    stop_one_order,
)
from test_expected_alerts import alertmanager
from test_safety_blast_radius import ORDER_HOSTS, contacts

from chaosrun.model.experiment import ExpectedAlert
from chaosrun.plan.planning import alertmanager_access
from chaosrun.run.silences import AlertWatch

pytestmark = [pytest.mark.lab, pytest.mark.e2e]

PROBES = """\
steady_state:
  - name: users see no errors
    prometheus: sum(rate(lab_traffic_requests_total{outcome="error"}[15s]))
    max: 0.5
expected_alerts:
  - {name: InstanceDown, labels: {job: order_service}}
"""


@pytest.fixture(name="healthy")
def healthy_fixture() -> Iterator[tuple[str, list[str]]]:
    """A Prometheus on loopback that answers every query with a healthy 0: what would
    blind every guardrail. Yields its URL and the paths it was asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            asked.append(self.path)
            doc = {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, "0"]}]},
            }
            raw = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_POST = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()


def silence_ids(project: Project) -> set[str]:
    url, session = alertmanager(project)
    got = session.get(f"{url}/api/v2/silences", timeout=10)
    got.raise_for_status()
    return {s["id"] for s in got.json()}


def test_an_override_that_redirects_prometheus_is_refused_touching_nothing(
    project: Project, healthy: tuple[str, list[str]]
):
    fake, asked = healthy
    exp = project.experiment("redirect", stop_one_order(duration="10s", extra=PROBES))
    silences = silence_ids(project)
    since = time.time()  # the hosts share this machine's clock
    done = project.chaosrun(
        "run", str(exp), "-i", str(project.lab.inventory), f"--set=prometheus.url={fake}"
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert (
        f"{exp} (--set prometheus.url): prometheus.url: '{fake}' asked, {exp} says none (the "
        "project's Prometheus) (an override may not change where the guardrails and steady "
        "state read from)" in done.stderr
    ), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert asked == []  # the healthy answers were never asked for
    assert not project.run_dir.exists()  # no run directory, no journal
    assert silence_ids(project) == silences  # no silence made in the lab's Alertmanager
    (entry,) = project.audit()
    assert (entry["action"], entry["outcome"], entry["command"]) == ("refused", "loosened", "run")
    assert entry["overrides"] == {"prometheus.url": fake} and entry["user"]
    assert entry["experiment"] == str(exp)
    time.sleep(1)  # the journal's lines are written a moment after the fact
    assert contacts(project, since) == dict.fromkeys(ORDER_HOSTS, 0)
    assert all(project.lab.unit_active(h, "order-service") for h in ORDER_HOSTS)
    project.assert_no_active_fault()


def test_a_silence_without_host_scope_matches_every_host_and_is_warned_about(project: Project):
    unscoped = PROBES.replace("job: order_service}", "job: order_service}, host_label: ''")
    exp = project.experiment("unscoped", stop_one_order(duration="10s", extra=unscoped))
    for command in ("validate", "plan"):
        done = project.chaosrun(command, str(exp), "-i", str(project.lab.inventory))
        assert done.returncode == 0, (command, done.stderr)
        assert "the silence of 'InstanceDown' has no host scope" in done.stderr, done.stderr
    # What the engine would send, stored by the real Alertmanager and read back.
    from chaosrun.hosts.inventory import load_inventory
    from chaosrun.model import config as project_config

    access = alertmanager_access(
        load_inventory(str(project.lab.inventory)), project_config.load(project.config_file)
    )
    assert access is not None
    expected = (
        ExpectedAlert("InstanceDown", {"job": "order_service"}, "", ("expected_alerts", 0)),
        ExpectedAlert("InstanceDown", {"job": "order_service"}, "instance", ("expected_alerts", 1)),
    )
    watch = AlertWatch(access, expected, ["order-2"], 30, 10, "chaosrun test", "chaosrun-test")
    try:
        watch.create()
        unscoped_m, scoped_m = (s["body"]["matchers"] for s in watch.silences)
    finally:
        watch.expire()
    assert {m["name"] for m in unscoped_m} == {"alertname", "job"}  # no host: every host
    assert {(m["name"], m["value"], m["isRegex"]) for m in scoped_m} >= {
        ("instance", "(order\\-2)(:[0-9]+)?", True)
    }
    assert all(s["expired"] for s in watch.silences)
