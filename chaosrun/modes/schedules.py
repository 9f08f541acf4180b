"""Schedules: which experiment runs when, and the Chaos-Monkey-style rules of a slot.

The schedule file (`chaosrun-schedules.yml` at the project root, or CHAOSRUN_SCHEDULES)
lists schedules. A scheduler (cron, a systemd timer) calls `chaosrun run --scheduled
NAME ...` at every slot; `admit()` then waits a random jitter, and lets the run go on
only when the schedule is enabled, the slot is inside business hours (when asked), the
minimum gap since the schedule's last run has passed and the slot's probability roll
wins. Every decision is one audit-log line (action `run`, outcome `scheduled` or
`skipped` with the reason), so the audit log says why a slot did or did not run; the
run itself then passes the normal safety checks like any other.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from chaosrun.base import paths
from chaosrun.base.errors import InvalidInput
from chaosrun.model import audit, config, cronexpr
from chaosrun.model.config import Located
from chaosrun.model.schema import Checker, LocateChecker
from chaosrun.model.windows import Cron, parse_duration

FILE_NAME = "chaosrun-schedules.yml"
ENV_VAR = "CHAOSRUN_SCHEDULES"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
KEYS = {
    "name": "unique name (lowercase letters, digits, dashes)",
    "experiment": "experiment file, relative to the project",
    "inventory": "inventory, relative to the project (default: ansible.cfg's)",
    "cron": "five-field cron expression or @daily/@hourly/...",
    "timezone": "IANA time zone of the cron expression and business hours",
    "jitter": "random delay up to this long after each slot",
    "probability": "chance that a slot runs (0..1)",
    "min_gap": "minimum time between two runs of this schedule",
    "business_hours": "true (Mon-Fri 09:00-17:00) or {days, start, end}",
    "enabled": "false keeps the schedule but skips every slot",
    "set": "experiment overrides passed as --set KEY=VALUE",
    "env": "environment variables for the scheduled command",
}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class BusinessHours:
    days: frozenset[int] = frozenset(range(5))  # 0 = Monday
    start: dt.time = dt.time(9, 0)
    end: dt.time = dt.time(17, 0)

    def contains(self, local: dt.datetime) -> bool:
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def describe(self) -> str:
        days = ",".join(DAYS[d] for d in sorted(self.days))
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Schedule:
    name: str
    experiment: str
    cron_text: str
    cron: Cron
    timezone: str = "UTC"
    inventory: str | None = None
    jitter_s: float = 0.0
    probability: float = 1.0
    min_gap_s: float = 0.0
    business_hours: BusinessHours | None = None
    enabled: bool = True
    overrides: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def run_args(self) -> list[str]:
        """The arguments after `chaosrun` that a scheduler calls at every slot."""
        args = ["run", "--scheduled", self.name, self.experiment]
        if self.inventory:
            args += ["--inventory", self.inventory]
        for key, value in sorted(self.overrides.items()):
            args += ["--set", f"{key}={value}"]
        return args


def schedules_path(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return config.load().schedules_file or paths.project_root() / FILE_NAME


def load(explicit: str | Path | None = None) -> list[Schedule]:
    """Every schedule in the file ([] when there is no file); every problem in the file
    in one InvalidInput naming its line and field."""
    path = schedules_path(explicit)
    if not path.is_file():
        return []
    doc = Located(path, path.read_text(encoding="utf-8"))
    c = Checker(path, doc.positions())
    found = check(c, doc.data or {})
    c.raise_if_errors()
    return found


def check(c: Checker, data: Any) -> list[Schedule]:
    """The valid schedules of a loaded file; every problem goes to `c`."""
    if not isinstance(data, dict) or set(data) - {"schedules"}:
        c.err((), "the file must be a mapping with one key, schedules")
        return []
    raw = data.get("schedules") or []
    if not isinstance(raw, list):
        c.err(("schedules",), "must be a list of schedules")
        return []
    found = [check_one(c, item, ("schedules", i)) for i, item in enumerate(raw)]
    seen: set[str] = set()
    for i, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name.strip() in seen:
            c.err(("schedules", i, "name"), "duplicate name")
        elif isinstance(name, str):
            seen.add(name.strip())
    return [sched for sched in found if sched is not None]


def get(name: str, explicit: str | Path | None = None) -> Schedule:
    for sched in load(explicit):
        if sched.name == name:
            return sched
    raise InvalidInput(f"{schedules_path(explicit)}: no schedule named {name!r}")


def save(schedules: list[Schedule], explicit: str | Path | None = None) -> Path:
    """Write the file atomically (comments in it are not kept)."""
    path = schedules_path(explicit)
    head = "# chaosrun schedules: `chaosrun schedule add|remove|list|install`, docs/schedules.md\n"
    body = yaml.safe_dump({"schedules": [s.raw for s in schedules]}, sort_keys=False)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(head + body, encoding="utf-8")
    tmp.replace(path)
    return path


def parse_one(item: Any, locate: Callable[[tuple[Any, ...]], str], at: tuple[Any, ...]) -> Schedule:
    """One schedule from YAML or options; every problem in one InvalidInput, each named
    by `locate`."""
    c = LocateChecker(locate)
    sched = c.collect(lambda: check_one(c, item, at))
    assert sched is not None  # no problem reported, so the schedule was made
    return sched


def check_one(c: Checker, item: Any, at: tuple[Any, ...]) -> Schedule | None:
    """One schedule, or None after reporting its problems to `c`."""
    if not isinstance(item, dict):
        c.err(at, "a schedule must be a mapping")
        return None
    errors = len(c.errors)
    for key in item:
        if key not in KEYS:
            c.err((*at, key), f"unknown key (known: {', '.join(KEYS)})")
    missing = [k for k in ("name", "experiment", "cron") if not _text(item.get(k))]
    for key in missing:
        c.err((*at, key), f"{key} is required ({KEYS[key]})")
    if missing:
        return None
    fields = {
        "cron": _cron(c, item["cron"], (*at, "cron")),
        "timezone": _timezone(c, str(item.get("timezone") or "UTC"), (*at, "timezone")),
        "inventory": _optional_text(c, item.get("inventory"), (*at, "inventory")),
        "jitter_s": _duration(c, item.get("jitter", 0), (*at, "jitter")),
        "probability": _probability(c, item.get("probability", 1.0), (*at, "probability")),
        "min_gap_s": _duration(c, item.get("min_gap", 0), (*at, "min_gap")),
        "business_hours": _business_hours(
            c, item.get("business_hours", False), (*at, "business_hours")
        ),
        "enabled": c.flag(item.get("enabled", True), (*at, "enabled")),
        "overrides": _str_map(c, item.get("set"), (*at, "set")),
        "env": _str_map(c, item.get("env"), (*at, "env")),
    }
    name = item["name"].strip()
    if not NAME_RE.match(name):
        c.err((*at, "name"), f"{name!r} must be lowercase letters, digits, dashes")
    if len(c.errors) > errors:
        return None
    return Schedule(
        name=name,
        experiment=item["experiment"].strip(),
        cron_text=item["cron"].strip(),
        raw=dict(item),
        **fields,
    )


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _cron(c: Checker, text: str, at: tuple[Any, ...]) -> Cron | None:
    try:
        return cronexpr.parse(text)
    except ValueError as exc:
        c.err(at, str(exc))
        return None


def _timezone(c: Checker, name: str, at: tuple[Any, ...]) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        c.err(at, f"unknown time zone {name!r}")
    return name


def _probability(c: Checker, value: Any, at: tuple[Any, ...]) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        c.err(at, "must be a number from 0 to 1")
        return None
    if not 0 <= value <= 1:
        c.err(at, f"must be from 0 to 1, got {value}")
        return None
    return float(value)


def _optional_text(c: Checker, value: Any, at: tuple[Any, ...]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        c.err(at, "must be a non-empty string")
        return None
    return value.strip()


def _duration(c: Checker, value: Any, at: tuple[Any, ...]) -> float | None:
    try:
        return parse_duration(value)
    except ValueError as exc:
        c.err(at, str(exc))
        return None


def _str_map(c: Checker, value: Any, at: tuple[Any, ...]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        c.err(at, "must be a mapping")
        return {}
    out = {}
    for key, val in value.items():
        if not isinstance(key, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", key):
            c.err(at, f"bad key {key!r}")
        elif isinstance(val, dict | list) or val is None:
            c.err((*at, key), "must be a plain value")
        elif "\n" in str(val) or "%" in str(val):
            # cron treats % as a newline and a newline ends the entry
            c.err((*at, key), "must not contain a newline or %")
        else:
            out[key] = str(val).lower() if isinstance(val, bool) else str(val)
    return out


def _business_hours(c: Checker, value: Any, at: tuple[Any, ...]) -> BusinessHours | None:
    if value is False or value is None:
        return None
    if value is True:
        return BusinessHours()
    if not isinstance(value, dict) or set(value) - {"days", "start", "end"}:
        c.err(at, "true, false or a mapping with days, start, end")
        return None
    default = BusinessHours()
    try:
        days = _days(str(value.get("days", "mon-fri")))
        start = _clock(value.get("start", "09:00"))
        end = _clock(value.get("end", "17:00"))
    except ValueError as exc:
        c.err(at, str(exc))
        return None
    if end <= start:
        c.err(at, "end must be after start")
        return None
    return BusinessHours(days=days or default.days, start=start, end=end)


def _days(text: str) -> frozenset[int]:
    out: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first[:3] not in DAYS or (last and last[:3] not in DAYS):
            raise ValueError(f"bad days {text!r} (use e.g. mon-fri or mon,wed,fri)")
        a, b = DAYS.index(first[:3]), DAYS.index((last or first)[:3])
        out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(out)


def _clock(value: Any) -> dt.time:
    text = str(value)
    match = re.match(r"^(\d{1,2}):(\d{2})$", text)
    if not match or int(match.group(1)) > 24 or int(match.group(2)) > 59:
        raise ValueError(f"bad time {text!r} (use HH:MM)")
    hour, minute = int(match.group(1)), int(match.group(2))
    return dt.time.max if hour == 24 else dt.time(hour, minute)


# --- the slot gate ----------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    go: bool
    reason: str


def decide(
    sched: Schedule, now: dt.datetime, last_run: dt.datetime | None, roll: float
) -> Decision:
    """Whether a slot at `now` runs. `roll` is uniform in [0, 1)."""
    if not sched.enabled:
        return Decision(False, "schedule is disabled")
    local = now.astimezone(sched.tz)
    hours = sched.business_hours
    if hours and not hours.contains(local):
        return Decision(
            False,
            f"outside business hours ({hours.describe()} {sched.timezone}): it is {local:%a %H:%M}",
        )
    if last_run is not None and sched.min_gap_s > 0:
        since = (now - last_run).total_seconds()
        if since < sched.min_gap_s:
            return Decision(
                False,
                f"minimum gap {sched.min_gap_s:g}s not reached: last scheduled run "
                f"{since:.0f}s ago at {last_run.isoformat(timespec='seconds')}",
            )
    if roll >= sched.probability:
        return Decision(False, f"probability {sched.probability:g}: rolled {roll:.3f}")
    return Decision(True, f"probability {sched.probability:g}: rolled {roll:.3f}")


def last_run(audit_path: Path, name: str) -> dt.datetime | None:
    """When this schedule last let a run go, from the audit log. A slot whose run the
    safety checks then refused (same process, `refused` line), or that ended on invalid
    input (its `slot` line says exit 2: nothing started), injected nothing and does not
    count toward the minimum gap."""
    latest: tuple[int, str] | None = None
    for entry in audit.read(audit_path):
        if entry.get("schedule") == name and entry.get("outcome") == "scheduled":
            latest = (entry.get("pid"), entry["at"])
        elif (
            latest is not None
            and entry.get("pid") == latest[0]
            and (
                entry.get("action") == "refused"
                or (
                    entry.get("action") == "slot"
                    and entry.get("exit_code") == InvalidInput.exit_code
                )
            )
        ):
            latest = None
    if latest is None:
        return None
    return dt.datetime.fromisoformat(latest[1].replace("Z", "+00:00"))


def admit(
    name: str,
    experiment: str | None,
    audit_path: Path,
    *,
    schedules_file: str | Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> Decision:
    """Apply the schedule's rules to this slot and write the decision to the audit log.

    Called by `chaosrun run --scheduled NAME` before anything else; the caller stops
    (exit 0) when the decision says no."""
    rng = rng or random.SystemRandom()
    sched = get(name, schedules_file)
    if experiment is not None and not _same_file(experiment, sched.experiment):
        decision = Decision(
            False,
            f"installed entry runs {experiment} but the schedule now says {sched.experiment}; "
            "run `chaosrun schedule install` again",
        )
        _record(audit_path, sched, decision, 0.0)
        return decision
    delay = rng.uniform(0, sched.jitter_s) if sched.jitter_s > 0 else 0.0
    if delay:
        sleep(delay)
    lock_path = audit_path.parent / f"schedule-{sched.name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    # The gap check and the record of a run are one step, so two overlapping slots of
    # one schedule cannot both pass the gap.
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        now = dt.datetime.now(dt.UTC)
        decision = decide(sched, now, last_run(audit_path, sched.name), rng.random())
        _record(audit_path, sched, decision, delay)
    return decision


def _same_file(given: str, expected: str) -> bool:
    root = paths.project_root()
    return (root / given).resolve() == (root / expected).resolve()


def _record(audit_path: Path, sched: Schedule, decision: Decision, delay: float) -> None:
    audit.record(
        audit_path,
        "run",
        "scheduled" if decision.go else "skipped",
        experiment=sched.experiment,
        reason=decision.reason,
        schedule=sched.name,
        cron=sched.cron_text,
        timezone=sched.timezone,
        jitter_s=round(delay, 3),
    )


def gate(name: str, experiment: str | Path) -> Decision:
    """The `chaosrun run --scheduled NAME` hook: admit or skip this slot, using the
    project configuration's audit log."""
    return admit(name, str(experiment), config.load().audit_path)
