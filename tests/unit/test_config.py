"""chaosrun.yml: defaults for every key, errors naming file, line and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from chaosrun.base.errors import InvalidInput
from chaosrun.model import config

PROJECT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chaosrun.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_no_file_gives_every_default(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAOSRUN_CONFIG", raising=False)
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    cfg = config.load()
    assert cfg.source is None
    assert cfg.prometheus_url == "http://127.0.0.1:9090"
    assert cfg.lease_ttl_s == 30 and cfg.lease_renew_every_s == 5
    assert cfg.lease_max_ttl_s == 300
    assert cfg.inject_deadline_s == 120
    assert (cfg.max_duration_s, cfg.max_duration_source) == (3600, "the built-in default")
    assert cfg.caps.max_percent == 50 and not cfg.caps.allow_whole_group
    assert cfg.run_dir == tmp_path / ".chaosrun/runs"
    assert cfg.audit_path == tmp_path / ".chaosrun/audit.jsonl"
    assert cfg.windows == [] and cfg.webhooks == []


def test_values_and_relative_paths(tmp_path):
    path = write(
        tmp_path,
        """\
        prometheus: {url: "http://prom:9090/", timeout: 2s}
        lease: {ttl: 20s, renew_every: 4s}
        run_dir: state/runs
        audit: {path: /var/log/chaosrun/audit.jsonl}
        blast_radius: {max_hosts: 2}
        blackout_windows:
          - {name: backup, cron: "0 2 * * *", length: 1h}
        notifications:
          webhooks:
            - {name: chat, url: "http://127.0.0.1:9/hook", events: [end, freeze]}
        """,
    )
    cfg = config.load(path)
    assert cfg.prometheus_url == "http://prom:9090" and cfg.prometheus_timeout_s == 2
    assert cfg.lease_ttl_s == 20
    assert cfg.run_dir == tmp_path / "state/runs"
    assert cfg.audit_path == Path("/var/log/chaosrun/audit.jsonl")
    assert cfg.caps.max_hosts == 2 and cfg.caps.max_percent == 50
    assert cfg.windows[0].name == "backup"
    assert cfg.webhooks[0].events == ("end", "freeze")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            "prometheus:\n  url: http://x\n  timout: 5s\n",
            "chaosrun.yml:3: prometheus.timout: unknown key",
        ),
        ("lease:\n  ttl: soon\n", "chaosrun.yml:2: lease.ttl: not a duration"),
        ("lease:\n  ttl: 2s\n", "chaosrun.yml:2: lease.ttl: a lease shorter than 5s"),
        ("lease:\n  ttl: 20s\n  renew_every: 15s\n", "chaosrun.yml:3: lease.renew_every"),
        ("lease:\n  ttl: 7d\n", "chaosrun.yml:2: lease.ttl: 604800s is longer than lease.max_ttl"),
        (
            "lease:\n  ttl: 10m\n  max_ttl: 5m\n",
            "chaosrun.yml:2: lease.ttl: 600s is longer than lease.max_ttl (300s)",
        ),
        ("lease:\n  max_ttl: 1s\n", "chaosrun.yml:2: lease.max_ttl: must be at least 5s"),
        ("max_duration: 0\n", "chaosrun.yml:1: max_duration: must be longer than zero"),
        ("max_duration: 500ms\n", "chaosrun.yml:1: max_duration: must be at least 1s"),
        ("max_duration: {hours: 1}\n", "chaosrun.yml:1: max_duration: not a duration"),
        ("deadlines:\n  inject: 5s\n", "chaosrun.yml:2: deadlines.inject: must be at least 10s"),
        ("deadlines:\n  inject: soon\n", "chaosrun.yml:2: deadlines.inject: not a duration"),
        ("runs_dir: x\n", "chaosrun.yml:1: runs_dir: unknown key"),
        ("blast_radius:\n  max_percent: 0\n", "chaosrun.yml:2: blast_radius.max_percent"),
        ("guardrails:\n  breaches_in_a_row: 0\n", "chaosrun.yml:2: guardrails.breaches_in_a_row"),
        (
            "blackout_windows:\n  - name: x\n    cron: '0 2 * *'\n    length: 1h\n",
            "chaosrun.yml:3: blackout_windows[0].cron",
        ),
        (
            "notifications:\n  webhooks:\n    - url: ftp://x\n",
            "chaosrun.yml:3: notifications.webhooks[0].url",
        ),
        ("prometheus: [1]\n", "chaosrun.yml:1: prometheus: must be a mapping"),
        ("a: [\n", "chaosrun.yml:2: not valid YAML"),
    ],
)
def test_errors_name_file_line_and_key(tmp_path, text, where):
    path = write(tmp_path, text)
    with pytest.raises(InvalidInput) as exc:
        config.load(path)
    assert str(exc.value).startswith(str(tmp_path / where)), str(exc.value)
    assert exc.value.exit_code == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (bytes(range(256)), "chaosrun.yml: not a text file (not UTF-8)"),
        (b"lease:\n  ttl: \x00\x01\x02\n", "chaosrun.yml:2: not a text file"),
    ],
)
def test_a_binary_file_is_one_line_naming_it(tmp_path, content, expected):
    path = tmp_path / "chaosrun.yml"
    path.write_bytes(content)
    with pytest.raises(InvalidInput) as exc:
        config.load(path)
    assert str(exc.value).startswith(str(tmp_path / expected)), str(exc.value)
    assert "\n" not in str(exc.value) and exc.value.exit_code == 2


def test_an_unreadable_file_is_one_line_naming_it(tmp_path):
    (tmp_path / "chaosrun.yml").mkdir()  # reading fails even for root
    with pytest.raises(InvalidInput) as exc:
        config.load(tmp_path / "chaosrun.yml")
    assert str(exc.value).startswith(f"{tmp_path / 'chaosrun.yml'}: cannot read")
    assert "\n" not in str(exc.value)


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(InvalidInput, match="config file not found"):
        config.load(tmp_path / "nope.yml")


def test_the_shipped_example_is_the_defaults(tmp_path, monkeypatch):
    """The documented chaosrun.yml at the project root must parse and equal the defaults."""
    shipped = config.load(PROJECT / "chaosrun.yml")
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(PROJECT))
    monkeypatch.delenv("CHAOSRUN_CONFIG", raising=False)
    defaults = config.parse({}, config.Located("x", ""), base=PROJECT, source=None)
    for name in (
        "prometheus_url",
        "lease_ttl_s",
        "lease_renew_every_s",
        "lease_max_ttl_s",
        "inject_deadline_s",
        "max_duration_s",
        "run_dir",
        "audit_path",
        "freeze_file",
        "guardrail_interval_s",
        "windows",
        "webhooks",
    ):
        assert getattr(shipped, name) == getattr(defaults, name), name
    for key in ("max_hosts", "max_percent", "allow_whole_group"):
        assert getattr(shipped.caps, key) == getattr(defaults.caps, key), key
