"""Blackout windows: weekly ranges, cron with a length, date ranges, time zones."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from chaosrun.base.errors import InvalidInput
from chaosrun.model import windows

BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC


def parse(*items):
    return windows.parse_windows(list(items), lambda path: f"chaosrun.yml: {path}")


def at(text: str, tz=UTC) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz)


def test_weekly_range_across_the_weekend_in_its_own_zone():
    (w,) = parse(
        {
            "name": "weekend",
            "weekly": {"start": "Fri 18:00", "end": "Mon 08:00"},
            "timezone": "Europe/Berlin",
        }
    )
    # 2026-11-27 is a Friday. 17:30 UTC is 18:30 in Berlin (CET, UTC+1).
    assert w.open_until(at("2026-11-27T16:59")) is None
    until = w.open_until(at("2026-11-27T17:30"))
    assert until == dt.datetime(2026, 11, 30, 8, 0, tzinfo=BERLIN)
    assert w.open_until(at("2026-11-29T12:00")) == until
    assert w.open_until(at("2026-11-30T07:00")) is None  # Monday 08:00 Berlin


def test_weekly_range_inside_one_day():
    (w,) = parse({"name": "lunch", "weekly": {"start": "Wed 12:00", "end": "Wed 13:00"}})
    assert w.open_until(at("2026-11-25T12:30")) == at("2026-11-25T13:00")
    assert w.open_until(at("2026-11-25T13:00")) is None
    assert w.open_until(at("2026-11-26T12:30")) is None


def test_cron_window_with_a_length():
    (w,) = parse({"name": "backup", "cron": "0 2 * * *", "length": "1h"})
    assert w.open_until(at("2026-11-27T01:59")) is None
    assert w.open_until(at("2026-11-27T02:00")) == at("2026-11-27T03:00")
    assert w.open_until(at("2026-11-27T02:59:59")) == at("2026-11-27T03:00")
    assert w.open_until(at("2026-11-27T03:00")) is None


def test_cron_window_spanning_midnight_and_weekday_names():
    (w,) = parse(
        {
            "name": "batch",
            "cron": "30 23 * * mon-fri",
            "length": "2h",
            "timezone": "America/New_York",
        }
    )
    ny = ZoneInfo("America/New_York")
    # Friday 23:30 New York opens it; Saturday 00:30 is still inside.
    assert w.open_until(dt.datetime(2026, 11, 28, 0, 30, tzinfo=ny)) == dt.datetime(
        2026, 11, 28, 1, 30, tzinfo=ny
    )
    # Saturday 23:45: no fire on Saturday.
    assert w.open_until(dt.datetime(2026, 11, 28, 23, 45, tzinfo=ny)) is None


def test_overlapping_cron_fires_chain_into_one_window():
    (w,) = parse({"name": "busy", "cron": "*/10 9-10 * * *", "length": "15m"})
    # Fires every 10 minutes 09:00..10:50, each 15 minutes long: one window until 11:05.
    assert w.open_until(at("2026-11-27T09:03")) == at("2026-11-27T11:05")


def test_cron_both_day_fields_restricted_means_either():
    cron = windows.Cron.parse("0 0 1 * sun")
    assert cron.matches_day(dt.date(2026, 12, 1))  # the 1st, a Tuesday
    assert cron.matches_day(dt.date(2026, 11, 29))  # a Sunday
    assert not cron.matches_day(dt.date(2026, 11, 30))


def test_date_range_end_date_is_inclusive():
    (w,) = parse(
        {
            "name": "year-end freeze",
            "dates": {"start": "2026-12-20", "end": "2027-01-04"},
            "timezone": "Europe/Berlin",
        }
    )
    assert w.open_until(dt.datetime(2026, 12, 19, 23, 59, tzinfo=BERLIN)) is None
    end = dt.datetime(2027, 1, 5, 0, 0, tzinfo=BERLIN)
    assert w.open_until(dt.datetime(2026, 12, 20, 0, 0, tzinfo=BERLIN)) == end
    assert w.open_until(dt.datetime(2027, 1, 4, 23, 0, tzinfo=BERLIN)) == end
    assert w.open_until(end) is None


def test_dates_accept_yaml_dates_and_times():
    (w,) = parse(
        {"name": "launch", "dates": {"start": dt.date(2026, 11, 27), "end": "2026-11-27 18:30"}}
    )
    assert w.open_until(at("2026-11-27T18:00")) == at("2026-11-27T18:30")


def test_active_names_the_window_and_its_end():
    ws = parse(
        {"name": "backup", "cron": "0 2 * * *", "length": "1h"},
        {
            "name": "freeze",
            "dates": {"start": "2026-11-27", "end": "2026-11-27"},
            "reason": "Black Friday",
        },
    )
    opened = windows.active(ws, at("2026-11-27T02:30"))
    assert opened is not None and opened.window.name == "freeze"
    text = opened.message()
    assert "'freeze'" in text and "Sat 2026-11-28 00:00 UTC" in text and "Black Friday" in text
    assert windows.active(ws, at("2026-11-28T05:00")) is None


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        ({"weekly": {"start": "Fri 18:00", "end": "Mon 08:00"}}, "needs a 'name'"),
        ({"name": "x", "cron": "0 2 * *", "length": "1h"}, "5 fields"),
        ({"name": "x", "cron": "0 25 * * *", "length": "1h"}, "outside 0-23"),
        ({"name": "x", "cron": "0 2 * * *"}, "needs a 'length'"),
        ({"name": "x", "weekly": {"start": "Fry 18:00", "end": "Mon 08:00"}}, "Day HH:MM"),
        ({"name": "x", "dates": {"start": "2026-12-20", "end": "2026-12-01"}}, "not after"),
        ({"name": "x", "dates": {"start": "soon", "end": "2026-12-01"}}, "not a date"),
        (
            {"name": "x", "timezone": "Mars/Olympus", "cron": "0 2 * * *", "length": "1h"},
            "unknown time zone",
        ),
        ({"name": "x", "cron": "0 2 * * *", "length": "1h", "when": 1}, "unknown key 'when'"),
        ({"name": "x"}, "exactly one of"),
    ],
)
def test_bad_windows_are_named(item, needle):
    with pytest.raises(InvalidInput) as exc:
        parse(item)
    assert needle in str(exc.value)
    assert str(exc.value).startswith("chaosrun.yml: (0")


def test_durations():
    assert windows.parse_duration("90s") == 90
    assert windows.parse_duration("1.5h") == 5400
    assert windows.parse_duration(7) == 7
    with pytest.raises(ValueError):
        windows.parse_duration("soon")
