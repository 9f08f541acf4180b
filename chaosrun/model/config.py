"""The project configuration, `chaosrun.yml` at the project root.

Every key has a default, so a project without the file works. Unknown keys and wrong
values are errors naming the file, the line and the key, all reported at once by one
schema.Checker pass (windows, caps and access settings included). Relative paths in the
file are relative to the directory holding it (the project root, chaosrun.base.project).
`CHAOSRUN_CONFIG` points at another file. See docs/config.md for every key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from chaosrun.base import project as projects
from chaosrun.base import yamlpos
from chaosrun.base.durations import say_duration
from chaosrun.base.errors import InvalidInput
from chaosrun.base.yamlpos import Positions
from chaosrun.model import apiaccess, fault_time
from chaosrun.model.apiaccess import ApiAccess
from chaosrun.model.blast_radius import Caps
from chaosrun.model.schema import Checker
from chaosrun.model.windows import Window, check_windows, parse_duration
from chaosrun.report.formats import FORMATS, PAGERDUTY_URL

FILE_NAME = "chaosrun.yml"
ENV_VAR = "CHAOSRUN_CONFIG"

# How Prometheus and Alertmanager are reached besides the URL (chaosrun.model.apiaccess); None:
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
    "max_duration": say_duration(fault_time.DEFAULT_S),
    "lease": {"ttl": "30s", "renew_every": "5s", "max_ttl": "5m"},
    "deadlines": {"inject": "2m"},
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
# (chaosrun.modes.slots); the rest are fleet actions.
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
    # The longest a fault may stay on in one run (chaosrun.model.fault_time), and where the
    # ceiling came from: `file:line`, or the built-in default.
    max_duration_s: float
    max_duration_source: str
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
    # Inject and verify(active) together, per batch of hosts a play runs at once (forks).
    inject_deadline_s: float = 120.0
    prometheus: ApiAccess | None = None  # how to reach prometheus_url (TLS, credentials)
    alertmanager: ApiAccess | None = None  # None: the inventory's URL, verified TLS, no auth
    # Secrets the file names that could not be read (a variable not set in this shell):
    # one line each, for the commands that send them (`need_secrets`).
    unread_secrets: tuple[str, ...] = ()
    # (where, variable) of each secret read from an environment variable.
    secret_env: tuple[tuple[str, str], ...] = ()

    def need_secrets(self) -> Config:
        """This config, for a command that reaches Prometheus, Alertmanager or the webhooks
        (plan, run, drill, doctor): InvalidInput naming each secret it could not read."""
        if self.unread_secrets:
            raise InvalidInput("\n".join(self.unread_secrets))
        return self


class Located:
    """YAML data plus the line of every key, for messages like `chaosrun.yml:12: key`."""

    def __init__(self, path: Path | str, text: str) -> None:
        self.path = str(path)
        self.lines: dict[tuple[Any, ...], int] = {}
        try:
            node = yamlpos.compose(text)
            self.data = yamlpos.construct(node) if node is not None else None
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

    def positions(self) -> Positions:
        """The lines in the form schema.Checker reads them."""
        return Positions(dict(self.lines))

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
    """A Config from loaded YAML data; every problem in one InvalidInput naming file,
    line and field (`doc` knows the lines)."""
    c = Checker(Path(doc.path), doc.positions())
    cfg = check(c, data, base, source)
    c.raise_if_errors()
    assert cfg is not None  # no problem reported, so the config was made
    return cfg


def check(c: Checker, data: Any, base: Path, source: Path | None) -> Config | None:
    """The Config, or None after reporting every problem of the file to `c`: its keys,
    its windows, caps, access settings and webhooks, all in one pass."""
    if not isinstance(data, dict):
        c.err((), "the config must be a mapping of keys")
        return None
    errors = len(c.errors)
    c.unread = []  # a secret this shell lacks stops only the commands that send it
    merged = _merge(c, DEFAULTS, data, ())
    prom, guard = merged["prometheus"], merged["guardrails"]
    values = {
        **_lease(c, merged["lease"]),
        "inject_deadline_s": _inject_deadline(c, merged["deadlines"]["inject"]),
        "prometheus_url": _url(c, prom["url"], ("prometheus", "url")),
        "prometheus_timeout_s": _seconds(c, prom["timeout"], ("prometheus", "timeout")),
        "guardrail_interval_s": _seconds(c, guard["interval"], ("guardrails", "interval")),
        "guardrail_breaches_in_a_row": _int(
            c, guard["breaches_in_a_row"], ("guardrails", "breaches_in_a_row"), low=1
        ),
        "guardrail_unknown_budget": _int(
            c, guard["unknown_budget"], ("guardrails", "unknown_budget"), low=0
        ),
        "guardrail_probes": _probes(c, guard["probes"]),
        "windows": check_windows(c, merged["blackout_windows"], ("blackout_windows",)),
        # Only the keys the file sets are attributed to it; the rest say "default".
        "caps": Caps().checked(c, data.get("blast_radius"), ("blast_radius",), str(c.file)),
        **_max_duration(c, merged["max_duration"], "max_duration" in data),
        "audit_path": _path(c, merged["audit"]["path"], ("audit", "path"), base),
        "inventory": _optional_path(c, merged["inventory"], ("inventory",), base),
        "webhooks": _webhooks(c, merged["notifications"]["webhooks"]),
        "prometheus": _access(c, prom, ("prometheus",), base),
        "alertmanager": _access(c, merged["alertmanager"], ("alertmanager",), base),
    }
    for name, key in PATHS.items():
        values[name] = _path(c, merged[key], (key,), base)
    if len(c.errors) > errors:
        return None
    return Config(
        source=source,
        unread_secrets=tuple(c.unread),
        secret_env=tuple(c.env_reads),
        **values,
    )


# Config fields that are paths of the project, and their keys.
PATHS = {
    "run_dir": "run_dir",
    "freeze_file": "freeze_file",
    "experiments_dir": "experiments",
    "runbooks_dir": "runbooks",
    "schedules_file": "schedules",
}


def _lease(c: Checker, lease: dict[str, Any]) -> dict[str, float | None]:
    """The lease's durations; their rules against each other when each is valid."""
    ttl = _seconds(c, lease["ttl"], ("lease", "ttl"))
    renew = _seconds(c, lease["renew_every"], ("lease", "renew_every"))
    max_ttl = _seconds(c, lease["max_ttl"], ("lease", "max_ttl"))
    if ttl is not None and ttl < 5:
        c.err(("lease", "ttl"), "a lease shorter than 5s is unsafe")
    if max_ttl is not None and max_ttl < 5:
        c.err(("lease", "max_ttl"), "must be at least 5s")
    if ttl is not None and max_ttl is not None and ttl > max_ttl:
        c.err(
            ("lease", "ttl"),
            f"{ttl:g}s is longer than lease.max_ttl ({max_ttl:g}s): a dead controller's "
            "fault would outlive it by that long",
        )
    if ttl is not None and renew is not None and renew * 2 > ttl:
        c.err(
            ("lease", "renew_every"),
            f"renew at most every half lease ({ttl / 2:g}s), so one lost renewal does not "
            "revert the fault",
        )
    return {"lease_ttl_s": ttl, "lease_renew_every_s": renew, "lease_max_ttl_s": max_ttl}


def _max_duration(c: Checker, value: Any, in_file: bool) -> dict[str, Any]:
    """The ceiling on how long a fault stays on, and where it came from."""
    at = ("max_duration",)
    seconds = _seconds(c, value, at)
    if seconds is not None and seconds < 1:
        c.err(at, "must be at least 1s")
    source = f"{c.file}:{c.positions.line(at)}" if in_file else fault_time.DEFAULT_SOURCE
    return {"max_duration_s": seconds, "max_duration_source": source}


# Shorter than a busy controller takes to inject and verify even one host: every run
# would abort.
MIN_INJECT_DEADLINE_S = 10.0


def _inject_deadline(c: Checker, value: Any) -> float | None:
    seconds = _seconds(c, value, ("deadlines", "inject"))
    if seconds is not None and seconds < MIN_INJECT_DEADLINE_S:
        c.err(
            ("deadlines", "inject"),
            f"must be at least {MIN_INJECT_DEADLINE_S:g}s: shorter than an inject takes, "
            "every run would abort",
        )
    return seconds


def _probes(c: Checker, value: Any) -> list[dict[str, Any]]:
    """The project's guardrail probes, checked with the experiment that uses them."""
    if not isinstance(value, list):
        c.err(("guardrails", "probes"), "must be a list of probes")
        return []
    return value


def _access(c: Checker, block: dict[str, Any], at: tuple[Any, ...], base: Path):
    """The access settings of a `prometheus:`/`alertmanager:` block (None without a URL)."""
    if block["url"] is None:
        return None
    url = _text(c, block["url"], (*at, "url"))
    if url is None:
        return None
    if not url.startswith(("http://", "https://")):
        c.err((*at, "url"), "must be an http(s) URL")
    settings = {k: v for k, v in block.items() if k in apiaccess.KEYS and v is not None}
    return apiaccess.check(c, url.rstrip("/"), settings, at, base)


def _merge(c: Checker, defaults: dict[str, Any], data: dict[str, Any], at: tuple[Any, ...]):
    """The defaults with the file's values on top; unknown keys and non-mappings where a
    mapping belongs are reported (and keep the defaults)."""
    merged = dict(defaults)
    for key, value in data.items():
        if (*at, key) == ("blast_radius",):
            continue  # its keys are Caps's to check (config and experiments alike)
        if key not in defaults:
            c.err((*at, key), f"unknown key (known: {', '.join(sorted(defaults))})")
        elif isinstance(defaults[key], dict):
            if value is None:
                continue
            if not isinstance(value, dict):
                c.err((*at, key), "must be a mapping")
                continue
            merged[key] = _merge(c, defaults[key], value, (*at, key))
        else:
            merged[key] = value
    return merged


def _seconds(c: Checker, value: Any, at: tuple[Any, ...]) -> float | None:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        c.err(at, str(exc))
        return None
    if seconds <= 0:
        c.err(at, "must be longer than zero")
        return None
    return seconds


def _url(c: Checker, value: Any, at: tuple[Any, ...]) -> str | None:
    text = _text(c, value, at)
    return None if text is None else text.rstrip("/")


def _int(c: Checker, value: Any, at: tuple[Any, ...], low: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        c.err(at, f"must be a whole number >= {low}, got {value!r}")
        return None
    return value


def _text(c: Checker, value: Any, at: tuple[Any, ...]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        c.err(at, "must be a non-empty string")
        return None
    return value.strip()


def _path(c: Checker, value: Any, at: tuple[Any, ...], base: Path) -> Path | None:
    text = _text(c, value, at)
    if text is None:
        return None
    path = Path(os.path.expanduser(text))
    return path if path.is_absolute() else (base / path)


def _optional_path(c: Checker, value: Any, at: tuple[Any, ...], base: Path) -> Path | None:
    return None if value is None else _path(c, value, at, base)


def _webhooks(c: Checker, raw: Any) -> list[Webhook]:
    at = ("notifications", "webhooks")
    if not isinstance(raw, list):
        c.err(at, "must be a list")
        return []
    hooks = [_webhook(c, item, (*at, i), i) for i, item in enumerate(raw)]
    return [hook for hook in hooks if hook is not None]


def _webhook(c: Checker, item: Any, here: tuple[Any, ...], i: int) -> Webhook | None:
    if not isinstance(item, dict):
        c.err(here, "a webhook must be a mapping")
        return None
    errors = len(c.errors)
    for key in item:
        if key not in WEBHOOK_KEYS:
            c.err((*here, key), f"unknown key (known: {', '.join(sorted(WEBHOOK_KEYS))})")
    fmt = item.get("format", "generic")
    if fmt not in FORMATS:
        c.err((*here, "format"), f"one of {', '.join(FORMATS)}")
    default_url = PAGERDUTY_URL if fmt == "pagerduty" else None
    url = _text(c, item.get("url", default_url), (*here, "url"))
    if url is not None and not url.startswith(("http://", "https://")):
        c.err((*here, "url"), "must be an http(s) URL")
    events = item.get("events", list(EVENTS))
    if not isinstance(events, list) or any(e not in EVENTS for e in events):
        c.err((*here, "events"), f"events must be a list of {', '.join(EVENTS)}")
    name = str(item.get("name", f"webhook-{i + 1}"))
    key = _routing_key(c, item, here) if fmt == "pagerduty" else None
    if len(c.errors) > errors or url is None or (fmt == "pagerduty" and key is None):
        return None
    return Webhook(name, url, tuple(events), fmt, key)


def _routing_key(c: Checker, item: dict[str, Any], at: tuple[Any, ...]) -> str | None:
    """PagerDuty's integration key, from `routing_key_env` or `routing_key_file`."""
    env, file = item.get("routing_key_env"), item.get("routing_key_file")
    if bool(env) == bool(file):
        c.err(at, "a pagerduty webhook needs routing_key_env or routing_key_file")
        return None
    if env:
        c.reads_env((*at, "routing_key_env"), env)
        if env not in os.environ:
            c.secret_err((*at, "routing_key_env"), f"${env} is not set")
            return None
        return os.environ[env]
    at = (*at, "routing_key_file")
    path = apiaccess.secret_path(c, file, at, c.file.resolve().parent)
    return apiaccess.read_secret(c, path, at) if path is not None else None
