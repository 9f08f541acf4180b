"""Cron expressions for schedules: parse (with @daily-style macros), next fire times, and
the same times written for systemd timers (OnCalendar=) and iCal (RRULE, as AWX takes).

Parsing and matching are the blackout windows' (chaosrun.model.windows.Cron); this module only
translates. Classic cron ORs the two day fields when both are restricted; systemd and
RRULE AND every field, so such an expression becomes two calendar lines / two rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from chaosrun.model.windows import Cron

MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_SYSTEMD_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_ICAL_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")


def parse(text: str) -> Cron:
    """A Cron from five fields or a macro; raises ValueError with a readable message."""
    expr = str(text).strip()
    if expr.startswith("@"):
        if expr not in MACROS:
            raise ValueError(f"unknown cron macro {expr!r} (known: {', '.join(MACROS)})")
        expr = MACROS[expr]
    cron = Cron.parse(expr)
    if not next_fires(cron, ZoneInfo("UTC"), dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 1):
        raise ValueError(f"cron expression {text!r} never fires")
    return cron


def next_fires(cron: Cron, tz: ZoneInfo, after: dt.datetime, count: int = 3) -> list[dt.datetime]:
    """The next `count` fire times after `after`, searching at most 8 years ahead (so
    29 February is found)."""
    found: list[dt.datetime] = []
    start = after
    for _ in range(8 * 13):
        end = start + dt.timedelta(days=31)
        for at in cron.fires(start, end, tz):
            found.append(at)
            if len(found) == count:
                return found
        start = end
    return found


def _is_full(values: Iterable[int], low: int, high: int) -> bool:
    return set(values) == set(range(low, high + 1))


def _day_variants(cron: Cron) -> list[tuple[bool, bool]]:
    """Which day fields each translated line restricts: (days of month, weekdays)."""
    if not cron.any_day and not cron.any_weekday:
        return [(True, False), (False, True)]
    return [(not cron.any_day, not cron.any_weekday)]


def _numbers(values: Iterable[int]) -> str:
    return ",".join(f"{v:02d}" for v in sorted(values))


def on_calendar(cron: Cron, tz: str) -> list[str]:
    """systemd OnCalendar= values that fire exactly when the cron expression does."""
    lines = []
    for use_days, use_weekdays in _day_variants(cron):
        weekday = ""
        if use_weekdays and not _is_full(cron.weekdays, 0, 6):
            weekday = ",".join(_SYSTEMD_DAYS[d] for d in sorted(cron.weekdays)) + " "
        months = "*" if _is_full(cron.months, 1, 12) else _numbers(cron.months)
        days = "*" if not use_days or _is_full(cron.days, 1, 31) else _numbers(cron.days)
        hours = "*" if _is_full(cron.hours, 0, 23) else _numbers(cron.hours)
        minutes = _numbers(cron.minutes)
        lines.append(f"{weekday}*-{months}-{days} {hours}:{minutes}:00 {tz}")
    return lines


def rrule(cron: Cron, tz: str, start: dt.date) -> str:
    """An iCal DTSTART plus one or two RRULEs in the form AWX schedules take.

    FREQ=DAILY with BYHOUR/BYMINUTE expands to every listed time of day; BYMONTH,
    BYMONTHDAY and BYDAY then limit the days, which is what the cron fields mean."""
    rules = []
    for use_days, use_weekdays in _day_variants(cron):
        parts = ["FREQ=DAILY", "INTERVAL=1"]
        if not _is_full(cron.months, 1, 12):
            parts.append("BYMONTH=" + ",".join(str(m) for m in sorted(cron.months)))
        if use_days and not _is_full(cron.days, 1, 31):
            parts.append("BYMONTHDAY=" + ",".join(str(d) for d in sorted(cron.days)))
        if use_weekdays and not _is_full(cron.weekdays, 0, 6):
            parts.append("BYDAY=" + ",".join(_ICAL_DAYS[d] for d in sorted(cron.weekdays)))
        parts.append("BYHOUR=" + ",".join(str(h) for h in sorted(cron.hours)))
        parts.append("BYMINUTE=" + ",".join(str(m) for m in sorted(cron.minutes)))
        parts.append("BYSECOND=0")
        rules.append("RRULE:" + ";".join(parts))
    stamp = start.strftime("%Y%m%d") + "T000000"
    dtstart = f"DTSTART:{stamp}Z" if tz == "UTC" else f"DTSTART;TZID={tz}:{stamp}"
    return " ".join([dtstart, *rules])
