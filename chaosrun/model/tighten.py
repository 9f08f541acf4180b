"""Overrides may only tighten: `--set` (and the schedule entries and AWX survey answers that
become `--set`) against the safety the files say (chaosrun.yml and the experiment file).

The experiment is read twice, as filed and with the overrides; every safety field the
overrides made looser is one problem naming the field, the value asked and the value the
files give with the file it came from. Orders (docs/config.md, "Overrides only tighten"):

- blast radius: `max_hosts`, `max_percent`, `max_zones` lower (null, no cap, is the
  loosest); `allow_whole_group`, `allow_all_zones` false;
- guardrails: `interval` shorter, `breaches_in_a_row` and `unknown_budget` lower; every
  probe of the files (the experiment's and chaosrun.yml's) stays, with the same kind,
  query and timeout, and no threshold looser (`max`, `max_increase`, `max_decrease`,
  `max_latency` lower, `min` higher; one of them added is tighter, one dropped looser; a
  percentage against an absolute step cannot be ordered and is refused); added probes are
  tighter when they only read: an added command probe, or an HTTP probe sending another
  method than GET or HEAD, is refused (it acts on what it reaches). Steady-state probes
  (the gate before inject) follow the same rule;
- `blackout_windows` and `targets.exclude`: what the file lists stays; more may be added;
- the experiment's Prometheus and its expected alerts' silences: see
  chaosrun.model.tighten_sources (not redirected, not widened);
- the fault: its role and every option as the file gives them (no order between two
  units, or two fill levels, holds for every role), but a secret option (a credential
  the file cannot hold in clear, `no_log` in the role's spec or in `fault.secret_vars`).

A refusal is `Loosened` (exit 2, as other invalid input), carrying its lines and the
overrides asked so the command line can write it to the audit log (tighten_audit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chaosrun.base.thresholds import parse_amount
from chaosrun.model.blast_radius import FLAGS, KEYS, Caps
from chaosrun.model.experiment import Experiment, ProbeSpec
from chaosrun.model.schema import LocateChecker, field_name
from chaosrun.model.tighten_sources import redirected, widened

RULE = "an override may only tighten"
FAULT_RULE = "the fault is the experiment file's: change it there"
Where = Callable[[tuple], str]
# Where the overrides that reached a field were given, for a caller whose overrides are
# not typed `--set` (a schedule's `set:`): their keys in, `file:line: ...` out.
Place = Callable[[list[str]], str]


def loosened(
    asked: Experiment,
    caps: Caps,
    place: Place | None = None,
    secret_options: frozenset[str] = frozenset(),
) -> list[str]:
    """One line per safety field that `asked`'s overrides made looser than its file (and,
    where the file is silent, chaosrun.yml's `caps` and defaults) says; none without them.
    Each names the overrides as `place` says where they were given, else as `--set`.
    `secret_options`: the role's options that are secrets (`no_log`), which an override
    may give (a credential kept out of the file, not a choice of fault)."""
    if asked.as_filed is None:
        return []
    filed, project = asked.as_filed.experiment, asked.as_filed.project
    raw = asked.as_filed.data if isinstance(asked.as_filed.data, dict) else {}

    def where(path: tuple) -> str:
        keys = _reaching(asked, path)
        at = place(keys) if place and keys else _place(asked, path)
        return f"{at}: {field_name(path)}"

    problems = _caps(filed, asked, caps, where)
    problems += _guardrails(filed, raw, asked, project, where)
    problems += _probes(
        filed.steady_state,
        asked.steady_state,
        ("steady_state",),
        "steady-state probe",
        lambda _: str(filed.file),
        where,
    )
    problems += _kept(
        filed.blackout_windows,
        asked.blackout_windows,
        "blackout window",
        ("blackout_windows",),
        filed,
        where,
    )
    problems += _kept(
        list(filed.targets.exclude),
        list(asked.targets.exclude),
        "exclusion",
        ("targets", "exclude"),
        filed,
        where,
    )
    problems += redirected(filed, raw, asked, project, where)
    problems += widened(filed, asked, where)
    problems += _fault(filed, asked, where, secret_options | set(filed.fault.secret_vars))
    return problems


def _fault(
    filed: Experiment, asked: Experiment, where: Where, secrets: frozenset[str] | set[str]
) -> list[str]:
    """The fault and its options are the file's: another role, or another value of an
    option (more memory filled, another unit stopped), cannot be ordered against the
    file's, and a survey answer must not turn the reviewed experiment into another.
    A secret option (a credential) may come from an override. Values are not repeated."""
    mine, theirs = filed.fault, asked.fault
    problems = []
    if theirs.role != mine.role:
        problems.append(
            f"{where(('fault', 'role'))}: {theirs.role!r} asked, {filed.file} says "
            f"{mine.role!r} ({FAULT_RULE})"
        )
    for key in sorted((mine.vars.keys() | theirs.vars.keys()) - secrets):
        if key not in theirs.vars or mine.vars.get(key) != theirs.vars[key]:
            gives = "gives another" if key in mine.vars else "gives none"
            problems.append(
                f"{where(('fault', 'vars', key))}: a value asked where {filed.file} {gives} "
                f"({FAULT_RULE})"
            )
    return problems


def _place(asked: Experiment, path: tuple) -> str:
    """`file (--set key, ...)`: the overrides that reached the field at `path`."""
    keys = _reaching(asked, path)
    return f"{asked.file} (--set {', '.join(keys)})" if keys else asked.locate(path)


def _reaching(asked: Experiment, path: tuple) -> list[str]:
    """The override keys that reached the field at `path`, whether they set it, a field
    above it or fields inside it."""
    dotted = ".".join(str(p) for p in path)
    return [
        k
        for k in asked.overrides
        if k == dotted or dotted.startswith(f"{k}.") or k.startswith(f"{dotted}.")
    ]


def _caps(filed: Experiment, asked: Experiment, project: Caps, where: Where) -> list[str]:
    ceiling = _parsed_caps(project, filed.blast_radius, str(filed.file))
    wanted = _parsed_caps(project, asked.blast_radius, "--set")
    problems = []
    for key in KEYS:
        limit, value = getattr(ceiling, key), getattr(wanted, key)
        if _cap_looser(key, value, limit):
            problems.append(
                f"{where(('blast_radius', key))}: {_cap_text(value)} asked, looser than the "
                f"ceiling {_cap_text(limit)} from {_source(ceiling.source_of(key))} ({RULE}: "
                f"{_cap_order(key)})"
            )
    return problems


def _parsed_caps(project: Caps, raw: Any, source: str) -> Caps:
    """The project's caps with `raw`'s valid keys on top; a bad key is left to validation,
    which names it."""
    return project.checked(LocateChecker(lambda _: ""), raw, ("blast_radius",), source)


def _cap_looser(key: str, value: Any, limit: Any) -> bool:
    if key in FLAGS:
        return bool(value) and not limit
    return limit is not None and (value is None or value > limit)


def _cap_order(key: str) -> str:
    if key in FLAGS:
        return f"{key} false is tighter"
    return f"a lower {key} is tighter, null is no cap"


def _cap_text(value: Any) -> str:
    if value is None:
        return "null (no cap)"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}"


def _source(source: str) -> str:
    return "the built-in default" if source == "default" else source


def _guardrails(
    filed: Experiment, raw: dict, asked: Experiment, project: str, where: Where
) -> list[str]:
    """The guardrails' timing and probes: none looser than the files say."""
    mine, theirs = filed.guardrails, asked.guardrails
    own = raw.get("guardrails") if isinstance(raw.get("guardrails"), dict) else {}
    problems = []
    for key, unit, order in (
        ("interval", "s", "a shorter interval"),
        ("breaches_in_a_row", "", "fewer breaches in a row"),
        ("unknown_budget", "", "a lower budget"),
    ):
        limit, value = getattr(mine, key), getattr(theirs, key)
        if value > limit:
            source = str(filed.file) if key in own else project
            problems.append(
                f"{where(('guardrails', key))}: {value:g}{unit} asked, looser than {limit:g}{unit}"
                f" from {source} ({RULE}: {order})"
            )
    own_names = {p.get("name") for p in own.get("probes") or [] if isinstance(p, dict)}
    return problems + _probes(
        mine.probes,
        theirs.probes,
        ("guardrails", "probes"),
        "guardrail",
        lambda name: str(filed.file) if name in own_names else project,
        where,
    )


def _probes(
    mine: tuple[ProbeSpec, ...],
    theirs: tuple[ProbeSpec, ...],
    at: tuple,
    what: str,
    source: Callable[[str], str],
    where: Where,
) -> list[str]:
    """Every probe of the files kept, the same probe, no threshold looser; a probe added
    only if it only reads."""
    asked = {p.name: p for p in theirs}
    filed = {p.name for p in mine}
    problems = [
        f"{where(probe.path)}: the {what} {probe.name!r} {why} ({RULE}: such a probe belongs "
        "in the experiment file, reviewed with it)"
        for probe in theirs
        if probe.name not in filed and (why := _acts(probe))
    ]
    dropped: dict[str, list[str]] = {}  # by the file they come from: one line each
    for probe in mine:
        other = asked.get(probe.name)
        if other is None:
            dropped.setdefault(source(probe.name), []).append(repr(probe.name))
            continue
        for path, text in _probe_looser(probe, other):
            problems.append(
                f"{where((*other.path, *path))}: the {what} {probe.name!r} from "
                f"{source(probe.name)}: {text} ({RULE})"
            )
    for origin, names in dropped.items():
        problems.insert(
            0,
            f"{where(at)}: drops the {what}{'s' if len(names) > 1 else ''} {', '.join(names)} "
            f"of {origin} ({RULE}: add probes, never remove one)",
        )
    return problems


def _acts(probe: ProbeSpec) -> str:
    """Why an added probe does more than read, or "": a command runs as the run's hosts
    run the fault (become included), an HTTP request other than GET or HEAD may change what
    it reaches. Overrides come from people who may launch a run but not edit its files (an
    AWX survey's answers, a schedule's `set:`)."""
    if probe.kind == "command":
        return f"runs a command on {probe.config['hosts']!r}"
    if probe.kind == "http" and probe.config["method"] not in ("GET", "HEAD"):
        return f"sends {probe.config['method']} requests"
    return ""


def _probe_looser(mine: ProbeSpec, theirs: ProbeSpec) -> list[tuple[tuple, str]]:
    """(path under the probe, why) for each way `theirs` is looser than `mine`."""
    same = {k: v for k, v in mine.config.items() if k != "max_latency"}
    if mine.kind != theirs.kind or same != {
        k: v for k, v in theirs.config.items() if k != "max_latency"
    }:
        return [((theirs.kind,), "its query or check changed (only thresholds may be tightened)")]
    found = []
    if mine.timeout != theirs.timeout:
        found.append((("timeout",), "its timeout changed"))
    limit, value = mine.config.get("max_latency"), theirs.config.get("max_latency")
    if limit is not None and (value is None or value > limit):
        text = f"max_latency {_num(value)} asked, above {limit:g}"
        found.append(((theirs.kind, "max_latency"), text))
    for key, written in mine.thresholds.items():
        if mine.kind == "tcp":
            break  # its `max` is max_latency, compared above
        why = _threshold_looser(key, written, theirs.thresholds.get(key))
        if why:
            found.append(((key,), why))
    return found


def _threshold_looser(key: str, limit: Any, value: Any) -> str:
    """Why `value` is looser than `limit` for threshold `key`, or ""."""
    if value is None:
        return f"{key} dropped (it was {limit})"
    if key in ("max", "min"):
        looser = float(value) < float(limit) if key == "min" else float(value) > float(limit)
        direction = "below" if key == "min" else "above"
        return f"{key} {value} asked, {direction} {limit}" if looser else ""
    mine, theirs = parse_amount(limit), parse_amount(value)
    if mine.percent != theirs.percent:
        return f"{key} {value} asked against {limit}: a percentage and a step cannot be ordered"
    return f"{key} {value} asked, above {limit}" if theirs.value > mine.value else ""


def _num(value: Any) -> str:
    return "none" if value is None else f"{value:g}"


def _kept(
    mine: Any, theirs: Any, what: str, at: tuple, filed: Experiment, where: Where
) -> list[str]:
    """Every item the file lists is still listed (more may be added)."""
    kept = theirs if isinstance(theirs, list) else []
    problems = []
    for item in mine if isinstance(mine, list) else []:
        if item not in kept:
            name = item.get("name", item) if isinstance(item, dict) else item
            problems.append(
                f"{where(at)}: the {what} {name!r} from {filed.file} is dropped or changed "
                f"({RULE}: add, never remove)"
            )
    return problems
