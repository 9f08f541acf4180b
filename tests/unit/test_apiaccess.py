"""Reaching Prometheus as a real fleet does: TLS verified against the configured CA, basic
auth, one-line reasons for each failure, and secrets that never reach text."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import tlsprom
from engine_fixtures import GOOD

from chaosrun.base.errors import InvalidInput
from chaosrun.base.verdict import Verdict
from chaosrun.model import config
from chaosrun.model.apiaccess import ApiAccess
from chaosrun.model.experiment import ProbeSpec
from chaosrun.probes import Prober
from chaosrun.probes.prometheus import PrometheusSource
from chaosrun.probes.session import explain, open_session

UP = ProbeSpec("prometheus answers", "prometheus", {"query": "vector(1)"}, {"min": 1}, ())


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory):
    server = tlsprom.start(tmp_path_factory.mktemp("tlsprom"))
    yield server
    server.close()


def verdict(access: ApiAccess):
    source = PrometheusSource(access, 5.0)
    return source.ready(), Prober(source, 5.0).evaluate(UP)


def test_right_ca_and_credentials_pass(prom: tlsprom.TlsPrometheus) -> None:
    access = ApiAccess(prom.url, ca_file=prom.ca, username=tlsprom.USER, password=tlsprom.PASSWORD)
    (ready, _), result = verdict(access)
    assert ready and result.verdict is Verdict.PASS, result.evidence


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"ca_file": "other"}, "TLS certificate not trusted"),
        ({"ca_file": None}, "TLS certificate not trusted"),
        ({"password": "wrong"}, "HTTP 401 unauthorized"),
        ({"username": None}, "HTTP 401 unauthorized"),
    ],
)
def test_each_failure_is_unknown_with_one_line(prom: tlsprom.TlsPrometheus, change, reason) -> None:
    settings = {"ca_file": prom.ca, "username": tlsprom.USER, "password": tlsprom.PASSWORD}
    settings.update(change)
    if settings["ca_file"] == "other":
        settings["ca_file"] = prom.other_ca
    (ready, why), result = verdict(ApiAccess(prom.url, **settings))
    assert not ready and reason in why and prom.url in why, why
    assert result.verdict is Verdict.UNKNOWN
    assert reason in result.evidence and "\n" not in result.evidence, result.evidence


def test_insecure_skip_verify_works(prom: tlsprom.TlsPrometheus) -> None:
    access = ApiAccess(
        prom.url, insecure_skip_verify=True, username=tlsprom.USER, password=tlsprom.PASSWORD
    )
    (ready, _), result = verdict(access)
    assert ready and result.verdict is Verdict.PASS


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chaosrun.yml"
    path.write_text(textwrap.dedent(text))
    return path


def test_config_reads_tls_and_secrets_from_env_and_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ca.pem").write_text("not checked here")
    (tmp_path / "token").write_text("am-token\n")
    monkeypatch.setenv("PROM_PASSWORD", "from-env")
    cfg = config.load(
        write_config(
            tmp_path,
            """\
            prometheus:
              url: https://prom.example.com/
              ca_file: ca.pem
              basic_auth: {username: chaos, password_env: PROM_PASSWORD}
              headers: {X-Scope-OrgID: team-a}
            alertmanager:
              url: https://am.example.com
              bearer_token_file: token
            """,
        )
    )
    prom = cfg.prometheus
    assert prom.url == "https://prom.example.com" and prom.ca_file == tmp_path / "ca.pem"
    assert (prom.username, prom.password) == ("chaos", "from-env")
    session = open_session(prom)
    assert session.verify == str(tmp_path / "ca.pem") and session.auth == ("chaos", "from-env")
    assert session.headers["X-Scope-OrgID"] == "team-a"
    am = cfg.alertmanager
    assert open_session(am).headers["Authorization"] == "Bearer am-token"
    assert am.secrets() == ["am-token"] and "am-token" not in repr(am)


@pytest.mark.parametrize(
    "block, message",
    [
        ("ca_file: missing.pem", ":3: prometheus.ca_file: "),
        ("insecure_skip_verify: yes please", ":3: prometheus.insecure_skip_verify"),
        ("tls: {}", ":3: prometheus.tls: unknown key"),
    ],
)
def test_config_errors_name_file_line_and_key(tmp_path: Path, block: str, message: str) -> None:
    path = write_config(tmp_path, f"prometheus:\n  url: https://p\n  {block}\n")
    with pytest.raises(InvalidInput) as info:
        config.load(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value), info.value
    assert "\n" not in str(info.value)


def test_credentials_go_only_to_their_own_server() -> None:
    access = ApiAccess("https://prom:9090", username="u", password="p", ca_file=Path("/ca"))
    assert access.with_url("https://prom:9090/sub").password == "p"
    other = access.with_url("https://elsewhere:9090")
    assert other.password is None and other.username is None and other.ca_file == Path("/ca")


def test_plan_warns_about_skipped_verification_and_redacts_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine_fixtures import COLLECTIONS, INVENTORY

    from chaosrun.hosts import rolespec
    from chaosrun.plan.planning import load_plan

    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
    rolespec.load_role.cache_clear()
    monkeypatch.setenv("PROM_PASSWORD", "hunter2-secret")
    path = write_config(
        tmp_path,
        """\
        prometheus:
          url: https://prom.example.com
          insecure_skip_verify: true
          basic_auth: {username: chaos, password_env: PROM_PASSWORD}
        """,
    )
    monkeypatch.setenv("CHAOSRUN_CONFIG", str(path))
    monkeypatch.setenv("CHAOSRUN_PROMETHEUS_URL", "https://prom.example.com")
    plan = load_plan(GOOD, INVENTORY, [])
    assert any("insecure_skip_verify" in w for w in plan.report.warnings)
    assert plan.prometheus.password == "hunter2-secret"
    assert "hunter2-secret" not in plan.redactor.text("query failed with hunter2-secret")


def test_explain_names_timeouts() -> None:
    import requests

    line = explain(requests.exceptions.ReadTimeout("read timed out"), "https://p")
    assert line == "https://p: no answer in time (timeout)"


def test_probe_module_trusts_the_given_ca(prom: tlsprom.TlsPrometheus, tmp_path: Path) -> None:
    """The collection's prometheus_probe (compiled runbooks, playbooks) verifies TLS too."""
    import base64

    from ansible_collections.chaosrun.chaos.tests.unit.plugins.modules.test_probe_modules import (
        run_module,
    )

    token = base64.b64encode(f"{tlsprom.USER}:{tlsprom.PASSWORD}".encode()).decode()
    args = {"url": prom.url, "query": "vector(1)", "min": 1, "fail_on": []}
    auth = {"Authorization": f"Basic {token}"}
    _, trusted = run_module(
        "prometheus_probe", tmp_path, ca_path=str(prom.ca), headers=auth, **args
    )
    assert trusted["verdict"] == "PASS", trusted
    _, untrusted = run_module("prometheus_probe", tmp_path, headers=auth, **args)
    assert untrusted["verdict"] == "UNKNOWN" and "CERTIFICATE" in str(untrusted).upper()


def test_probe_module_reads_access_like_chaosrun_yml(
    prom: tlsprom.TlsPrometheus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`access` takes the keys of chaosrun.yml: the password comes from a file or the
    environment on the controller, never from the task's arguments."""
    from ansible_collections.chaosrun.chaos.tests.unit.plugins.modules.test_probe_modules import (
        run_module,
    )

    secret = tmp_path / "password"
    secret.write_text(tlsprom.PASSWORD + "\n")
    args = {"url": prom.url, "query": "vector(1)", "min": 1, "fail_on": []}
    auth = {"username": tlsprom.USER, "password_file": str(secret)}
    _, good = run_module(
        "prometheus_probe", tmp_path, access={"ca_file": str(prom.ca), "basic_auth": auth}, **args
    )
    assert good["verdict"] == "PASS", good
    assert tlsprom.PASSWORD not in json.dumps(good)
    monkeypatch.setenv("WRONG_PASSWORD", "not-it")
    wrong = {"username": tlsprom.USER, "password_env": "WRONG_PASSWORD"}
    _, refused = run_module(
        "prometheus_probe", tmp_path, access={"ca_file": str(prom.ca), "basic_auth": wrong}, **args
    )
    assert refused["verdict"] == "UNKNOWN" and "401" in refused["evidence"], refused
    rc, bad = run_module("prometheus_probe", tmp_path, access={"ca": "x"}, **args)
    assert rc != 0 and "unknown key ca" in bad["msg"], bad


def test_inventory_access_applies_to_its_own_url_only(tmp_path: Path) -> None:
    """The lab's inventory names its CA and password file next to its URL; a run reaches
    that server with them, and any other server without the password."""
    from chaosrun.hosts.inventory import Inventory
    from chaosrun.plan.planning import inventory_access

    secret = tmp_path / "password"
    secret.write_text("lab-secret\n")
    ca = tmp_path / "ca.pem"
    ca.write_text("not read here\n")
    (tmp_path / "hosts").write_text(
        textwrap.dedent(
            f"""\
            all:
              hosts: {{h1: {{ansible_host: 127.0.0.1}}}}
              vars:
                lab_prometheus_url: https://127.0.0.1:19190
                lab_prometheus_access:
                  ca_file: {ca}
                  basic_auth: {{username: chaosrun, password_file: {secret}}}
            """
        )
    )
    inventory = Inventory(tmp_path / "hosts")
    own = inventory_access(inventory, "prometheus", "https://127.0.0.1:19190/")
    assert own and own.password == "lab-secret" and own.ca_file == ca
    assert own.url == "https://127.0.0.1:19190"
    assert inventory_access(inventory, "prometheus", "https://elsewhere:9090") is None
    assert inventory_access(inventory, "alertmanager", "https://127.0.0.1:19193") is None
