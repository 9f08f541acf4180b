"""The collection's probe modules, run as Ansible runs them, against a fake Prometheus."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.chaosrun.chaos.tests.unit.plugins.modules.fakehttp import FakeHTTP, vector


def run_module(name: str, tmp_path: Path, **args: Any) -> tuple[int, dict[str, Any]]:
    """Run a module in this process the way Ansible's module wrapper does: arguments in
    the module's globals, the JSON result on stdout, the exit status from sys.exit."""
    import contextlib
    import importlib
    import io

    from ansible.module_utils import basic

    module = importlib.import_module(f"ansible_collections.chaosrun.chaos.plugins.modules.{name}")
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
    basic._ANSIBLE_PROFILE = "legacy"
    out = io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stdout(out):
            module.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        basic._ANSIBLE_ARGS = None
    return code, json.loads(out.getvalue())


@pytest.fixture
def fake() -> Any:
    server = FakeHTTP().start()
    yield server
    server.stop()


def test_prometheus_pass_within_bounds(fake: FakeHTTP, tmp_path: Path) -> None:
    fake.route("/api/v1/query", (200, vector(0.004), 0))
    rc, out = run_module("prometheus_probe", tmp_path, url=fake.url, query="x", max=0.01)
    assert rc == 0, out
    assert out["verdict"] == "PASS" and out["value"] == 0.004 and out["changed"] is False
    assert fake.requests[0]["method"] == "POST" and fake.requests[0]["params"]["query"] == ["x"]


def test_prometheus_breach_fails_task_and_names_series(fake: FakeHTTP, tmp_path: Path) -> None:
    fake.route("/api/v1/query", (200, vector(0.5, 2.0), 0))
    rc, out = run_module("prometheus_probe", tmp_path, url=fake.url, query="x", max=1)
    assert rc == 1 and out["failed"] is True
    assert out["verdict"] == "BREACH" and out["value"] == 2.0
    assert "i1" in out["evidence"]


def test_prometheus_min_bound_breach(fake: FakeHTTP, tmp_path: Path) -> None:
    fake.route("/api/v1/query", (200, vector(0), 0))
    rc, out = run_module("prometheus_probe", tmp_path, url=fake.url, query="up", min=1, fail_on=[])
    assert rc == 0 and out["verdict"] == "BREACH"


@pytest.mark.parametrize(
    "answer",
    [
        (200, {"status": "success", "data": {"resultType": "vector", "result": []}}, 0),
        (200, vector("NaN"), 0),
        (503, {"status": "error", "error": "not ready"}, 0),
        (200, b"<html>proxy error</html>", 0),
        (200, {"status": "success", "data": {"resultType": "string", "result": [0, "a"]}}, 0),
    ],
    ids=["empty", "nan", "error-status", "not-json", "string-result"],
)
def test_prometheus_unknown_is_never_pass(fake: FakeHTTP, tmp_path: Path, answer: Any) -> None:
    fake.route("/api/v1/query", answer)
    rc, out = run_module("prometheus_probe", tmp_path, url=fake.url, query="x", max=1)
    assert rc == 1 and out["verdict"] == "UNKNOWN", out


def test_prometheus_unknown_tolerated_when_fail_on_breach_only(
    fake: FakeHTTP, tmp_path: Path
) -> None:
    fake.route("/api/v1/query", (200, vector("NaN"), 0))
    rc, out = run_module(
        "prometheus_probe", tmp_path, url=fake.url, query="x", max=1, fail_on=["breach"]
    )
    assert rc == 0 and out["verdict"] == "UNKNOWN"


def test_prometheus_timeout_is_unknown(fake: FakeHTTP, tmp_path: Path) -> None:
    fake.route("/api/v1/query", (200, vector(0), 3.0))
    started = time.monotonic()
    rc, out = run_module("prometheus_probe", tmp_path, url=fake.url, query="x", max=1, timeout=0.5)
    assert rc == 1 and out["verdict"] == "UNKNOWN"
    assert "timed out" in out["evidence"]
    assert time.monotonic() - started < 3.0


def test_prometheus_unreachable_is_unknown(tmp_path: Path) -> None:
    rc, out = run_module("prometheus_probe", tmp_path, url="http://127.0.0.1:9", query="x", max=1)
    assert rc == 1 and out["verdict"] == "UNKNOWN"


def test_prometheus_within_retries_until_pass(fake: FakeHTTP, tmp_path: Path) -> None:
    fake.route("/api/v1/query", (200, vector(5), 0), (200, vector(5), 0), (200, vector(0), 0))
    rc, out = run_module(
        "prometheus_probe", tmp_path, url=fake.url, query="x", max=1, within=10, interval=0.1
    )
    assert rc == 0 and out["verdict"] == "PASS" and out["attempts"] == 3


def test_prometheus_within_gives_up_at_deadline(fake: FakeHTTP, tmp_path: Path) -> None:
    fake.route("/api/v1/query", (200, vector(5), 0))
    rc, out = run_module(
        "prometheus_probe", tmp_path, url=fake.url, query="x", max=1, within=1, interval=0.2
    )
    assert rc == 1 and out["verdict"] == "BREACH"
    # It retried, then stopped near the deadline; the slack absorbs a loaded machine.
    assert 2 <= out["attempts"] <= 6 and out["elapsed"] < 2.5


def test_prometheus_headers_are_sent_and_not_logged(fake: FakeHTTP, tmp_path: Path) -> None:
    fake.route("/api/v1/query", (200, vector(0), 0))
    rc, out = run_module(
        "prometheus_probe",
        tmp_path,
        url=fake.url,
        query="x",
        max=1,
        headers={"Authorization": "Bearer s3cr3t-token"},
    )
    assert rc == 0
    assert fake.requests[0]["headers"]["Authorization"] == "Bearer s3cr3t-token"
    assert "s3cr3t-token" not in json.dumps(out)


def test_a_secret_read_from_access_is_masked_in_what_the_module_returns(
    fake: FakeHTTP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token comes from the controller's environment (O(access)); a server that echoes
    the request's credentials in its body does not put it in the task's result."""
    monkeypatch.setenv("PROBE_TEST_TOKEN", "tok-echoed-back-5e1d")
    fake.route("/debug", (200, b"Authorization: Bearer tok-echoed-back-5e1d", 0))
    rc, out = run_module(
        "http_probe",
        tmp_path,
        url=fake.url + "/debug",
        body_contains="Bearer",
        access={"bearer_token_env": "PROBE_TEST_TOKEN"},
    )
    assert rc == 0, out
    assert fake.requests[0]["headers"]["Authorization"] == "Bearer tok-echoed-back-5e1d"
    assert out["verdict"] == "PASS" and "Bearer" in out["body"]
    assert "tok-echoed-back-5e1d" not in json.dumps(out)


def test_http_probe_checks_status_body_latency(fake: FakeHTTP, tmp_path: Path) -> None:
    fake.route("/health", (200, b"ok healthy", 0))
    rc, out = run_module(
        "http_probe", tmp_path, url=f"{fake.url}/health", body_contains="healthy", max_latency=2
    )
    assert rc == 0 and out["verdict"] == "PASS" and out["status"] == 200

    fake.route("/health", (503, b"down", 0))
    rc, out = run_module("http_probe", tmp_path, url=f"{fake.url}/health")
    assert rc == 1 and out["verdict"] == "BREACH" and out["status"] == 503

    fake.route("/health", (200, b"nope", 0))
    rc, out = run_module("http_probe", tmp_path, url=f"{fake.url}/health", body_contains="ok")
    assert rc == 1 and out["verdict"] == "BREACH" and "lacks" in out["evidence"]

    rc, out = run_module("http_probe", tmp_path, url=f"{fake.url}/health", body_regex="^no+pe$")
    assert rc == 0 and out["verdict"] == "PASS"
    rc, out = run_module("http_probe", tmp_path, url=f"{fake.url}/health", body_regex="^ok")
    assert rc == 1 and out["verdict"] == "BREACH" and "does not match" in out["evidence"]

    fake.route("/slow", (200, b"ok", 0.6))
    rc, out = run_module("http_probe", tmp_path, url=f"{fake.url}/slow", max_latency=0.3)
    assert rc == 1 and out["verdict"] == "BREACH" and out["latency"] >= 0.6


def test_http_probe_no_answer_is_unknown(tmp_path: Path) -> None:
    rc, out = run_module("http_probe", tmp_path, url="http://127.0.0.1:9/", fail_on=["breach"])
    assert rc == 0 and out["verdict"] == "UNKNOWN" and out["status"] is None


def _prom_alerts(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"status": "success", "data": {"alerts": list(alerts)}}


def test_alert_probe_prometheus_firing_and_pending(fake: FakeHTTP, tmp_path: Path) -> None:
    firing = {"labels": {"alertname": "Down", "instance": "order-2"}, "state": "firing"}
    pending = {"labels": {"alertname": "Down", "instance": "order-3"}, "state": "pending"}
    fake.route("/api/v1/alerts", (200, _prom_alerts(firing, pending), 0))
    args = {"url": fake.url, "alertname": "Down"}
    rc, out = run_module("alert_probe", tmp_path, labels={"instance": "order-2"}, **args)
    assert rc == 0 and out["verdict"] == "PASS" and out["firing"] is True
    rc, out = run_module("alert_probe", tmp_path, labels={"instance": "order-3"}, **args)
    assert rc == 1 and out["verdict"] == "BREACH" and out["firing"] is False
    rc, out = run_module(
        "alert_probe", tmp_path, state="not_firing", alertname="Other", url=fake.url
    )
    assert rc == 0 and out["verdict"] == "PASS"


def test_alert_probe_alertmanager_within(fake: FakeHTTP, tmp_path: Path) -> None:
    active = {"labels": {"alertname": "Down"}, "status": {"state": "active"}, "startsAt": "t"}
    silenced = {"labels": {"alertname": "Down"}, "status": {"state": "suppressed"}}
    fake.route("/api/v2/alerts", (200, [], 0), (200, [silenced], 0), (200, [active], 0))
    rc, out = run_module(
        "alert_probe",
        tmp_path,
        url=fake.url,
        api="alertmanager",
        alertname="Down",
        within=10,
        interval=0.1,
    )
    assert rc == 0 and out["verdict"] == "PASS" and out["attempts"] == 3
    assert out["alerts"][0]["since"] == "t"


def test_alert_probe_unreachable_is_unknown(tmp_path: Path) -> None:
    rc, out = run_module("alert_probe", tmp_path, url="http://127.0.0.1:9", alertname="X")
    assert rc == 1 and out["verdict"] == "UNKNOWN" and out["firing"] is None


def test_module_rejects_bad_option(tmp_path: Path) -> None:
    rc, out = run_module(
        "prometheus_probe", tmp_path, url="http://x", query="q", fail_on=["sometimes"]
    )
    assert rc == 1 and "fail_on" in out["msg"]


@pytest.mark.parametrize("name", ["prometheus_probe", "http_probe", "alert_probe"])
def test_documentation_matches_argument_spec(name: str) -> None:
    """What `ansible-test sanity --test validate-modules` checks first: every option is
    documented with the same type, default, choices, elements, aliases and required."""
    import importlib

    import yaml

    module = importlib.import_module(f"ansible_collections.chaosrun.chaos.plugins.modules.{name}")
    docs = yaml.safe_load(module.DOCUMENTATION)
    # Merge the shared option docs the way ansible-doc does (extends_documentation_fragment).
    for fragment in docs.get("extends_documentation_fragment", []):
        frag = importlib.import_module(
            "ansible_collections.chaosrun.chaos.plugins.doc_fragments." + fragment.split(".")[-1]
        )
        docs["options"].update(yaml.safe_load(frag.ModuleDocFragment.DOCUMENTATION)["options"])
    yaml.safe_load(module.EXAMPLES)
    assert isinstance(yaml.safe_load(module.RETURN), dict)
    assert docs["module"] == name
    spec = module.argument_spec()
    assert set(docs["options"]) == set(spec)
    for option, want in spec.items():
        doc = docs["options"][option]
        assert doc["type"] == want["type"], option
        assert doc.get("default") == want.get("default"), option
        assert doc.get("required", False) == want.get("required", False), option
        assert doc.get("choices") == want.get("choices"), option
        assert doc.get("elements") == want.get("elements"), option
        assert doc.get("aliases") == want.get("aliases"), option
