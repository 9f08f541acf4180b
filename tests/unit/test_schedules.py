"""Schedules: the file, the slot rules, the audit trail, cron/systemd/RRULE translation."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule as du_rrule

from chaosrun.base.errors import InvalidInput
from chaosrun.model import audit, cronexpr
from chaosrun.modes import schedules

UTC = dt.UTC


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chaosrun-schedules.yml"
    path.write_text(text)
    return path


BASIC = """\
schedules:
  - name: kill-order
    experiment: experiments/kill-one-order.yml
    cron: "*/5 9-17 * * 1-5"
    timezone: Europe/Berlin
    jitter: 2m
    probability: 0.5
    min_gap: 1h
    business_hours: true
    set: {duration: 20s}
"""


def test_load_parses_every_rule(tmp_path: Path) -> None:
    [s] = schedules.load(write(tmp_path, BASIC))
    assert s.name == "kill-order" and s.timezone == "Europe/Berlin"
    assert (s.jitter_s, s.probability, s.min_gap_s) == (120, 0.5, 3600)
    assert s.business_hours and s.business_hours.describe() == "mon,tue,wed,thu,fri 09:00-17:00"
    assert s.run_args() == [
        "run",
        "--scheduled",
        "kill-order",
        "experiments/kill-one-order.yml",
        "--set",
        "duration=20s",
    ]


@pytest.mark.parametrize(
    ("line", "value", "message"),
    [
        (4, '"61 * * * *"', "outside 0-59"),
        (5, "Mars/Olympus", "unknown time zone"),
        (7, "1.5", "from 0 to 1"),
        (8, "soon", "duration"),
        (9, "{days: funday}", "bad days"),
    ],
)
def test_bad_values_name_file_line_and_key(
    tmp_path: Path, line: int, value: str, message: str
) -> None:
    lines = BASIC.splitlines()
    key = lines[line - 1].split(":")[0]
    lines[line - 1] = f"{key}: {value}"
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(InvalidInput) as err:
        schedules.load(path)
    text = str(err.value)
    assert f"{path}:{line}:" in text and message in text, text


def test_unknown_key_and_duplicate_name(tmp_path: Path) -> None:
    path = write(tmp_path, BASIC.replace("    jitter: 2m", "    jiter: 2m"))
    with pytest.raises(InvalidInput, match=r":6: schedules\[0\].jiter: unknown key"):
        schedules.load(path)
    twice = BASIC + BASIC.split("schedules:\n", 1)[1]
    with pytest.raises(InvalidInput, match="duplicate name"):
        schedules.load(write(tmp_path, twice))


def _sched(**over: object) -> schedules.Schedule:
    raw = {"name": "s", "experiment": "e.yml", "cron": "* * * * *", **over}
    return schedules.parse_one(raw, lambda at: "x", ())


def test_decide_rules_in_order() -> None:
    monday_noon = dt.datetime(2026, 11, 30, 11, 0, tzinfo=UTC)  # 12:00 in Berlin
    saturday = dt.datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
    s = _sched(timezone="Europe/Berlin", business_hours=True, min_gap="1h", probability=0.5)
    assert schedules.decide(s, monday_noon, None, 0.1).go
    skipped = schedules.decide(s, saturday, None, 0.1)
    assert not skipped.go and "outside business hours" in skipped.reason and "Sat" in skipped.reason
    gap = schedules.decide(s, monday_noon, monday_noon - dt.timedelta(minutes=10), 0.1)
    assert not gap.go and "minimum gap 3600s" in gap.reason and "600s ago" in gap.reason
    unlucky = schedules.decide(s, monday_noon, None, 0.7)
    assert not unlucky.go and "rolled 0.700" in unlucky.reason
    assert not schedules.decide(_sched(enabled=False), monday_noon, None, 0).go
    assert not schedules.decide(_sched(probability=0), monday_noon, None, 0.0).go


def test_admit_records_runs_and_skips_in_the_audit_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    path = write(
        tmp_path,
        "schedules:\n"
        "  - {name: a, experiment: e.yml, cron: '* * * * *', min_gap: 1h, jitter: 5s}\n"
        "  - {name: never, experiment: e.yml, cron: '* * * * *', probability: 0}\n",
    )
    log = tmp_path / "audit.jsonl"
    slept: list[float] = []
    rng = random.Random(7)
    first = schedules.admit("a", "e.yml", log, schedules_file=path, sleep=slept.append, rng=rng)
    second = schedules.admit("a", "./e.yml", log, schedules_file=path, sleep=slept.append, rng=rng)
    never = schedules.admit("never", "e.yml", log, schedules_file=path, rng=rng)
    stale = schedules.admit("a", "other.yml", log, schedules_file=path, rng=rng)
    assert first.go and not second.go and not never.go and not stale.go
    assert len(slept) == 2 and all(0 <= s <= 5 for s in slept)
    entries = list(audit.read(log))
    assert [(e["schedule"], e["outcome"]) for e in entries] == [
        ("a", "scheduled"),
        ("a", "skipped"),
        ("never", "skipped"),
        ("a", "skipped"),
    ]
    assert all(e["action"] == "run" and e["experiment"] == "e.yml" for e in entries)
    assert "minimum gap" in entries[1]["reason"]
    assert "probability 0" in entries[2]["reason"]
    assert "schedule install" in entries[3]["reason"]
    assert schedules.last_run(log, "a") is not None and schedules.last_run(log, "never") is None


def test_save_round_trips(tmp_path: Path) -> None:
    path = write(tmp_path, BASIC)
    found = schedules.load(path)
    schedules.save(found, path)
    assert schedules.load(path) == found


# --- translation ------------------------------------------------------------------------

EXPRESSIONS = [
    "*/5 9-17 * * 1-5",
    "0 10 1,15 * mon",
    "@daily",
    "30 2 * 6 *",
    "15 */6 * * sat,sun",
    "0 12 29 2 *",
]


def _rrule_fires(text: str, after: dt.datetime, count: int) -> list[dt.datetime]:
    """Expand an AWX rrule string with dateutil, as AWX itself does."""
    lines = "\n".join(text.split(" "))
    rules = du_rrule.rrulestr(lines, forceset=True)
    out, at = [], after
    for _ in range(count):
        at = rules.after(at)
        out.append(at)
    return out


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_rrule_fires_when_cron_does(expr: str) -> None:
    cron = cronexpr.parse(expr)
    tz = "Europe/Berlin"
    after = dt.datetime(2026, 11, 27, 21, 0, tzinfo=ZoneInfo(tz))
    n = 2 if "29 2" in expr else 6  # leap days are 4 years apart
    want = cronexpr.next_fires(cron, ZoneInfo(tz), after, n)
    text = cronexpr.rrule(cron, tz, after.date())
    got = _rrule_fires(text, after, n)
    assert [g.astimezone(UTC) for g in got] == [w.astimezone(UTC) for w in want]
    assert awx_rrule_problems(text) == []


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_on_calendar_fires_when_cron_does(expr: str) -> None:
    """systemd itself computes the next elapse of every OnCalendar line we write."""
    cron = cronexpr.parse(expr)
    tz = "America/New_York"
    now = dt.datetime.now(UTC)
    n = 2 if "29 2" in expr else 4  # leap days are 4 years apart
    want = cronexpr.next_fires(cron, ZoneInfo(tz), now, n)
    got: list[dt.datetime] = []
    for line in cronexpr.on_calendar(cron, tz):
        proc = subprocess.run(
            ["systemd-analyze", "calendar", f"--iterations={n}", line],
            capture_output=True,
            text=True,
            check=True,
        )
        for out in proc.stdout.splitlines():
            if "Next elapse:" in out or "Iter. #" in out:
                stamp = out.split(":", 1)[1].strip().rsplit(" ", 1)[0]
                got.append(dt.datetime.strptime(stamp[4:], "%Y-%m-%d %H:%M:%S"))
    got_utc = sorted({g.replace(tzinfo=UTC) for g in got})[:n]
    assert got_utc == [w.astimezone(UTC) for w in want]


def awx_rrule_problems(text: str) -> list[str]:
    """The rules AWX 24.6.1's schedule serializer applies to `rrule` (validate_rrule)."""
    import re

    problems = []
    starts = re.findall(r"DTSTART(;[^:]+)?:[0-9]+T[0-9]+Z?", text)
    if len(starts) != 1:
        problems.append("exactly one DTSTART")
    if re.search(r"DTSTART:[0-9]+T[0-9]+ ", text):
        problems.append("naive DTSTART")
    rules = re.findall(r"RRULE:[^\s]*", text)
    if not rules:
        problems.append("no RRULE")
    for rule in rules:
        if "INTERVAL" not in rule or "SECONDLY" in rule:
            problems.append(f"bad rule {rule}")
        if re.match(r".*?BYDAY[:=][0-9]+[a-zA-Z]{2}", rule):
            problems.append("numeric BYDAY")
        if "COUNT" in rule and "UNTIL" in rule:
            problems.append("COUNT and UNTIL")
    for word in ("EXDATE", "RDATE"):
        if word.lower() + ":" in text.lower():
            problems.append(word)
    return problems


def test_cron_and_systemd_rendering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chaosrun.modes import schedule_install as si

    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    monkeypatch.setattr(si, "MAX_CRON_COMMAND", 10**6)  # the inline form
    sched = _sched(name="odd-one", env={"CHAOSRUN_CONFIG": "my conf.yml"}, set={"k": "a b"})
    text = si.cron_file([sched])
    entry = [line for line in text.splitlines() if line.startswith("* * * * * root ")]
    assert len(entry) == 1
    assert "CHAOSRUN_CONFIG='my conf.yml'" in entry[0] and "run --scheduled odd-one" in entry[0]
    assert "'k=a b'" in entry[0] and f"{tmp_path}/.chaosrun/schedules/odd-one.log" in entry[0]
    service = si.service_unit(sched)
    assert 'Environment="CHAOSRUN_CONFIG=my conf.yml"' in service
    assert '"k=a b"' in service and "Type=oneshot" in service
    timer = si.timer_unit(sched)
    assert "OnCalendar=*-*-* *:00,01," in timer and "Unit=chaosrun-odd-one.service" in timer


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_systemd_units_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chaosrun.modes import schedule_install as si

    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    sched = _sched(name="verify-me", cron="0 10 1,15 * mon", timezone="Europe/Berlin")
    (tmp_path / "chaosrun-verify-me.service").write_text(si.service_unit(sched))
    (tmp_path / "chaosrun-verify-me.timer").write_text(si.timer_unit(sched))
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "chaosrun-verify-me.timer")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "verify-me" not in proc.stderr, proc.stderr


def test_install_cron_file_and_uninstall_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaosrun.modes import schedule_install as si

    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    monkeypatch.setattr(si, "MAX_CRON_COMMAND", 10**6)  # the inline form
    cron_file = tmp_path / "cron.d" / "chaosrun-test"
    neighbour = tmp_path / "cron.d" / "someone-else"
    neighbour.parent.mkdir()
    neighbour.write_text("0 1 * * * root true\n")
    done = si.install([_sched()], "cron", cron_path=cron_file)
    assert cron_file.is_file() and oct(cron_file.stat().st_mode)[-3:] == "644"
    manifest = json.loads(si.manifest_path().read_text())
    fallback = si.state_dir() / "slot-failed"
    assert manifest["backend"] == "cron"
    assert [f["path"] for f in manifest["files"]] == [str(fallback), str(cron_file)]
    assert oct(fallback.stat().st_mode)[-3:] == "700"
    assert done.schedules == ["s"]
    # a second install replaces the first instead of adding to it
    si.install([_sched(name="t")], "cron", cron_path=cron_file)
    assert "run --scheduled t" in cron_file.read_text()
    assert "run --scheduled s " not in cron_file.read_text()
    assert si.uninstall() == [f"removed {fallback}", f"removed {cron_file}"]
    assert not cron_file.exists() and neighbour.exists() and not si.manifest_path().exists()
    assert si.uninstall() == []


def test_uninstall_keeps_a_file_changed_since(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaosrun.modes import schedule_install as si

    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    unit_dir = tmp_path / "units"
    si.install([_sched()], "systemd", unit_dir=unit_dir, enable=False)
    assert sorted(p.name for p in unit_dir.iterdir()) == ["chaosrun-s.service", "chaosrun-s.timer"]
    (unit_dir / "chaosrun-s.timer").write_text("# edited by hand\n")
    lines = si.uninstall()
    assert any(line.startswith("kept") and "chaosrun-s.timer" in line for line in lines)
    assert sorted(p.name for p in unit_dir.iterdir()) == ["chaosrun-s.timer"]


def test_crontab_block_is_added_and_removed_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against a stand-in `crontab` that keeps the table in a file."""
    from chaosrun.modes import schedule_install as si

    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    monkeypatch.setattr(si, "MAX_CRON_COMMAND", 10**6)  # the inline form
    table = tmp_path / "table"
    table.write_text("MAILTO=ops\n0 3 * * * backup\n")
    fake = tmp_path / "bin" / "crontab"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nif [ "$1" = "-l" ]; then cat {table}; else cat > {table}; fi\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    si.install([_sched()], "crontab")
    text = table.read_text()
    assert text.startswith("MAILTO=ops\n0 3 * * * backup\n") and si.BEGIN in text
    assert "\n* * * * * cd " in text  # no user field in a personal crontab
    si.install([_sched()], "crontab")
    assert table.read_text().count(si.BEGIN) == 1
    si.uninstall()
    assert table.read_text() == "MAILTO=ops\n0 3 * * * backup\n"


def test_cron_file_name_with_a_dot_is_refused(tmp_path: Path) -> None:
    from chaosrun.modes import schedule_install as si

    with pytest.raises(InvalidInput, match="dot"):
        si.install([_sched()], "cron", cron_path=tmp_path / "chaosrun.cron")


def test_run_scheduled_skips_a_slot_through_the_cli(tmp_path: Path) -> None:
    """`chaosrun run --scheduled` stops before loading anything when the slot loses."""
    import os
    import sys

    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    write(
        tmp_path,
        "schedules:\n  - {name: never, experiment: e.yml, cron: '@daily', probability: 0}\n",
    )
    env = dict(os.environ, CHAOSRUN_PROJECT=str(tmp_path))
    env.pop("CHAOSRUN_CONFIG", None)
    env.pop("CHAOSRUN_SCHEDULES", None)
    proc = subprocess.run(
        [sys.executable, "-m", "chaosrun", "run", "--scheduled", "never", "e.yml"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "skipped: probability 0" in proc.stderr
    [entry] = list(audit.read(tmp_path / ".chaosrun" / "audit.jsonl"))
    assert entry["outcome"] == "skipped" and entry["schedule"] == "never"
    assert not (tmp_path / ".chaosrun" / "runs").exists()


def test_cli_add_list_remove(tmp_path: Path) -> None:
    import os
    import sys

    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "x.yml").write_text("title: x\n")
    env = dict(os.environ, CHAOSRUN_PROJECT=str(tmp_path))
    env.pop("CHAOSRUN_SCHEDULES", None)
    env.pop("CHAOSRUN_CONFIG", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chaosrun", "schedule", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    add = ["add", "nightly", "--experiment", "experiments/x.yml", "--cron", "0 3 * * *"]
    assert cli(*add, "--probability", "0.5", "--min-gap", "20h").returncode == 0
    again = cli(*add)
    assert again.returncode == 2 and "exists" in again.stderr
    bad = cli("add", "other", "--experiment", "experiments/x.yml", "--cron", "0 25 * * *")
    assert bad.returncode == 2 and "--cron" in bad.stderr and "outside 0-23" in bad.stderr
    missing = cli("add", "other", "--experiment", "experiments/none.yml", "--cron", "@daily")
    assert missing.returncode == 2 and "not found" in missing.stderr
    [row] = json.loads(cli("list", "--json").stdout)
    assert row["name"] == "nightly" and row["probability"] == 0.5 and row["min_gap_s"] == 72000
    assert len(row["next"]) == 3 and row["next"][0][11:16] == "03:00"
    assert row["installed"] is None and row["last_run"] is None
    assert cli("remove", "nightly").returncode == 0
    assert json.loads(cli("list", "--json").stdout) == []


def test_a_refused_run_does_not_count_toward_the_gap(tmp_path: Path) -> None:
    """Lines as a real cron slot left them: scheduled, then the engine refused."""
    log = tmp_path / "audit.jsonl"
    audit.record(log, "run", "scheduled", schedule="a", experiment="e.yml")
    audit.record(log, "refused", "refused", experiment="e.yml", run_id="r1")
    assert schedules.last_run(log, "a") is None
    audit.record(log, "run", "scheduled", schedule="a", experiment="e.yml")
    audit.record(log, "run", "passed", experiment="e.yml", run_id="r2")
    assert schedules.last_run(log, "a") is not None


def test_a_slot_that_never_started_its_run_does_not_count_toward_the_gap(
    tmp_path: Path,
) -> None:
    """Invalid input (exit 2: a secret the cron entry lacks, a broken experiment) starts
    nothing: the next slot after the fix is not skipped for a gap since no run."""
    log = tmp_path / "audit.jsonl"
    audit.record(log, "run", "scheduled", schedule="a", experiment="e.yml")
    audit.record(log, "slot", "failed", schedule="a", exit_code=2, reason="chaosrun.yml:3: x")
    assert schedules.last_run(log, "a") is None
    audit.record(log, "run", "scheduled", schedule="a", experiment="e.yml")
    audit.record(log, "slot", "failed", schedule="a", exit_code=1, run_id="r2")
    assert schedules.last_run(log, "a") is not None


def test_install_warns_of_a_secret_a_slot_will_not_have(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chaosrun.yml reads the Prometheus password from the installing shell's variable:
    cron starts the slot without it, so every slot would fail; install says so, naming
    the line, unless the schedule's own `env` sets it."""
    from chaosrun.modes import schedule_install as si

    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    monkeypatch.delenv("CHAOSRUN_CONFIG", raising=False)
    monkeypatch.setenv("PROM_PASSWORD", "from-the-shell")
    (tmp_path / "chaosrun.yml").write_text(
        "prometheus:\n  url: https://p\n  basic_auth: {username: u, password_env: PROM_PASSWORD}\n"
    )
    cron_file = tmp_path / "cron.d" / "chaosrun-test"
    done = si.install([_sched(), _sched(name="t", env={"PROM_PASSWORD": "x"})], "cron",
                      cron_path=cron_file)  # fmt: skip
    [note] = [n for n in done.notes if "PROM_PASSWORD" in n]
    assert note.startswith(f"{tmp_path / 'chaosrun.yml'}:3: prometheus.basic_auth.password_env: ")
    assert "s's slots" in note and "exit 2" in note
    si.uninstall()


def test_a_command_too_long_for_cron_runs_from_an_entry_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaosrun.modes import schedule_install as si

    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    monkeypatch.setattr(si, "MAX_CRON_COMMAND", 10)
    cron_file = tmp_path / "cron.d" / "chaosrun-test"
    si.install([_sched()], "cron", cron_path=cron_file)
    script = si.state_dir() / "s.sh"
    [line] = [x for x in cron_file.read_text().splitlines() if x.startswith("* * * * * root ")]
    assert line == f"* * * * * root /bin/sh {script}"
    assert "run --scheduled s" in script.read_text() and oct(script.stat().st_mode)[-3:] == "700"
    assert f"removed {script}" in si.uninstall() and not script.exists()
