"""Checks of an experiment against the world it will run in, without touching any host.

The fault role must exist and its vars must fit the role's argument specs; host patterns
must match the inventory; guardrails get their worst-case time to detect a breach, and
rate() windows shorter than four scrape intervals are flagged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from chaosrun.base.durations import parse_duration
from chaosrun.base.errors import InvalidInput, Loosened
from chaosrun.base.percent import hosts_for_percent
from chaosrun.base.secrets import decrypt
from chaosrun.base.usertext import NOT_EVALUATED, jinja_markers
from chaosrun.base.yamlpos import VaultValue
from chaosrun.hosts.inventory import Inventory
from chaosrun.hosts.rolespec import RoleSpec, check_vars, load_role
from chaosrun.model import blast_radius, tighten, tighten_sources
from chaosrun.model.blast_radius import Caps, Decision
from chaosrun.model.experiment import Experiment, ProbeSpec
from chaosrun.model.ramp_steps import host_counts
from chaosrun.model.schema import field_name, override_of
from chaosrun.model.windows import Window, parse_windows
from chaosrun.model.zones import choose_zones, hosts_in, largest_hosts, zone_map

_RANGE = re.compile(r"\[\s*([0-9][0-9a-z.]*)\s*(?::[^\]]*)?\]")
_RATE = re.compile(r"\b(?:i?rate|increase)\s*\(([^()\[\]]*)\[\s*([0-9][0-9a-z.]*)\s*\]")


@dataclass
class Report:
    """What `validate` prints besides errors."""

    role: RoleSpec | None = None
    matched: list[str] = field(default_factory=list)
    detection: list[tuple[str, float, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    secret_values: list[str] = field(default_factory=list)
    blast_radius: Decision | None = None
    caps: Caps = field(default_factory=Caps)  # the project's, with the experiment's on top
    windows: list[Window] = field(default_factory=list)  # the experiment's own blackout windows
    deprecations: list[str] = field(default_factory=list)  # old keys, also among warnings


def check(exp: Experiment, inventory: Inventory | None, caps: Caps | None = None) -> Report:
    """Raise InvalidInput naming file, line and field for every problem; else a Report.
    `caps` are the project's (chaosrun.yml's blast_radius; the built-in ones when None):
    the report carries them with the experiment's own on top, parsed here once."""
    report = Report()
    problems: list[str] = []

    def where(path: tuple) -> str:
        return f"{exp.locate(path)}: {field_name(path)}"

    role = load_role(exp.fault.role)
    if role is None:
        problems.append(f"{where(('fault', 'role'))}: role {exp.fault.role} is not installed")
    else:
        report.role = role
        missing = role.missing_entry_points()
        if missing:
            problems.append(
                f"{where(('fault', 'role'))}: role {exp.fault.role} has no {', '.join(missing)} "
                "entry point (tasks/<name>.yml): a fault role has inject, verify and rollback"
            )
        for name, message in check_vars(role, _plain_vars(exp, problems, where)):
            path = ("fault", "vars", name) if name else ("fault", "vars")
            problems.append(f"{where(path)}: {message}")
        for name in exp.fault.secret_vars:
            if name not in exp.fault.vars:
                problems.append(f"{where(('fault', 'secret_vars'))}: {name!r} is not in fault.vars")
    secret = frozenset(role.secret_options()) if role is not None else frozenset()
    loose = tighten.loosened(exp, caps or Caps(), secret_options=secret)
    problems += loose
    try:
        report.caps = (caps or Caps()).override(
            exp.blast_radius, lambda at: where(at), ("blast_radius",), _cap_source(exp)
        )
    except InvalidInput as exc:
        problems.append(str(exc))
    try:
        report.windows = parse_windows(
            exp.blackout_windows, lambda at: where(at), ("blackout_windows",)
        )
    except InvalidInput as exc:
        problems.append(str(exc))
    if inventory is not None:
        report.matched = _check_patterns(exp, inventory, problems, where)
    for _, probe in exp.all_probes():
        _secret_probe_values(exp, probe, report, problems, where)
    if problems:
        if loose:  # the audit log wants to know who tried to widen what
            raise Loosened("\n".join(problems), loose, exp.overrides, exp.file)
        raise InvalidInput("\n".join(problems))
    if inventory is not None:
        report.blast_radius = _blast_radius(exp, inventory, report.caps)
    report.detection, report.warnings = detection_times(exp)
    report.warnings += [f"{where(path)} {NOT_EVALUATED}" for path in _jinja_paths(exp)]
    report.warnings += [f"{where(path)}: {text}" for path, text in tighten_sources.unscoped(exp)]
    report.deprecations = [
        f"{where(path)}: deprecated, write lease_ttl (the lease's length, not a margin)"
        for path in exp.deprecated
    ]
    report.warnings += report.deprecations
    return report


def _cap_source(exp: Experiment) -> Callable[[str], str]:
    """Where the experiment's cap `key` was set: its file, or the `--set` that tightened it."""

    def source(key: str) -> str:
        given = override_of(exp.overrides, ("blast_radius", key))
        return f"--set {given}" if given else str(exp.file)

    return source


def _jinja_paths(exp: Experiment) -> list[tuple]:
    """Fields of user text that look like templates: fault vars and command probes."""
    paths = list(jinja_markers(exp.fault.vars, ("fault", "vars")))
    for _, probe in exp.all_probes():
        if probe.kind == "command":
            paths += jinja_markers(probe.config, (*probe.path, "command"))
    return paths


def _blast_radius(exp: Experiment, inventory: Inventory, caps: Caps) -> Decision:
    """The cap decision for the largest selection the experiment makes (its last ramp
    step, if it ramps); Refused (exit 4) with the numbers when it is over the cap."""
    spec = exp.targets
    matched = inventory.match(spec.hosts)
    excluded = {h for pattern in spec.exclude for h in inventory.match(pattern)}
    candidates = len([h for h in matched if h not in excluded])
    zone_counts = None
    if spec.mode == "zones":  # the worst case a random choice of zones can reach
        zones = zone_map(inventory, [h for h in matched if h not in excluded])
        picked = choose_zones(zones, spec.zones, spec.zone_count, 0)
        count = (
            largest_hosts(zones, len(picked))
            if spec.zone_count
            else len(hosts_in(zones, picked, matched))
        )
        zone_counts = (len(picked), len(zones))
    elif spec.mode == "all":
        count = candidates
    elif spec.mode == "percent":
        count = hosts_for_percent(candidates, spec.amount)
    else:
        count = int(spec.amount)
    if spec.ramp:
        count = max([count, *host_counts(list(spec.ramp), candidates)])
    return blast_radius.check(spec.hosts, len(matched), min(count, candidates), caps, zone_counts)


def _plain_vars(exp: Experiment, problems: list[str], where) -> dict:
    values = {}
    for name, value in exp.fault.vars.items():
        if isinstance(value, VaultValue):
            try:
                value = decrypt(value, where(("fault", "vars", name)))
            except InvalidInput as exc:
                problems.append(str(exc))
                continue
        values[name] = value
    return values


def _secret_probe_values(exp, probe: ProbeSpec, report, problems, where) -> None:
    for key, value in (probe.config.get("headers") or {}).items():
        if isinstance(value, VaultValue):
            try:
                report.secret_values.append(decrypt(value, where((*probe.path, "http", key))))
            except InvalidInput as exc:
                problems.append(str(exc))


def _check_patterns(exp: Experiment, inventory: Inventory, problems: list[str], where) -> list:
    matched = inventory.match(exp.targets.hosts)
    if not matched:
        problems.append(
            f"{where(('targets', 'hosts'))}: pattern {exp.targets.hosts!r} matches no host "
            f"in {inventory.path}"
        )
    for i, pattern in enumerate(exp.targets.exclude):
        if not inventory.match(pattern):
            problems.append(f"{where(('targets', 'exclude', i))}: {pattern!r} matches no host")
    for _, probe in exp.all_probes():
        if probe.kind == "command" and not inventory.match(probe.config["hosts"]):
            problems.append(
                f"{where((*probe.path, 'command', 'hosts'))}: pattern "
                f"{probe.config['hosts']!r} matches no host in {inventory.path}"
            )
    return matched


def query_window(query: str) -> float:
    """The longest range selector in a PromQL query, in seconds (0 without one)."""
    longest = 0.0
    for match in _RANGE.finditer(query):
        try:
            longest = max(longest, parse_duration(match.group(1)))
        except ValueError:
            continue
    return longest


def detection_times(exp: Experiment) -> tuple[list[tuple[str, float, str]], list[str]]:
    """Worst-case seconds from a breach happening to the abort decision, per guardrail."""
    scrape = exp.prometheus.scrape_interval
    g = exp.guardrails
    rows, warnings = [], []
    for probe in g.probes:
        timeout = probe.timeout or exp.prometheus.timeout
        evaluation = g.interval * g.breaches_in_a_row
        if probe.kind == "prometheus":
            window = query_window(probe.config["query"])
            total = scrape + window + evaluation + timeout
            parts = (
                f"scrape {scrape:g}s + window {window:g}s + "
                f"{g.breaches_in_a_row} x interval {g.interval:g}s + timeout {timeout:g}s"
            )
            warnings += _rate_warnings(exp, probe, scrape)
        else:
            total = evaluation + timeout
            parts = f"{g.breaches_in_a_row} x interval {g.interval:g}s + timeout {timeout:g}s"
        rows.append((probe.name, total, parts))
    return rows, warnings


def _rate_warnings(exp: Experiment, probe: ProbeSpec, scrape: float) -> list[str]:
    """One warning per too-short rate()/increase() window of a probe."""
    short: dict[str, None] = {}
    for match in _RATE.finditer(probe.config["query"]):
        try:
            if parse_duration(match.group(2)) < 4 * scrape:
                short[match.group(2)] = None
        except ValueError:
            continue
    return [
        f"{exp.locate((*probe.path, 'prometheus'))}: probe {probe.name!r}: rate window {w} is "
        f"shorter than four scrape intervals ({4 * scrape:g}s); it can be empty or jumpy"
        for w in short
    ]
