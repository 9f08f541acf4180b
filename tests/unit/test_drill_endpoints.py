"""A drill's probe steps ask the Prometheus the run's own probes ask: the plan's (from
chaosrun.yml, the inventory or the runbook), with its CA and credentials. A team's
inventory names no Prometheus (`lab_prometheus_url` is the lab's); the step still
reaches the project's, over TLS with basic auth, and the password's value is written
nowhere in the run's directory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import tlsprom
import yaml

from chaosrun.base import usertext
from chaosrun.base.usertext import UnsafeDumper
from chaosrun.model import config
from chaosrun.model.apiaccess import ApiAccess
from chaosrun.runbook import drill
from chaosrun.runbook.parse import parse

RUNBOOK = """\
# Scraped

## Check the fleet is scraped

```chaosrun
prometheus: vector(1)
min: 1
within: 10s
```
"""


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory):
    server = tlsprom.start(tmp_path_factory.mktemp("tlsprom"))
    yield server
    server.close()


def test_a_probe_step_reaches_the_projects_prometheus(
    prom: tlsprom.TlsPrometheus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    monkeypatch.delenv("CHAOSRUN_CONFIG", raising=False)
    monkeypatch.setenv("TEAM_PROM_PASSWORD", tlsprom.PASSWORD)
    (tmp_path / "chaosrun.yml").write_text(
        f"prometheus:\n  url: {prom.url}\n  ca_file: {prom.ca}\n"
        f"  basic_auth: {{username: {tlsprom.USER}, password_env: TEAM_PROM_PASSWORD}}\n"
    )
    cfg = config.load()
    inventory = tmp_path / "hosts"  # the team's: no Prometheus in it
    inventory.write_text(
        f"here ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    book = parse(RUNBOOK, tmp_path / "scraped.md")
    work = tmp_path / "step"
    endpoints = drill.endpoint_vars(cfg.prometheus, cfg.alertmanager)
    result = drill.run_step(book, book.steps[0], inventory, work, endpoints)
    assert result.ok, result.detail
    written = [p for p in work.rglob("*") if p.is_file()]
    assert written and not [p for p in written if tlsprom.PASSWORD in p.read_text(errors="replace")]


def test_endpoints_read_from_an_inventory_are_written_as_plain_text() -> None:
    """Values Ansible's inventory gives are its own str subclasses; the step's vars file
    must still be written (the lab's access block comes from its inventory)."""

    class Tagged(str):
        pass

    access = ApiAccess(
        url=Tagged("https://p"),
        ca_file=Path("/ca.pem"),
        username=Tagged("chaos"),
        password_from=(Tagged("password_file"), Tagged("/pw")),
        headers={Tagged("X-Scope-OrgID"): Tagged("team-a")},
    )
    text = yaml.dump(drill.endpoint_vars(access, None), Dumper=UnsafeDumper)
    assert usertext.load(text) == {
        "chaosrun_prometheus_url": "https://p",
        "chaosrun_prometheus_access": {
            "ca_file": "/ca.pem",
            "basic_auth": {"username": "chaos", "password_file": "/pw"},
            "headers": {"X-Scope-OrgID": "team-a"},
        },
    }
