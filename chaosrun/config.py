"""The project configuration, `chaosrun.yml` at the project root.

Every key has a default, so a project without the file works. Unknown keys and wrong
types are errors naming the file, the line and the key. Relative paths in the file are
relative to the directory holding it (the project root, chaosrun.project).
`CHAOSRUN_CONFIG` points at another file. See docs/config.md for every key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from chaosrun import apiaccess
from chaosrun import project as projects
from chaosrun.apiaccess import ApiAccess
from chaosrun.blast_radius import Caps
from chaosrun.errors import InvalidInput
from chaosrun.report.formats import FORMATS, PAGERDUTY_URL
from chaosrun.windows import Window, parse_duration, parse_windows

FILE_NAME = "chaosrun.yml"
ENV_VAR = "CHAOSRUN_CONFIG"

# How Prometheus and Alertmanager are reached besides the URL (chaosrun.apiaccess); None:
# not set (headers and basic_auth are mappings checked there, not here).
ACCESS: dict[str, Any] = {**dict.fromkeys(apiaccess.KEYS), "insecure_skip_verify": False}
# The shape of the file: a nested dict of key -> default. A default of None means "no
# value"; lists are checked by their own parsers below.
DEFAULTS: dict[str, Any] = {
    "prometheus": {"url": "http://127.0.0.1:9090", "timeout": "5s", **ACCESS},
    "alertmanager": {"url": None, **ACCESS},
    "guardrails": {
        "interval": "2s",
        "breaches_in_a_row": 1,
        "unknown_budget": 3,
        "probes": [],
    },
    "blackout_windows": [],
    "blast_radius": {
        "max_hosts": 5,
        "max_percent": 50,
        "allow_whole_group": False,
        "max_zones": 1,
        "allow_all_zones": False,
    },
    "lease": {"ttl": "30s", "renew_every": "5s", "max_ttl": "5m"},
    "audit": {"path": ".chaosrun/audit.jsonl"},
    "run_dir": ".chaosrun/runs",
    "freeze_file": ".chaosrun/freeze.json",
    "inventory": None,
    "experiments": "experiments",
    "runbooks": "runbooks",
    "schedules": "chaosrun-schedules.yml",
    "notifications": {"webhooks": []},
}
WEBHOOK_KEYS = {"name", "url", "events", "format", "routing_key_env", "routing_key_file"}
# start/abort/end are a run's (chaosrun.report.notify); slot_failed a scheduled slot's
# (chaosrun.slots); the rest are fleet actions.
EVENTS = ("start", "abort", "end", "refused", "freeze", "unfreeze", "recover", "slot_failed")


@dataclass(frozen=True)
class Webhook:
    name: str
    url: str
    events: tuple[str, ...] = EVENTS
    format: str = "generic"  # generic | slack | pagerduty (chaosrun.report.formats)
    routing_key: str | None = field(default=None, repr=False)  # PagerDuty's, a secret


@dataclass(frozen=True)
class Config:
    """The parsed project configuration; paths are absolute."""

    source: Path | None
    prometheus_url: str
    prometheus_timeout_s: float
    guardrail_interval_s: float
    guardrail_breaches_in_a_row: int
    guardrail_unknown_budget: int
    guardrail_probes: list[dict[str, Any]]
    windows: list[Window]
    caps: Caps
    lease_ttl_s: float
    lease_renew_every_s: float
    lease_max_ttl_s: float
    audit_path: Path
    run_dir: Path
    freeze_file: Path
    inventory: Path | None = None  # None: the inventory of the ansible.cfg in effect
    experiments_dir: Path | None = None
    runbooks_dir: Path | None = None
    schedules_file: Path | None = None
    webhooks: list[Webhook] = field(default_factory=list)
    prometheus: ApiAccess | None = None  # how to reach prometheus_url (TLS, credentials)
    alertmanager: ApiAccess | None = None  # None: the inventory's URL, verified TLS, no auth


class Located:
    """YAML data plus the line of every key, for messages like `chaosrun.yml:12: key`."""

    def __init__(self, path: Path | str, text: str) -> None:
        self.path = str(path)
        self.lines: dict[tuple[Any, ...], int] = {}
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data = yaml.safe_load(text) if node is not None else None
        except yaml.reader.ReaderError as exc:  # a control character: a binary file, mostly
            line = text.count("\n", 0, exc.position) + 1
            raise InvalidInput(f"{self.path}:{line}: not a text file: {exc.reason}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise InvalidInput(f"{self.path}{line}: not valid YAML: {problem}") from None
        if node is not None:
            self._index(node, ())

    def _index(self, node: yaml.Node, at: tuple[Any, ...]) -> None:
        self.lines[at] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*at, key.value)
                self._index(value, sub)
                self.lines[sub] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._index(item, (*at, i))

    def locate(self, at: tuple[Any, ...]) -> str:
        """`file:line: a.b.c` for a key path (the nearest known line for a missing key)."""
        probe = tuple(at)
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        where = f"{self.path}:{line}" if line else self.path
        dotted = ".".join(str(p) for p in at)
        return f"{where}: {dotted}" if dotted else where


def config_path(explicit: str | Path | None = None) -> Path:
    """The config file to read: the explicit one, CHAOSRUN_CONFIG, or chaosrun.yml at
    the project root (which may not exist)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return projects.find().root / FILE_NAME


def load(explicit: str | Path | None = None) -> Config:
    """Read and check the project configuration (defaults when there is no file); the
    runs directory of $CHAOSRUN_RUNS_DIR (`--runs-dir`) replaces the file's."""
    project = projects.find()
    path = config_path(explicit)
    if not path.exists():
        if explicit or os.environ.get(ENV_VAR):
            raise InvalidInput(f"{path}: config file not found")
        cfg = parse({}, Located(path, ""), base=project.root, source=None)
    else:
        doc = Located(path, _read(path))
        data = doc.data if doc.data is not None else {}
        cfg = parse(data, doc, base=path.resolve().parent, source=path)
    runs = projects.env_runs_dir(project)
    return replace(cfg, run_dir=runs) if runs is not None else cfg


def _read(path: Path) -> str:
    """The file's text, or one line naming the file (a binary or unreadable file is bad
    input, not a crash)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not a text file (not UTF-8)") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror or exc}") from None


def parse(data: Any, doc: Located, base: Path, source: Path | None) -> Config:
    """A Config from loaded YAML data; `doc` locates keys for messages."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{doc.locate(())}: the config must be a mapping of keys")
    merged = _merge(DEFAULTS, data, (), doc)
    prom, guard = merged["prometheus"], merged["guardrails"]
    lease = merged["lease"]
    ttl = _seconds(lease["ttl"], ("lease", "ttl"), doc)
    renew = _seconds(lease["renew_every"], ("lease", "renew_every"), doc)
    max_ttl = _seconds(lease["max_ttl"], ("lease", "max_ttl"), doc)
    if ttl < 5:
        raise InvalidInput(f"{doc.locate(('lease', 'ttl'))}: a lease shorter than 5s is unsafe")
    if max_ttl < 5:
        raise InvalidInput(f"{doc.locate(('lease', 'max_ttl'))}: must be at least 5s")
    if ttl > max_ttl:
        raise InvalidInput(
            f"{doc.locate(('lease', 'ttl'))}: {ttl:g}s is longer than lease.max_ttl "
            f"({max_ttl:g}s): a dead controller's fault would outlive it by that long"
        )
    if renew * 2 > ttl:
        raise InvalidInput(
            f"{doc.locate(('lease', 'renew_every'))}: renew at most every half lease "
            f"({ttl / 2:g}s), so one lost renewal does not revert the fault"
        )
    if not isinstance(guard["probes"], list):
        raise InvalidInput(f"{doc.locate(('guardrails', 'probes'))}: must be a list of probes")
    return Config(
        source=source,
        prometheus_url=_text(prom["url"], ("prometheus", "url"), doc).rstrip("/"),
        prometheus_timeout_s=_seconds(prom["timeout"], ("prometheus", "timeout"), doc),
        guardrail_interval_s=_seconds(guard["interval"], ("guardrails", "interval"), doc),
        guardrail_breaches_in_a_row=_int(
            guard["breaches_in_a_row"], ("guardrails", "breaches_in_a_row"), doc, low=1
        ),
        guardrail_unknown_budget=_int(
            guard["unknown_budget"], ("guardrails", "unknown_budget"), doc, low=0
        ),
        guardrail_probes=guard["probes"],
        windows=parse_windows(merged["blackout_windows"], doc.locate, ("blackout_windows",)),
        # Only the keys the file sets are attributed to it; the rest say "default".
        caps=Caps.parse(data.get("blast_radius"), doc.locate, ("blast_radius",), doc.path),
        lease_ttl_s=ttl,
        lease_renew_every_s=renew,
        lease_max_ttl_s=max_ttl,
        audit_path=_path(merged["audit"]["path"], ("audit", "path"), doc, base),
        run_dir=_path(merged["run_dir"], ("run_dir",), doc, base),
        freeze_file=_path(merged["freeze_file"], ("freeze_file",), doc, base),
        inventory=_optional_path(merged["inventory"], ("inventory",), doc, base),
        experiments_dir=_path(merged["experiments"], ("experiments",), doc, base),
        runbooks_dir=_path(merged["runbooks"], ("runbooks",), doc, base),
        schedules_file=_path(merged["schedules"], ("schedules",), doc, base),
        webhooks=_webhooks(merged["notifications"]["webhooks"], doc),
        prometheus=_access(prom, ("prometheus",), doc, base),
        alertmanager=_access(merged["alertmanager"], ("alertmanager",), doc, base),
    )


def _access(block: dict[str, Any], at: tuple[Any, ...], doc: Located, base: Path):
    """The access settings of a `prometheus:`/`alertmanager:` block (None without a URL)."""
    if block["url"] is None:
        return None
    url = _text(block["url"], (*at, "url"), doc).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"{doc.locate((*at, 'url'))}: must be an http(s) URL")
    settings = {k: v for k, v in block.items() if k in apiaccess.KEYS and v is not None}
    return apiaccess.parse(url, settings, doc.locate, at, base)


def _merge(defaults: dict[str, Any], data: dict[str, Any], at: tuple[Any, ...], doc: Located):
    merged = dict(defaults)
    for key, value in data.items():
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            raise InvalidInput(f"{doc.locate((*at, key))}: unknown key (known: {known})")
        if isinstance(defaults[key], dict):
            if value is None:
                continue
            if not isinstance(value, dict):
                raise InvalidInput(f"{doc.locate((*at, key))}: must be a mapping")
            merged[key] = _merge(defaults[key], value, (*at, key), doc)
        else:
            merged[key] = value
    return merged


def _seconds(value: Any, at: tuple[Any, ...], doc: Located) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise InvalidInput(f"{doc.locate(at)}: {exc}") from None
    if seconds <= 0:
        raise InvalidInput(f"{doc.locate(at)}: must be longer than zero")
    return seconds


def _int(value: Any, at: tuple[Any, ...], doc: Located, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidInput(f"{doc.locate(at)}: must be a whole number >= {low}, got {value!r}")
    return value


def _text(value: Any, at: tuple[Any, ...], doc: Located) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{doc.locate(at)}: must be a non-empty string")
    return value.strip()


def _path(value: Any, at: tuple[Any, ...], doc: Located, base: Path) -> Path:
    path = Path(os.path.expanduser(_text(value, at, doc)))
    return path if path.is_absolute() else (base / path)


def _optional_path(value: Any, at: tuple[Any, ...], doc: Located, base: Path) -> Path | None:
    return None if value is None else _path(value, at, doc, base)


def _webhooks(raw: Any, doc: Located) -> list[Webhook]:
    at = ("notifications", "webhooks")
    if not isinstance(raw, list):
        raise InvalidInput(f"{doc.locate(at)}: must be a list")
    hooks = []
    for i, item in enumerate(raw):
        here = (*at, i)
        if not isinstance(item, dict):
            raise InvalidInput(f"{doc.locate(here)}: a webhook must be a mapping")
        for key in item:
            if key not in WEBHOOK_KEYS:
                raise InvalidInput(
                    f"{doc.locate((*here, key))}: unknown key "
                    f"(known: {', '.join(sorted(WEBHOOK_KEYS))})"
                )
        fmt = item.get("format", "generic")
        if fmt not in FORMATS:
            raise InvalidInput(f"{doc.locate((*here, 'format'))}: one of {', '.join(FORMATS)}")
        default_url = PAGERDUTY_URL if fmt == "pagerduty" else None
        url = _text(item.get("url", default_url), (*here, "url"), doc)
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"{doc.locate((*here, 'url'))}: must be an http(s) URL")
        events = item.get("events", list(EVENTS))
        if not isinstance(events, list) or any(e not in EVENTS for e in events):
            raise InvalidInput(
                f"{doc.locate((*here, 'events'))}: events must be a list of {', '.join(EVENTS)}"
            )
        name = str(item.get("name", f"webhook-{i + 1}"))
        key = _routing_key(item, here, doc) if fmt == "pagerduty" else None
        hooks.append(Webhook(name, url, tuple(events), fmt, key))
    return hooks


def _routing_key(item: dict[str, Any], at: tuple[Any, ...], doc: Located) -> str:
    """PagerDuty's integration key, from `routing_key_env` or `routing_key_file`."""
    env, file = item.get("routing_key_env"), item.get("routing_key_file")
    if bool(env) == bool(file):
        raise InvalidInput(
            f"{doc.locate(at)}: a pagerduty webhook needs routing_key_env or routing_key_file"
        )
    if env:
        if env not in os.environ:
            raise InvalidInput(f"{doc.locate((*at, 'routing_key_env'))}: ${env} is not set")
        return os.environ[env]
    path = _path(file, (*at, "routing_key_file"), doc, Path(doc.path).resolve().parent)
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InvalidInput(f"{doc.locate((*at, 'routing_key_file'))}: {exc.strerror}") from None
