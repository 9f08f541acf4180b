"""chaosrun.yml, blackout windows, blast-radius caps and schedules through schema.Checker:
a good file loads to exactly what the earlier hand-written loaders gave (a snapshot taken
with them), a bad one reports every problem at once with its file, line and field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaosrun.base.errors import InvalidInput
from chaosrun.cli import app
from chaosrun.model import apiaccess, blast_radius, config
from chaosrun.model.blast_radius import Caps
from chaosrun.model.schema import field_name
from chaosrun.model.windows import parse_windows
from chaosrun.modes import schedules
from chaosrun.ops import scaffold_project

PROJECT = Path(__file__).resolve().parents[2]
SETTINGS = Path(__file__).resolve().parent / "fixtures" / "settings"


def _shown(value: object, *roots: Path) -> str:
    text = repr(value)
    for root in roots:
        text = text.replace(str(root), "<project>" if root == PROJECT else "<tmp>")
    return text


def loaded(tmp_path: Path) -> dict[str, str]:
    """What each shipped or documented example loads to, paths made machine-neutral."""
    (tmp_path / "ca.pem").write_text("ca\n")
    (tmp_path / "am-token").write_text("am-secret\n")
    rich = tmp_path / "chaosrun.yml"
    rich.write_text((SETTINGS / "rich-chaosrun.yml").read_text())
    scaffolded = tmp_path / "scaffolded"
    scaffold_project.init(scaffolded)
    return {
        "repo": _shown(config.load(PROJECT / "chaosrun.yml"), PROJECT),
        "rich": _shown(config.load(rich), tmp_path),
        "scaffolded": _shown(config.load(scaffolded / "chaosrun.yml"), tmp_path),
        "schedules": _shown(schedules.load(SETTINGS / "schedules.yml"), SETTINGS),
    }


@pytest.fixture
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    for name in ("CHAOSRUN_CONFIG", "CHAOSRUN_RUNS_DIR", "CHAOSRUN_RUN_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEST_PROM_PASSWORD", "prom-secret")
    monkeypatch.setenv("TEST_PD_KEY", "pd-secret")
    return tmp_path


def test_good_files_load_as_the_old_loaders_did(settings_env: Path) -> None:
    got = loaded(settings_env)
    if os.environ.get("CHAOSRUN_WRITE_SNAPSHOT"):
        for name, text in got.items():
            (SETTINGS / f"{name}.loaded.txt").write_text(text + "\n")
    for name, text in got.items():
        assert text + "\n" == (SETTINGS / f"{name}.loaded.txt").read_text(), name


def test_secrets_are_read_as_before(settings_env: Path) -> None:
    (settings_env / "ca.pem").write_text("ca\n")
    (settings_env / "am-token").write_text("am-secret\n")
    rich = settings_env / "chaosrun.yml"
    rich.write_text((SETTINGS / "rich-chaosrun.yml").read_text())
    cfg = config.load(rich)
    assert cfg.prometheus and cfg.prometheus.password == "prom-secret"
    assert cfg.alertmanager and cfg.alertmanager.bearer_token == "am-secret"
    assert [hook.routing_key for hook in cfg.webhooks] == [None, "pd-secret", None]


BAD_CONFIG = """\
prometheus:
  url: https://prom.example.com
  timeout: soon
  ca_file: missing.pem
  insecure_skip_verify: yes please
guardrails:
  breaches_in_a_row: 0
blackout_windows:
  - name: backup
    cron: "0 25 * * *"
    length: 1h
  - name: weekend
    timezone: Mars/Olympus
    weekly: {start: "Fry 18:00", end: "Mon 08:00"}
blast_radius:
  max_percent: 150
  max_host: 3
lease:
  renew_every: 20s
notifications:
  webhooks:
    - url: ftp://hooks.example.com
runs_dir: x
"""


def problems(text: str) -> list[str]:
    return text.splitlines()


def test_every_problem_of_a_config_file_at_once(settings_env: Path) -> None:
    path = settings_env / "chaosrun.yml"
    path.write_text(BAD_CONFIG)
    with pytest.raises(InvalidInput) as exc:
        config.load(path)
    expected = [
        ":3: prometheus.timeout: not a duration",
        ":4: prometheus.ca_file: ",
        ":5: prometheus.insecure_skip_verify: must be true or false",
        ":7: guardrails.breaches_in_a_row: must be a whole number >= 1",
        ":10: blackout_windows[0].cron: cron value 25 outside 0-23",
        ":13: blackout_windows[1].timezone: unknown time zone",
        ":14: blackout_windows[1].weekly.start: 'Fry 18:00' is not 'Day HH:MM'",
        ":16: blast_radius.max_percent: must be a percentage",
        ":17: blast_radius.max_host: unknown key",
        ":19: lease.renew_every: renew at most every half lease",
        ":22: notifications.webhooks[0].url: must be an http(s) URL",
        ":23: runs_dir: unknown key",
    ]
    lines = problems(str(exc.value))
    assert len(lines) == len(expected), lines
    for line, needle in zip(sorted(lines, key=_line_no), expected, strict=True):
        assert line.startswith(f"{path}{needle.split(':')[0]}:") and needle in line, line
    assert exc.value.exit_code == 2


def _line_no(problem: str) -> int:
    return int(problem.split(":")[1])


BAD_SCHEDULES = """\
schedules:
  - name: Nightly
    experiment: experiments/a.yml
    cron: "61 * * * *"
    probability: 1.5
    jiter: 2m
  - name: weekly
    experiment: experiments/b.yml
    cron: "@weekly"
    timezone: Mars/Olympus
    min_gap: soon
    business_hours: {days: funday}
    set: {duration: "50%"}
  - name: weekly
    experiment: experiments/c.yml
    cron: "@daily"
    enabled: sometimes
"""


def test_every_problem_of_a_schedule_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "chaosrun-schedules.yml"
    path.write_text(BAD_SCHEDULES)
    with pytest.raises(InvalidInput) as exc:
        schedules.load(path)
    expected = [
        ":2: schedules[0].name: 'Nightly' must be lowercase",
        ":4: schedules[0].cron: ",
        ":5: schedules[0].probability: must be from 0 to 1",
        ":6: schedules[0].jiter: unknown key",
        ":10: schedules[1].timezone: unknown time zone",
        ":11: schedules[1].min_gap: not a duration",
        ":12: schedules[1].business_hours: bad days",
        ":13: schedules[1].set.duration: must not contain a newline or %",
        ":14: schedules[2].name: duplicate name",
        ":17: schedules[2].enabled: must be true or false",
    ]
    lines = sorted(problems(str(exc.value)), key=_line_no)
    assert len(lines) == len(expected), lines
    for line, needle in zip(lines, expected, strict=True):
        assert line.startswith(str(path)) and needle in line, line


def test_a_duplicate_schedule_name_is_named_where_it_repeats(tmp_path: Path) -> None:
    path = tmp_path / "chaosrun-schedules.yml"
    path.write_text(BAD_SCHEDULES.replace("    enabled: sometimes\n", ""))
    with pytest.raises(InvalidInput) as exc:
        schedules.load(path)
    text = str(exc.value)
    assert f"{path}:14: schedules[2].name: duplicate name" in problems(text)


def where(at: tuple) -> str:
    return f"exp.yml:{len(at)}: {field_name(at)}"


def test_an_experiments_windows_and_caps_report_every_problem() -> None:
    raw_windows = [
        {"name": "", "cron": "0 2 * *"},
        {"name": "x", "dates": {"start": "soon", "end": "2026-12-01"}, "length": "1h"},
    ]
    with pytest.raises(InvalidInput) as exc:
        parse_windows(raw_windows, where, ("w",))
    text = str(exc.value)
    assert problems(text) == [
        "exp.yml:3: w[0].name: blackout window needs a 'name'",
        "exp.yml:3: w[0].cron: cron expression needs 5 fields, got 4: '0 2 * *'",
        "exp.yml:3: w[0].cron: cron window '' needs a 'length'",
        "exp.yml:3: w[1].length: 'length' belongs to cron windows only",
        "exp.yml:4: w[1].dates.start: 'soon' is not a date (YYYY-MM-DD) or date and time "
        "(YYYY-MM-DD HH:MM)",
    ]
    raw_caps = {"max_hosts": 0, "max_percent": True, "allow_whole_group": "yes", "zones": 1}
    with pytest.raises(InvalidInput) as exc:
        Caps().override(raw_caps, where, ("b",), "e")
    text = str(exc.value)
    assert problems(text) == [
        "exp.yml:2: b.max_hosts: must be a whole number >= 1 (or null)",
        "exp.yml:2: b.max_percent: must be a percentage in (0, 100] (or null)",
        "exp.yml:2: b.allow_whole_group: must be true or false",
        "exp.yml:2: b.zones: unknown key (known: " + ", ".join(blast_radius.KEYS) + ")",
    ]


def test_access_settings_report_every_problem(tmp_path: Path) -> None:
    block = {
        "ca_file": "missing.pem",
        "key_file": "k.pem",
        "headers": {"X-Tenant": 1},
        "basic_auth": {"username": "", "password_env": "CHAOSRUN_TEST_NOT_SET_ANYWHERE"},
        "tls": {},
    }
    with pytest.raises(InvalidInput) as exc:
        apiaccess.parse("https://p", block, where, ("p",), tmp_path)
    text = str(exc.value)
    assert problems(text) == [
        "exp.yml:2: p.tls: unknown key (known: " + ", ".join(apiaccess.KEYS) + ")",
        f"exp.yml:2: p.ca_file: {tmp_path / 'missing.pem'} is not a readable file",
        f"exp.yml:2: p.key_file: {tmp_path / 'k.pem'} is not a readable file",
        "exp.yml:2: p.key_file: key_file needs cert_file",
        "exp.yml:3: p.basic_auth.username: must be a non-empty string",
        "exp.yml:3: p.basic_auth.password_env: $CHAOSRUN_TEST_NOT_SET_ANYWHERE is not set",
        "exp.yml:2: p.headers: must map header names to strings",
    ]


def test_validate_prints_every_problem_of_the_config(
    settings_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (settings_env / "chaosrun.yml").write_text(BAD_CONFIG)
    monkeypatch.chdir(settings_env)
    result = CliRunner().invoke(app, ["validate", "experiments/none.yml"])
    assert result.exit_code == 2, result.output
    shown = [line for line in result.output.splitlines() if "chaosrun.yml:" in line]
    assert len(shown) == 12 and all(line.startswith("chaosrun: error: ") for line in shown)
    assert ":7: guardrails.breaches_in_a_row" in result.output
    assert ":22: notifications.webhooks[0].url" in result.output
    as_json = CliRunner().invoke(app, ["validate", "--json", "experiments/none.yml"])
    assert as_json.exit_code == 2
    assert '"ok": false' in as_json.stdout and "blast_radius.max_percent" in as_json.stdout
