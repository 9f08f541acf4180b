"""Blackout windows: times when no experiment may run.

Three kinds, each in its own time zone (IANA name, default UTC):

- weekly ranges, e.g. from "Fri 18:00" to "Mon 08:00" every week;
- cron expressions with a length, e.g. "0 2 * * *" for 1h (the nightly backup);
- date ranges (freezes), e.g. from 2026-12-20 to 2027-01-04 (a date-only end is
  inclusive: the window lasts to the end of that day).

`active(windows, now)` tells which window is open at `now` and when it ends, so a
refusal can say "inside blackout window 'weekend' until Mon 08:00 Europe/Berlin".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chaosrun.model.schema import Checker, LocateChecker

Locate = Callable[[tuple[Any, ...]], str]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
_WEEKLY = re.compile(r"^\s*([A-Za-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})\s*$")
# A cron window's end is searched forward at most this many fires (a window that never
# ends, like "* * * * *" for 1h, stops here rather than looping).
_MAX_CHAIN = 2000


def parse_duration(value: Any) -> float:
    """Seconds from 30, "30s", "10m", "1.5h", "2d", "1w". Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"negative duration: {value!r}")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 10m, 1h, 2d)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True)
class Cron:
    """A five-field cron expression: minute hour day-of-month month day-of-week."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> Cron:
        fields = str(text).split()
        if len(fields) != 5:
            raise ValueError(f"cron expression needs 5 fields, got {len(fields)}: {text!r}")
        minute, hour, dom, month, dow = fields
        weekdays = _cron_field(dow, 0, 7, ("sun", *DAYS[:6]))
        return cls(
            text=str(text),
            minutes=_cron_field(minute, 0, 59),
            hours=_cron_field(hour, 0, 23),
            days=_cron_field(dom, 1, 31),
            months=_cron_field(month, 1, 12, MONTHS, offset=1),
            weekdays=frozenset(d % 7 for d in weekdays),
            any_day=dom == "*",
            any_weekday=dow == "*",
        )

    def matches_day(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        dom_ok = day.day in self.days
        dow_ok = (day.isoweekday() % 7) in self.weekdays
        # Classic cron: when both day fields are restricted, either one matching is enough.
        if not self.any_day and not self.any_weekday:
            return dom_ok or dow_ok
        return dom_ok and dow_ok

    def fires(self, start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> Iterator[dt.datetime]:
        """Fire times t with start < t <= end, ascending, as aware datetimes in `tz`."""
        day = start.astimezone(tz).date()
        last = end.astimezone(tz).date()
        while day <= last:
            if self.matches_day(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        at = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                        if start < at <= end:
                            yield at
            day += dt.timedelta(days=1)


def _cron_field(
    text: str, low: int, high: int, names: Sequence[str] = (), offset: int = 0
) -> frozenset[int]:
    values: set[int] = set()
    for part in text.lower().split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = _cron_number(step_text, 1, high, ())
        if part == "*":
            first, last = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            first, last = (
                _cron_number(a, low, high, names, offset),
                _cron_number(b, low, high, names, offset),
            )
        else:
            first = _cron_number(part, low, high, names, offset)
            last = high if step != 1 else first
        if first > last:
            raise ValueError(f"cron range {part!r} runs backwards")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _cron_number(text: str, low: int, high: int, names: Sequence[str], offset: int = 0) -> int:
    text = text.strip().lower()
    if text[:3] in names and text.isalpha():
        return names.index(text[:3]) + offset
    if not text.isdigit():
        raise ValueError(f"bad cron value {text!r}")
    number = int(text)
    if not low <= number <= high:
        raise ValueError(f"cron value {number} outside {low}-{high}")
    return number


@dataclass(frozen=True)
class Window:
    """One blackout window. Exactly one of weekly / cron / dates is set."""

    name: str
    tz: ZoneInfo
    source: str = ""  # where it was defined, e.g. "chaosrun.yml:12"
    weekly: tuple[int, int] | None = None  # minutes since Monday 00:00: start, end
    cron: Cron | None = None
    length_s: float = 0.0
    dates: tuple[dt.datetime, dt.datetime] | None = None  # aware, [start, end)
    reason: str = ""

    def describe(self) -> str:
        if self.weekly:
            return f"weekly {_week_text(self.weekly[0])} to {_week_text(self.weekly[1])} {self.tz}"
        if self.cron:
            return f"cron '{self.cron.text}' for {_human(self.length_s)} {self.tz}"
        assert self.dates
        start, end = self.dates
        return f"from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} {self.tz}"

    def open_until(self, now: dt.datetime) -> dt.datetime | None:
        """When this window ends if it is open at `now` (aware), else None."""
        if self.weekly:
            return self._weekly_until(now)
        if self.cron:
            return self._cron_until(now)
        assert self.dates
        start, end = self.dates
        return end if start <= now < end else None

    def _weekly_until(self, now: dt.datetime) -> dt.datetime | None:
        assert self.weekly
        local = now.astimezone(self.tz)
        start, end = self.weekly
        week_minute = local.weekday() * 1440 + local.hour * 60 + local.minute
        inside = start <= week_minute < end if start < end else not end <= week_minute < start
        if not inside:
            return None
        ahead = (end - week_minute) % (7 * 1440) or 7 * 1440
        at = local.replace(second=0, microsecond=0) + dt.timedelta(minutes=ahead)
        # Wall-clock arithmetic across a DST change: rebuild the local time in the zone.
        return dt.datetime(at.year, at.month, at.day, at.hour, at.minute, tzinfo=self.tz)

    def _cron_until(self, now: dt.datetime) -> dt.datetime | None:
        assert self.cron
        length = dt.timedelta(seconds=self.length_s)
        latest = None
        for fire in self.cron.fires(now - length, now, self.tz):
            latest = fire
        if latest is None:
            return None
        end = latest + length
        # Fires inside the window keep it open: chain until a gap.
        for _ in range(_MAX_CHAIN):
            nxt = next(self.cron.fires(latest, end, self.tz), None)
            if nxt is None:
                break
            latest, end = nxt, max(end, nxt + length)
        return end


@dataclass(frozen=True)
class OpenWindow:
    window: Window
    until: dt.datetime

    def message(self) -> str:
        until = self.until.astimezone(self.window.tz)
        text = (
            f"inside blackout window '{self.window.name}' ({self.window.describe()}) until "
            f"{until:%a %Y-%m-%d %H:%M} {self.window.tz}"
        )
        return f"{text}: {self.window.reason}" if self.window.reason else text


def active(windows: Sequence[Window], now: dt.datetime) -> OpenWindow | None:
    """The open window that ends last at `now` (aware datetime), or None."""
    found: OpenWindow | None = None
    for window in windows:
        until = window.open_until(now)
        if until is not None and (found is None or until > found.until):
            found = OpenWindow(window, until)
    return found


def parse_windows(raw: Any, locate: Locate, path: tuple[Any, ...] = ()) -> list[Window]:
    """Windows from a YAML list (config `blackout_windows` or an experiment's), every
    problem in one InvalidInput; `locate(path)` names the file and line of a key."""
    c = LocateChecker(locate)
    return c.collect(lambda: check_windows(c, raw, path))


def parse_window(raw: Any, locate: Locate, path: tuple[Any, ...]) -> Window:
    c = LocateChecker(locate)
    window = c.collect(lambda: check_window(c, raw, path))
    assert window is not None  # no problem reported, so a window was made
    return window


def check_windows(c: Checker, raw: Any, path: tuple[Any, ...]) -> list[Window]:
    """The valid windows of a YAML list; every problem goes to `c`."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        c.err(path, "blackout_windows must be a list")
        return []
    found = [check_window(c, item, (*path, i)) for i, item in enumerate(raw)]
    return [w for w in found if w is not None]


_KEYS = {"name", "timezone", "weekly", "cron", "length", "dates", "reason"}


def check_window(c: Checker, raw: Any, path: tuple[Any, ...]) -> Window | None:
    """One window, or None after reporting its problems to `c`."""
    if not isinstance(raw, dict):
        c.err(path, "a blackout window must be a mapping")
        return None
    errors = len(c.errors)
    for key in raw:
        if key not in _KEYS:
            known = ", ".join(sorted(_KEYS))
            c.err((*path, key), f"unknown key {key!r} in blackout window (known: {known})")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        c.err((*path, "name"), "blackout window needs a 'name'")
    tz = _zone(c, raw.get("timezone", "UTC"), (*path, "timezone"))
    kinds = [k for k in ("weekly", "cron", "dates") if k in raw]
    if len(kinds) != 1:
        c.err(path, f"blackout window {name!r} needs exactly one of weekly, cron, dates")
        return None
    kind = kinds[0]
    if kind != "cron" and "length" in raw:
        c.err((*path, "length"), "'length' belongs to cron windows only")
    if kind == "weekly":
        spec: dict[str, Any] = {"weekly": _weekly(c, raw["weekly"], (*path, "weekly"))}
    elif kind == "cron":
        spec = _cron_spec(c, raw, path, name)
    else:
        spec = {"dates": _dates(c, raw["dates"], tz, (*path, "dates"))}
    if len(c.errors) > errors or tz is None:
        return None
    reason = str(raw.get("reason", ""))
    return Window(name=name, tz=tz, source=c.locate(path), reason=reason, **spec)


def _cron_spec(c: Checker, raw: dict[str, Any], path: tuple[Any, ...], name: Any) -> dict:
    spec: dict[str, Any] = {}
    try:
        spec["cron"] = Cron.parse(raw["cron"])
    except ValueError as exc:
        c.err((*path, "cron"), str(exc))
    if "length" not in raw:
        c.err((*path, "cron"), f"cron window {name!r} needs a 'length'")
        return spec
    try:
        spec["length_s"] = parse_duration(raw["length"])
    except ValueError as exc:
        c.err((*path, "length"), str(exc))
        return spec
    if spec["length_s"] <= 0:
        c.err((*path, "length"), "length must be positive")
    return spec


def _zone(c: Checker, name: Any, path: tuple[Any, ...]) -> ZoneInfo | None:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        c.err(path, f"unknown time zone {name!r} (use an IANA name)")
        return None


def _weekly(c: Checker, raw: Any, path: tuple[Any, ...]) -> tuple[int, int] | None:
    if not isinstance(raw, dict) or set(raw) != {"start", "end"}:
        c.err(
            path,
            "weekly needs exactly 'start' and 'end', e.g. {start: 'Fri 18:00', end: 'Mon 08:00'}",
        )
        return None
    values = [_week_minute(c, raw[key], (*path, key)) for key in ("start", "end")]
    if values[0] is None or values[1] is None:
        return None
    if values[0] == values[1]:
        c.err(path, "start and end are the same time")
        return None
    return values[0], values[1]


def _week_minute(c: Checker, value: Any, path: tuple[Any, ...]) -> int | None:
    match = _WEEKLY.match(str(value))
    day = match.group(1).lower() if match else ""
    if not match or day not in DAYS:
        c.err(path, f"{value!r} is not 'Day HH:MM' (e.g. 'Fri 18:00')")
        return None
    hour, minute = int(match.group(2)), int(match.group(3))
    if hour > 23 or minute > 59:
        c.err(path, f"{value!r} is not a time of day")
        return None
    return DAYS.index(day) * 1440 + hour * 60 + minute


def _dates(
    c: Checker, raw: Any, tz: ZoneInfo | None, path: tuple[Any, ...]
) -> tuple[dt.datetime, dt.datetime] | None:
    if not isinstance(raw, dict) or set(raw) != {"start", "end"}:
        c.err(
            path,
            "dates needs exactly 'start' and 'end', e.g. {start: 2026-12-20, end: 2027-01-04}",
        )
        return None
    zone = tz or dt.UTC  # a bad zone is reported already; the dates are still checked
    start = _moment(c, raw["start"], zone, False, (*path, "start"))
    end = _moment(c, raw["end"], zone, True, (*path, "end"))
    if start is None or end is None:
        return None
    if end <= start:
        c.err(path, "end is not after start")
        return None
    return start, end


def _moment(
    c: Checker, value: Any, tz: dt.tzinfo, end: bool, path: tuple[Any, ...]
) -> dt.datetime | None:
    try:
        return _instant(value, tz, end)
    except ValueError:
        c.err(
            path,
            f"{value!r} is not a date (YYYY-MM-DD) or date and time (YYYY-MM-DD HH:MM)",
        )
        return None


def _instant(value: Any, tz: dt.tzinfo, end: bool) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=tz) if value.tzinfo is None else value
    if isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day, tzinfo=tz)
        return moment + dt.timedelta(days=1) if end else moment
    text = str(value).strip()
    if len(text) == 10:
        return _instant(dt.date.fromisoformat(text), tz, end)
    return _instant(dt.datetime.fromisoformat(text), tz, end)


def _week_text(minute: int) -> str:
    day, rest = divmod(minute, 1440)
    return f"{DAYS[day].title()} {rest // 60:02d}:{rest % 60:02d}"


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
