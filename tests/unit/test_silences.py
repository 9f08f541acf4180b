"""expected_alerts: the experiment field, the silences' matchers, what the watch makes of
Alertmanager's answers (a scripted stand-in for its API v2), and the report section.
The real Alertmanager is exercised by tests/e2e/test_expected_alerts.py."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from chaosrun.base.errors import InvalidInput
from chaosrun.model.apiaccess import ApiAccess
from chaosrun.model.experiment import ExpectedAlert, load_experiment
from chaosrun.report import alerts as report_alerts
from chaosrun.report.journal import Journal
from chaosrun.report.markdown import md
from chaosrun.run.silences import AlertWatch, SilenceError, host_regex, matchers, parse_time

BASE = """\
title: t
targets: {hosts: order_service}
fault: {role: chaosrun.chaos.service_stop, vars: {service_stop_unit: order-service}}
duration: 5s
"""


def load(tmp_path: Path, extra: str):
    path = tmp_path / "exp.yml"
    path.write_text(BASE + textwrap.dedent(extra))
    return load_experiment(path)


def test_expected_alerts_by_name_or_with_labels(tmp_path: Path) -> None:
    exp = load(
        tmp_path,
        """\
        expected_alerts:
          - InstanceDown
          - {name: HighErrorRatio, labels: {severity: page}, host_label: ""}
        """,
    )
    assert exp.expected_alerts == (
        ExpectedAlert("InstanceDown", {}, "instance", ("expected_alerts", 0)),
        ExpectedAlert("HighErrorRatio", {"severity": "page"}, "", ("expected_alerts", 1)),
    )


def test_bad_expected_alerts_name_file_line_and_field(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        load(
            tmp_path,
            """\
            expected_alerts:
              - {name: X, labels: {1bad: a, ok: 3}, host_label: a-b}
              - 5
              - Y
              - {name: Y}
            """,
        )
    text = str(err.value)
    assert "exp.yml:6: expected_alerts[0].labels.1bad: not a label name" in text
    assert "exp.yml:6: expected_alerts[0].labels.ok: expected a string" in text
    assert "exp.yml:6: expected_alerts[0].host_label: expected a label name" in text
    assert "exp.yml:7: expected_alerts[1]: expected a mapping or an alert name" in text
    # A bare name and the same name without labels are the same alert.
    assert "exp.yml:9: expected_alerts[3]: the same alert as expected_alerts[2]" in text


def test_host_scope_matches_the_name_alone_or_with_a_port() -> None:
    pattern = host_regex(["order-1", "order.2"])
    assert re.fullmatch(pattern, "order-1") and re.fullmatch(pattern, "order-1:9100")
    assert not re.fullmatch(pattern, "order-10") and not re.fullmatch(pattern, "orderx2")
    alert = ExpectedAlert("InstanceDown", {"job": "order_service"}, "instance", ())
    assert matchers(alert, ["order-1"]) == [
        {"name": "alertname", "value": "InstanceDown", "isRegex": False, "isEqual": True},
        {"name": "job", "value": "order_service", "isRegex": False, "isEqual": True},
        {"name": "instance", "value": "(order\\-1)(:[0-9]+)?", "isRegex": True, "isEqual": True},
    ]


def test_alertmanager_times() -> None:
    assert parse_time("2026-12-04T23:00:00.123456789Z") == pytest.approx(1796425200.123456)
    assert parse_time("2026-12-04T23:00:00+01:00") == 1796421600
    assert parse_time("yesterday") is None


class FakeAlertmanager:
    """A requests-like session scripted as Alertmanager's API v2."""

    def __init__(self, alerts: list[dict[str, Any]], fail_post: int | None = None) -> None:
        self.alerts = alerts
        self.silences: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_post = fail_post

    def request(self, method: str, url: str, timeout: float, **kw: Any) -> Any:
        path = url.split("/api/v2/", 1)[1]
        self.calls.append((method, path))
        if method == "POST":
            if self.fail_post is not None and len(self.silences) == self.fail_post:
                return Response(500, {"error": "boom"})
            body = dict(kw["json"])
            sid = body.pop("id", None) or f"s{len(self.silences)}"
            self.silences[sid] = {**body, "startsAt": "2026-12-04T23:00:00.5Z", "id": sid}
            return Response(200, {"silenceID": sid})
        if method == "DELETE":
            self.silences[path.split("/")[1]]["expired"] = True
            return Response(200, None)
        if path.startswith("silence/"):
            return Response(200, self.silences[path.split("/")[1]])
        return Response(200, self.alerts)


class Response:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code, self.body = status, body
        self.content = b"" if body is None else json.dumps(body).encode()

    def raise_for_status(self) -> None:
        import requests

        if self.status_code >= 400:
            raise requests.HTTPError(f"HTTP {self.status_code}", response=self)  # type: ignore[arg-type]

    def json(self) -> Any:
        return self.body


def alert(name: str, instance: str, silenced_by: list[str], starts: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "instance": instance, "job": "order_service"},
        "status": {"state": "suppressed" if silenced_by else "active", "silencedBy": silenced_by},
        "startsAt": starts,
        "fingerprint": f"{name}-{instance}",
    }


def watch(fake: FakeAlertmanager, *expected: ExpectedAlert) -> AlertWatch:
    w = AlertWatch(
        access=ApiAccess("http://am.invalid"),
        expected=expected,
        hosts=["order-1"],
        ttl=30,
        every=1,
        comment="c",
        created_by="chaosrun test",
        clock=lambda: 1796425200.0,  # 2026-12-04T23:00:00Z
    )
    w._session = fake  # type: ignore[assignment]
    return w


DOWN = ExpectedAlert("InstanceDown", {}, "instance", ())
LAG = ExpectedAlert("ReplicationLag", {}, "instance", ())


def test_watch_records_fired_missing_and_unexpected_and_expires() -> None:
    fake = FakeAlertmanager([])
    w = watch(fake, DOWN, LAG)
    w.create()
    assert [s["id"] for s in w.silences] == ["s0", "s1"]
    # The stored start is kept, so an extension is an update in place.
    assert w.silences[0]["body"]["startsAt"] == "2026-12-04T23:00:00.5Z"
    w.extend()
    assert fake.silences["s0"]["startsAt"] == "2026-12-04T23:00:00.5Z"
    fake.alerts = [
        alert("InstanceDown", "order-1", ["s0"], "2026-12-04T23:00:03Z"),  # expected, held
        alert("InstanceDown", "order-2", [], "2026-12-04T23:00:04Z"),  # not a target: pages
        alert("HighErrorRatio", "order-1", [], "2026-12-04T23:00:05Z"),  # not listed: pages
        alert("DiskAlmostFull", "db-1", [], "2026-12-04T22:00:00Z"),  # older than the run
    ]
    held = w.poll()
    assert [a["fingerprint"] for a in held] == ["InstanceDown-order-1"]
    w.expire()
    summary = w.summary()
    assert [
        (a["name"], a["fired"], a.get("hosts"), a.get("silenced")) for a in summary["expected"]
    ] == [
        ("InstanceDown", True, ["order-1"], True),
        ("ReplicationLag", False, None, None),
    ]
    assert w.missing() == ["ReplicationLag"]
    assert [(u["name"], u["labels"]["instance"]) for u in summary["unexpected"]] == [
        ("InstanceDown", "order-2"),
        ("HighErrorRatio", "order-1"),
    ]
    assert all(s["expired"] for s in summary["silences"])
    assert fake.silences["s0"]["expired"] and fake.silences["s1"]["expired"]

    journal: Journal = {"alerts": summary}
    html = report_alerts.html_section(journal)
    assert "fired on order-1 (silenced)" in html and "did not fire" in html
    assert "HighErrorRatio" in html
    text = "\n".join(report_alerts.markdown_lines(journal, md))
    assert "| ReplicationLag |  | expected, did not fire |" in text
    assert "unexpected, fired" in text


def test_a_silence_that_cannot_be_made_refuses_and_leaves_none() -> None:
    fake = FakeAlertmanager([], fail_post=1)
    w = watch(fake, DOWN, LAG)
    with pytest.raises(SilenceError, match="cannot silence expected alert ReplicationLag"):
        w.create()
    assert fake.silences["s0"].get("expired") is True


class SlowAlertmanager(FakeAlertmanager):
    """Holds extensions until told; like Alertmanager, an update of an expired silence
    makes a new one."""

    def __init__(self) -> None:
        super().__init__([])
        import threading

        self.hold = threading.Event()
        self.posting = threading.Event()

    def request(self, method: str, url: str, timeout: float, **kw: Any) -> Any:
        sid = (kw.get("json") or {}).get("id")
        if method == "POST" and sid:
            self.posting.set()
            self.hold.wait(5)
            if self.silences[sid].get("expired"):
                kw["json"] = {k: v for k, v in kw["json"].items() if k != "id"}
        return super().request(method, url, timeout, **kw)


def test_an_extension_in_flight_never_outlives_the_expiry() -> None:
    import threading

    fake = SlowAlertmanager()
    w = watch(fake, DOWN)
    w.create()
    extending = threading.Thread(target=w.extend)
    extending.start()
    assert fake.posting.wait(5)
    expiring = threading.Thread(target=w.expire)
    expiring.start()
    expiring.join(0.3)
    assert expiring.is_alive(), "the expiry waits for the extension in flight"
    fake.hold.set()
    extending.join(5)
    expiring.join(5)
    assert all(s.get("expired") for s in fake.silences.values()), fake.silences
    w.extend()  # the watch's loop after the expiry: no new silence
    assert all(s.get("expired") for s in fake.silences.values()), fake.silences
