"""The experiment file: its model and a loader that checks every field against the schema.

Errors name the file, the line and the field (`exp.yml:12: guardrails.interval: ...`).
Unknown keys are errors. `--set field=value` overrides are applied before checking.
Checks that need the outside world (role argument specs, inventory patterns) live in
chaosrun.plan.validation so this module stays a pure parser.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from chaosrun.base.durations import parse_duration
from chaosrun.base.errors import InvalidInput, Loosened
from chaosrun.base.thresholds import KEYS as THRESHOLDS
from chaosrun.base.thresholds import Threshold, parse_amount
from chaosrun.base.yamlpos import Positions, VaultValue, YamlProblem, load_yaml
from chaosrun.model import fault_time
from chaosrun.model.apiaccess import KEYS as ACCESS_KEYS
from chaosrun.model.ramp_steps import parse_steps as parse_ramp
from chaosrun.model.schema import Checker, place

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
PROBE_KINDS = ("prometheus", "http", "command", "alert", "tcp")
SEVERITIES = ("low", "medium", "high")
# Fields a `--set` may only tighten (chaosrun.model.tighten): dotted prefixes of its keys.
SAFETY_FIELDS = (
    "blast_radius",
    "guardrails",
    "steady_state",
    "blackout_windows",
    "targets.exclude",
    "prometheus",
    "expected_alerts",
    "fault",
)


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    kind: str
    config: dict[str, Any]
    thresholds: dict[str, float | str]
    path: tuple[str | int, ...]
    timeout: float | None = None

    @cached_property
    def threshold(self) -> Threshold:
        """The thresholds, parsed (the loader has checked them)."""
        return Threshold.parse(self.thresholds, strict=False)


@dataclass(frozen=True)
class TargetSpec:
    hosts: str
    mode: str  # count | percent | all
    amount: float
    seed: int | None
    exclude: tuple[str, ...]
    ramp: tuple[int | str, ...] = ()  # "start small" steps, see chaosrun.model.ramp_steps
    zones: tuple[str, ...] = ()  # whole zones by name (mode "zones"), see chaosrun.model.zones
    zone_count: int = 0  # or this many whole zones at random (mode "zones")


@dataclass(frozen=True)
class FaultSpec:
    role: str
    vars: dict[str, Any]
    secret_vars: tuple[str, ...]


@dataclass(frozen=True)
class Guardrails:
    interval: float
    breaches_in_a_row: int
    unknown_budget: int
    probes: tuple[ProbeSpec, ...]


@dataclass(frozen=True)
class Observations:
    """Observe-only probes (chaosrun.run.observe): sampled while the fault is active and
    during recovery, recorded in the journal, never a reason to abort."""

    interval: float
    probes: tuple[ProbeSpec, ...]


@dataclass(frozen=True)
class ExpectedAlert:
    """An alert the fault should fire (`expected_alerts`): silenced in Alertmanager on the
    run's targets while the run lasts, and checked for having fired (chaosrun.run.silences)."""

    name: str
    labels: dict[str, str]
    # The alert label that names the host (its value is the inventory host name, alone or
    # followed by :port); "" silences the alert wherever it fires.
    host_label: str
    path: tuple[str | int, ...]


@dataclass(frozen=True)
class PrometheusSettings:
    url: str | None
    scrape_interval: float
    timeout: float
    # TLS, credentials and headers as written (chaosrun.model.apiaccess reads them in planning);
    # empty: the project's settings apply.
    access: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Defaults:
    """Values the project config (chaosrun.yml) supplies when an experiment is silent."""

    interval: str | float = "2s"
    breaches_in_a_row: int = 1
    unknown_budget: int = 2
    prometheus_timeout: str | float = "2s"
    guardrail_probes: tuple[Any, ...] = ()  # chaosrun.yml guardrails.probes, for every run
    source: str = "chaosrun.yml"  # where those probes come from, for messages
    max_ttl: float = 300.0  # chaosrun.yml lease.max_ttl: the longest lease_ttl allowed
    # chaosrun.yml max_duration: the longest a fault may stay on (chaosrun.model.fault_time),
    # and where that ceiling came from (`chaosrun.yml:31`, or the built-in default).
    max_duration: float = fault_time.DEFAULT_S
    max_duration_source: str = fault_time.DEFAULT_SOURCE


@dataclass
class Experiment:
    file: Path
    title: str
    description: str
    severity: str
    targets: TargetSpec
    fault: FaultSpec
    duration: float
    lease_ttl: float | None  # the on-host lease this run asks for (None: chaosrun.yml's)
    prometheus: PrometheusSettings
    steady_state: tuple[ProbeSpec, ...]
    guardrails: Guardrails
    recovery_within: float
    recovery_interval: float
    baseline_window: float
    blast_radius: dict[str, Any] | None = None  # checked by chaosrun.model.blast_radius
    blackout_windows: list[Any] | None = None  # checked by chaosrun.model.windows
    observe: Observations = field(default_factory=lambda: Observations(1.0, ()))
    expected_alerts: tuple[ExpectedAlert, ...] = ()
    overrides: dict[str, str] = field(default_factory=dict)
    as_filed: AsFiled | None = None  # without the overrides, when they reach SAFETY_FIELDS
    positions: Positions = field(default_factory=Positions)
    deprecated: list[tuple[str, ...]] = field(default_factory=list)  # old keys used

    def locate(self, path: tuple) -> str:
        """`file:line`, or `file (--set key)` when an override supplied the field."""
        return place(self.file, self.positions, self.overrides, path)

    def all_probes(self) -> list[tuple[str, ProbeSpec]]:
        return (
            [("steady_state", p) for p in self.steady_state]
            + [("guardrail", p) for p in self.guardrails.probes]
            + [("observe", p) for p in self.observe.probes]
        )


@dataclass(frozen=True)
class AsFiled:
    """The experiment as its file says, before `--set`: what chaosrun.model.tighten holds
    the overrides to. `data` is the file's YAML; `project` names chaosrun.yml, where the
    values the experiment does not set come from."""

    experiment: Experiment
    data: Any
    project: str


def touches_safety(keys: Iterable[str]) -> bool:
    """Whether any `--set` key reaches a field of SAFETY_FIELDS."""
    return any(
        k == s or k.startswith(f"{s}.") or s.startswith(f"{k}.")
        for k in keys
        for s in SAFETY_FIELDS
    )


def load_experiment(
    path: Path, overrides: list[str] | None = None, defaults: Defaults | None = None
) -> Experiment:
    """Read and check one experiment file; InvalidInput lists every problem found."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such experiment file") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not a text file (not UTF-8)") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from None
    return parse_experiment(text, path, overrides, defaults)


def parse_experiment(
    text: str, path: Path, overrides: list[str] | None = None, defaults: Defaults | None = None
) -> Experiment:
    """Check an experiment given as text; messages name `path` and the text's lines (a
    runbook's front matter keeps the runbook's own line numbers)."""
    try:
        data, positions = load_yaml(text)
    except YamlProblem as exc:
        raise InvalidInput(f"{path}:{exc.line}: {exc.message}") from None
    defaults = defaults or Defaults()
    applied = apply_overrides(path, data, overrides or [])
    checker = Checker(path, positions, set(applied))
    experiment = _build(checker, data, path, positions, defaults)
    if checker.loosened and checker.errors:
        raise Loosened("\n".join(checker.errors), checker.loosened, applied, path)
    checker.raise_if_errors()
    assert experiment is not None
    experiment.overrides = applied
    if touches_safety(applied):
        experiment.as_filed = _as_filed(text, path, defaults)
    return experiment


def _as_filed(text: str, path: Path, defaults: Defaults) -> AsFiled:
    """The experiment without its overrides: a `--set` may not repair a file's safety
    fields, so the file's own problems raise; but a shorter `--set duration` may bring a
    fault under max_duration, which bounds what runs."""
    data, positions = load_yaml(text)
    checker = Checker(path, positions)
    unbounded = replace(defaults, max_duration=math.inf)
    experiment = _build(checker, data, path, positions, unbounded)
    checker.raise_if_errors()
    assert experiment is not None
    return AsFiled(experiment, data, defaults.source)


def apply_overrides(path: Path, data: Any, overrides: list[str]) -> dict[str, str]:
    """Apply `field.sub=value` overrides in place; returns them as given (for the journal)."""
    applied: dict[str, str] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"--set {item!r}: expected field=value, e.g. duration=5s")
        if not isinstance(data, dict):
            raise InvalidInput(f"{path}:1: the experiment must be a mapping")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        _set_path(data, key.split("."), value, item)
        applied[key] = raw
    return applied


def _set_path(data: Any, parts: list[str], value: Any, item: str) -> None:
    node = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise InvalidInput(f"--set {item!r}: {part!r} is not an index of the list")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise InvalidInput(f"--set {item!r}: {'.'.join(parts[:i])} is not a mapping")


def _build(
    c: Checker, data: Any, path: Path, positions: Positions, defaults: Defaults
) -> Experiment | None:
    top = c.mapping(
        data,
        (),
        required={"title", "targets", "fault", "duration"},
        optional={
            "description",
            "severity",
            "lease_ttl",
            "ttl_margin",  # the old name of lease_ttl, accepted with a warning
            "prometheus",
            "steady_state",
            "guardrails",
            "recovery",
            "baseline",
            "blast_radius",
            "blackout_windows",
            "observe",
            "expected_alerts",
        },
    )
    if top is None:
        return None
    title = c.string(top.get("title"), ("title",))
    description = c.string(top.get("description", ""), ("description",), empty_ok=True)
    severity = c.choice(top.get("severity", "low"), ("severity",), SEVERITIES)
    targets = _targets(c, top.get("targets"))
    fault = _fault(c, top.get("fault"))
    duration = c.duration(top.get("duration"), ("duration",), minimum=0.001)
    lease_ttl, deprecated = _lease_ttl(c, top, defaults)
    prometheus = _prometheus(c, top.get("prometheus", {}), defaults)
    steady = _probes(c, top.get("steady_state", []), ("steady_state",))
    guardrails = _guardrails(c, top.get("guardrails", {}), defaults)
    observe = _observe(c, top.get("observe", {}))
    expected_alerts = _expected_alerts(c, top.get("expected_alerts", []))
    recovery = c.mapping(top.get("recovery", {}), ("recovery",), set(), {"within", "interval"})
    recovery = recovery or {}
    within = c.duration(recovery.get("within", "60s"), ("recovery", "within"))
    rec_interval = c.duration(recovery.get("interval", "1s"), ("recovery", "interval"), 0.05)
    baseline = c.mapping(top.get("baseline", {}), ("baseline",), set(), {"window"}) or {}
    window = c.duration(baseline.get("window", "60s"), ("baseline", "window"), minimum=1)
    if duration is not None and targets is not None:
        held = fault_time.of(duration, targets.ramp)
        fault_time.check(c, held, defaults.max_duration, defaults.max_duration_source)
    names: dict[str, tuple] = {}
    for probe in [*steady, *(guardrails.probes if guardrails else ()), *observe.probes]:
        if probe.name in names:
            c.err((*probe.path, "name"), f"duplicate probe name {probe.name!r}")
        names[probe.name] = probe.path
    if c.errors or None in (title, targets, fault, duration, prometheus, guardrails):
        return None
    return Experiment(
        file=path,
        title=title,
        description=description or "",
        severity=severity or "low",
        targets=targets,
        fault=fault,
        duration=duration,
        lease_ttl=lease_ttl,
        deprecated=deprecated,
        prometheus=prometheus,
        steady_state=tuple(steady),
        guardrails=guardrails,
        recovery_within=within,
        recovery_interval=rec_interval,
        baseline_window=window,
        blast_radius=top.get("blast_radius"),
        blackout_windows=top.get("blackout_windows"),
        observe=observe,
        expected_alerts=expected_alerts,
        positions=positions,
    )


def _targets(c: Checker, value: Any) -> TargetSpec | None:
    p = ("targets",)
    m = c.mapping(value, p, {"hosts"}, {"select", "seed", "exclude", "ramp", "zones"})
    if m is None:
        return None
    hosts = c.string(m.get("hosts"), (*p, "hosts"))
    mode, amount = "count", 1.0
    select = m.get("select", {"count": 1})
    zones, zone_count = _zones(c, m, p)
    if zones or zone_count:
        mode, amount = "zones", 100.0
    elif select == "all":
        mode, amount = "all", 100.0
    else:
        sel = c.mapping(select, (*p, "select"), set(), {"count", "percent"}, hint="or 'all'")
        if sel is not None:
            if len(sel) != 1:
                c.err((*p, "select"), "give exactly one of count, percent, or write select: all")
            elif "count" in sel:
                amount = float(c.integer(sel["count"], (*p, "select", "count"), 1) or 1)
            elif "percent" in sel:  # any other key was already reported as unknown
                mode = "percent"
                pct = c.number(sel["percent"], (*p, "select", "percent"), 0.001, 100)
                amount = pct if pct is not None else 100.0
    seed = m.get("seed")
    if seed is not None:
        seed = c.integer(seed, (*p, "seed"), 0)
    exclude = m.get("exclude", [])
    if isinstance(exclude, str):
        exclude = [exclude]
    excl = c.string_list(exclude, (*p, "exclude"))
    ramp_steps: list[int | str] = []
    if "ramp" in m:
        try:
            ramp_steps = parse_ramp(m["ramp"], "ramp")
        except InvalidInput as exc:
            c.err((*p, "ramp"), str(exc))
    if hosts is None or excl is None:
        return None
    return TargetSpec(hosts, mode, amount, seed, tuple(excl), tuple(ramp_steps), zones, zone_count)


def _zones(c: Checker, m: dict[str, Any], p: tuple) -> tuple[tuple[str, ...], int]:
    """`zones: [zone_a]` (named) or `zones: {count: 1}` (at random): whole zones, which
    replace `select` and cannot ramp (a zone is taken down whole or not at all)."""
    if "zones" not in m:
        return (), 0
    value, at = m["zones"], (*p, "zones")
    for other in ("select", "ramp"):
        if other in m:
            c.err((*p, other), f"targets.zones takes whole zones; drop {other}")
    if isinstance(value, dict):
        sel = c.mapping(value, at, {"count"}, set(), hint="or a list of zone names")
        count = c.integer(sel.get("count"), (*at, "count"), 1) if sel else None
        return (), count or 0
    names = c.string_list([value] if isinstance(value, str) else value, at)
    if names is not None and not names:
        c.err(at, "name at least one zone, or write {count: N}")
    return tuple(names or ()), 0


def _fault(c: Checker, value: Any) -> FaultSpec | None:
    p = ("fault",)
    m = c.mapping(value, p, {"role"}, {"vars", "secret_vars"})
    if m is None:
        return None
    role = c.string(m.get("role"), (*p, "role"))
    if role is not None and (
        len(role.split(".")) != 3 or not all(part.isidentifier() for part in role.split("."))
    ):
        c.err((*p, "role"), f"expected a role FQCN like chaosrun.chaos.process_kill, got {role!r}")
        role = None
    variables = c.mapping(m.get("vars", {}), (*p, "vars"), set(), None) or {}
    for name, v in variables.items():
        if not name.isidentifier():
            c.err((*p, "vars", name), "variable names must be identifiers")
        if not _plain_value(v):
            c.err((*p, "vars", name), "values must be strings, numbers, booleans, lists or maps")
    secret_vars = c.string_list(m.get("secret_vars", []), (*p, "secret_vars")) or []
    if role is None:
        return None
    return FaultSpec(role, dict(variables), tuple(secret_vars))


def _plain_value(value: Any) -> bool:
    if isinstance(value, str | int | float | bool | VaultValue) or value is None:
        return True
    if isinstance(value, list):
        return all(_plain_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_value(v) for k, v in value.items())
    return False


def _lease_ttl(
    c: Checker, top: dict[str, Any], defaults: Defaults
) -> tuple[float | None, list[tuple[str, ...]]]:
    """The experiment's lease (`lease_ttl`, formerly `ttl_margin`), bounded by
    lease.max_ttl; and the deprecated key's path when the old name was used."""
    if "lease_ttl" in top and "ttl_margin" in top:
        c.err(("ttl_margin",), "give lease_ttl only (ttl_margin is its old name)")
        return None, []
    key = "ttl_margin" if "ttl_margin" in top else "lease_ttl"
    if key not in top:
        return None, []
    ttl = c.duration(top[key], (key,), minimum=5)
    if ttl is not None and ttl > defaults.max_ttl:
        c.err(
            (key,),
            f"{ttl:g}s is longer than lease.max_ttl ({defaults.max_ttl:g}s in "
            f"{defaults.source}): a dead controller's fault would outlive it by that long",
        )
        ttl = None
    return ttl, [(key,)] if key == "ttl_margin" else []


def _prometheus(c: Checker, value: Any, defaults: Defaults) -> PrometheusSettings | None:
    p = ("prometheus",)
    m = c.mapping(value, p, set(), {"url", "scrape_interval", "timeout", *ACCESS_KEYS})
    if m is None:
        return None
    url = m.get("url")
    if url is not None:
        url = c.string(url, (*p, "url"))
        if url and not url.startswith(("http://", "https://")):
            c.err((*p, "url"), f"expected an http(s) URL, got {url!r}")
    scrape = c.duration(m.get("scrape_interval", "15s"), (*p, "scrape_interval"), minimum=0.1)
    timeout = c.duration(m.get("timeout", defaults.prometheus_timeout), (*p, "timeout"), 0.05)
    if scrape is None or timeout is None:
        return None
    access = {k: m[k] for k in ACCESS_KEYS if k in m}
    return PrometheusSettings(url, scrape, timeout, access)


def _guardrails(c: Checker, value: Any, defaults: Defaults) -> Guardrails | None:
    p = ("guardrails",)
    m = c.mapping(value, p, set(), {"interval", "probes", "breaches_in_a_row", "unknown_budget"})
    if m is None:
        return None
    interval = c.duration(m.get("interval", defaults.interval), (*p, "interval"), minimum=0.1)
    breaches = c.integer(
        m.get("breaches_in_a_row", defaults.breaches_in_a_row), (*p, "breaches_in_a_row"), 1
    )
    budget = c.integer(m.get("unknown_budget", defaults.unknown_budget), (*p, "unknown_budget"), 0)
    probes = _probes(c, m.get("probes", []), (*p, "probes"))
    probes += _project_probes(c, defaults, {probe.name for probe in probes})
    if interval is None or breaches is None or budget is None:
        return None
    return Guardrails(interval, breaches, budget, tuple(probes))


def _observe(c: Checker, value: Any) -> Observations:
    p = ("observe",)
    m = c.mapping(value, p, set(), {"interval", "probes"}) or {}
    interval = c.duration(m.get("interval", "1s"), (*p, "interval"), minimum=0.1)
    probes = _probes(c, m.get("probes", []), (*p, "probes"))
    return Observations(interval or 1.0, tuple(probes))


def _expected_alerts(c: Checker, value: Any) -> tuple[ExpectedAlert, ...]:
    """`expected_alerts: [Name, {name, labels, host_label}, ...]`."""
    p = ("expected_alerts",)
    if not isinstance(value, list):
        c.err(
            p, f"expected a list of alert names or {{name, labels}} mappings, got {c.kind(value)}"
        )
        return ()
    result: list[ExpectedAlert] = []
    seen: dict[tuple, int] = {}
    for i, item in enumerate(value):
        at = (*p, i)
        m = c.mapping(
            {"name": item} if isinstance(item, str) else item,
            at,
            {"name"},
            {"labels", "host_label"},
            hint="or an alert name",
        )
        if m is None:
            continue
        name = c.string(m.get("name"), (*at, "name") if isinstance(item, dict) else at)
        labels = c.mapping(m.get("labels", {}), (*at, "labels"), set(), None) or {}
        for key, val in labels.items():
            if not LABEL_NAME.match(str(key)):
                c.err((*at, "labels", key), "not a label name ([a-zA-Z_][a-zA-Z0-9_]*)")
            if not isinstance(val, str):
                c.err((*at, "labels", key), f"expected a string, got {c.kind(val)}")
        host_label = m.get("host_label", "instance")
        if not isinstance(host_label, str) or not (
            host_label == "" or LABEL_NAME.match(host_label)
        ):
            c.err((*at, "host_label"), "expected a label name, or '' for no host scope")
            host_label = "instance"
        if name is None:
            continue
        key = (name, tuple(sorted((str(k), str(v)) for k, v in labels.items())))
        if key in seen:
            c.err(at, f"the same alert as expected_alerts[{seen[key]}]")
        seen[key] = i
        labels = {str(k): str(v) for k, v in labels.items()}
        result.append(ExpectedAlert(name, labels, host_label, at))
    return tuple(result)


def _project_probes(c: Checker, defaults: Defaults, taken: set[str]) -> list[ProbeSpec]:
    """The project's guardrails (chaosrun.yml), unless the experiment has one of that name."""
    if not defaults.guardrail_probes:
        return []
    own = Checker(Path(defaults.source), Positions())
    probes = _probes(own, list(defaults.guardrail_probes), ("guardrails", "probes"))
    c.errors.extend(own.errors)
    return [p for p in probes if p.name not in taken]


def _probes(c: Checker, value: Any, path: tuple) -> list[ProbeSpec]:
    if not isinstance(value, list):
        c.err(path, f"expected a list of probes, got {c.kind(value)}")
        return []
    result = []
    for i, item in enumerate(value):
        probe = _probe(c, item, (*path, i))
        if probe is not None:
            result.append(probe)
    return result


def _probe(c: Checker, value: Any, p: tuple) -> ProbeSpec | None:
    m = c.mapping(value, p, {"name"}, {*PROBE_KINDS, *THRESHOLDS, "timeout"})
    if m is None:
        return None
    name = c.string(m.get("name"), (*p, "name"))
    kinds = [k for k in PROBE_KINDS if k in m]
    if len(kinds) != 1:
        c.err(p, f"a probe needs exactly one of {', '.join(PROBE_KINDS)}")
        return None
    kind = kinds[0]
    thresholds: dict[str, float | str] = {}
    for key in THRESHOLDS:
        if key in m:
            t = _threshold(c, m[key], (*p, key), relative=key.startswith("max_"))
            if t is not None:
                thresholds[key] = t
    if kind == "prometheus" and not any(k in m for k in THRESHOLDS):
        c.err(p, f"a prometheus probe needs a threshold: one of {', '.join(THRESHOLDS)}")
    if kind != "prometheus":
        for key in THRESHOLDS:
            if key in m:
                c.err((*p, key), f"thresholds apply to prometheus probes, not {kind}")
    timeout = c.duration(m["timeout"], (*p, "timeout"), 0.05) if "timeout" in m else None
    config = _probe_config(c, kind, m[kind], (*p, kind))
    if name is None or config is None:
        return None
    if kind == "tcp" and config["max_latency"] is not None:
        thresholds["max"] = config["max_latency"]  # so journals and charts show the limit
    return ProbeSpec(name, kind, config, thresholds, p, timeout)


def _threshold(c: Checker, value: Any, path: tuple, relative: bool) -> float | str | None:
    if relative and isinstance(value, str) and value.strip().endswith("%"):
        try:
            parse_amount(value)
        except ValueError as exc:
            c.err(path, str(exc))
            return None
        return value.strip()
    return c.number(value, path)


def _probe_config(c: Checker, kind: str, value: Any, p: tuple) -> dict[str, Any] | None:
    if kind == "prometheus":
        query = c.string(value, p)
        return None if query is None else {"query": query}
    if kind == "http":
        m = c.mapping(value, p, {"url"}, {"method", "status", "body", "max_latency", "headers"})
        if m is None:
            return None
        url = c.string(m.get("url"), (*p, "url"))
        if url and not url.startswith(("http://", "https://")):
            c.err((*p, "url"), f"expected an http(s) URL, got {url!r}")
        method = c.choice(m.get("method", "GET"), (*p, "method"), ("GET", "HEAD", "POST"))
        status = m.get("status", 200)
        statuses = status if isinstance(status, list) else [status]
        codes = [c.integer(s, (*p, "status"), 100, 599) for s in statuses]
        body = c.regex(m["body"], (*p, "body")) if "body" in m else None
        latency = c.duration(m["max_latency"], (*p, "max_latency")) if "max_latency" in m else None
        headers = c.mapping(m.get("headers", {}), (*p, "headers"), set(), None) or {}
        for k, v in headers.items():
            if not isinstance(v, str | VaultValue):
                c.err((*p, "headers", k), "header values must be strings")
        return {
            "url": url,
            "method": method,
            "status": codes,
            "body": body,
            "max_latency": latency,
            "headers": headers,
        }
    if kind == "tcp":
        m = c.mapping(value, p, {"host", "port"}, {"max_latency"})
        if m is None:
            return None
        latency = c.duration(m["max_latency"], (*p, "max_latency")) if "max_latency" in m else None
        return {
            "host": c.string(m.get("host"), (*p, "host")),
            "port": c.integer(m.get("port"), (*p, "port"), 1, 65535),
            "max_latency": latency,
        }
    if kind == "command":
        m = c.mapping(value, p, {"hosts", "cmd"}, {"rc", "stdout"})
        if m is None:
            return None
        return {
            "hosts": c.string(m.get("hosts"), (*p, "hosts")),
            "cmd": c.string(m.get("cmd"), (*p, "cmd")),
            "rc": c.integer(m.get("rc", 0), (*p, "rc"), 0, 255),
            "stdout": c.regex(m["stdout"], (*p, "stdout")) if "stdout" in m else None,
        }
    m = c.mapping(value, p, {"name"}, {"firing", "source", "url"})
    if m is None:
        return None
    firing = m.get("firing", True)
    if not isinstance(firing, bool):
        c.err((*p, "firing"), f"expected true or false, got {c.kind(firing)}")
    url = c.string(m["url"], (*p, "url")) if "url" in m else None
    return {
        "name": c.string(m.get("name"), (*p, "name")),
        "firing": bool(firing),
        "source": c.choice(
            m.get("source", "prometheus"), (*p, "source"), ("prometheus", "alertmanager")
        ),
        "url": url,
    }


def duration_or_none(value: Any) -> float | None:
    try:
        return parse_duration(value)
    except ValueError:
        return None
