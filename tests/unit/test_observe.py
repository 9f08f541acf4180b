"""Observe-only probes, the TCP handshake probe and the cascade built from a journal."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_fixtures import GOOD

from chaosrun.base.errors import InvalidInput
from chaosrun.base.secrets import Redactor
from chaosrun.base.verdict import ProbeResult, Verdict
from chaosrun.model.experiment import ProbeSpec, load_experiment
from chaosrun.probes import Prober, tcp
from chaosrun.report import cascade
from chaosrun.run.journal import Journal
from chaosrun.run.observe import Observer

OBSERVE = """\
observe:
  interval: 200ms
  probes:
    - name: db round trip
      tcp: {host: db-1, port: 5432, max_latency: 500ms}
      timeout: 3s
    - name: pool exhausted
      prometheus: max(demo_db_pool_in_use) / max(demo_db_pool_size)
      max: 0.99
"""


def with_observe(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yml"
    path.write_text(GOOD.read_text() + text)
    return path


def test_observe_section_is_parsed_with_every_probe_kind(tmp_path: Path) -> None:
    exp = load_experiment(with_observe(tmp_path, OBSERVE))
    assert exp.observe.interval == pytest.approx(0.2)
    db, pool = exp.observe.probes
    assert db.kind == "tcp" and db.config == {"host": "db-1", "port": 5432, "max_latency": 0.5}
    assert db.timeout == 3.0
    assert pool.thresholds == {"max": 0.99}
    assert ("observe", db) in exp.all_probes()


def test_experiments_without_observe_have_none(tmp_path: Path) -> None:
    assert load_experiment(GOOD).observe.probes == ()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            OBSERVE.replace("port: 5432", "port: 70000"),
            "observe.probes[0].tcp.port: must be at most 65535",
        ),
        (OBSERVE.replace("host: db-1, ", ""), "observe.probes[0].tcp: missing"),
        (OBSERVE.replace("db round trip", "error ratio under 5%"), "duplicate probe name"),
        (OBSERVE.replace("interval: 200ms", "interval: fast"), "observe.interval"),
        (OBSERVE.replace("      timeout: 3s\n", "      max: 1\n"), "thresholds apply to"),
    ],
)
def test_bad_observe_sections_name_file_line_and_field(
    tmp_path: Path, text: str, needle: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        load_experiment(with_observe(tmp_path, text))
    assert needle in str(info.value)
    assert f"{tmp_path / 'exp.yml'}:" in str(info.value)


def tcp_probe(port: int, max_latency: float | None = None) -> ProbeSpec:
    config = {"host": "127.0.0.1", "port": port, "max_latency": max_latency}
    return ProbeSpec("db", "tcp", config, {}, ("observe", "probes", 0))


def test_tcp_probe_measures_a_real_handshake() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        ok = tcp.evaluate(tcp_probe(port, 1.0), "127.0.0.1", 1.0)
        assert ok.verdict is Verdict.PASS and ok.value is not None and ok.value < 1.0
        assert "handshake in" in ok.evidence
        slow = tcp.evaluate(tcp_probe(port, 0.0), "127.0.0.1", 1.0)
        assert slow.verdict is Verdict.BREACH and "slower than max_latency" in slow.evidence
    refused = tcp.evaluate(tcp_probe(port), "127.0.0.1", 1.0)
    assert refused.verdict is Verdict.BREACH and refused.value is None


def test_prober_resolves_inventory_names(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    db-1: {ansible_host: 127.0.0.1}\n")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        spec = tcp_probe(server.getsockname()[1])
        named = ProbeSpec("db", "tcp", {**spec.config, "host": "db-1"}, {}, spec.path)
        prober = Prober(source=None, timeout=1.0, inventory=inventory)
        try:
            assert prober.evaluate(named).verdict is Verdict.PASS
        finally:
            prober.close()


class ScriptedProber:
    """Answers per probe name from a script of results; each answer takes `delay` s."""

    def __init__(self, script: dict[str, list[ProbeResult]], delay: float) -> None:
        self.script = script
        self.delay = delay
        self.answered: dict[str, list[float]] = {}  # epoch seconds of each answer

    def evaluate(self, probe: ProbeSpec) -> ProbeResult:
        time.sleep(self.delay)
        answers = self.script[probe.name]
        self.answered.setdefault(probe.name, []).append(time.time())
        return answers.pop(0) if len(answers) > 1 else answers[0]


def sampled(journal: Journal, name: str, phase: str, verdict: str | None = None) -> bool:
    """Whether observation `name` has a sample taken in `phase` (with `verdict`)."""
    series = {s["name"]: s for s in journal.get("observations") or []}
    return any(
        s["phase"] == phase and verdict in (None, s["verdict"])
        for s in series.get(name, {}).get("samples", [])
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until `predicate` holds: the observer's threads run at the machine's pace."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the observer took no such sample in time"
        time.sleep(0.02)


def prom(name: str) -> ProbeSpec:
    return ProbeSpec(name, "prometheus", {"query": "x"}, {"max": 1.0}, ("observe",))


def test_observer_stamps_samples_when_taken_and_records_the_cascade(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "run-1", Redactor())
    for name in ("slow", "later"):  # the engine registers every probe at the start
        journal.probe(name, "prometheus", "observe", {"max": 1.0}, "x")
    journal.phase_start("inject")
    breach = ProbeResult(Verdict.BREACH, 2.0, "over")
    calm = ProbeResult(Verdict.PASS, 0.0, "fine")
    prober = ScriptedProber({"slow": [breach], "later": [calm, calm, breach]}, delay=0.15)
    phase = {"now": "inject"}
    observer = Observer([prom("slow"), prom("later")], prober, journal, 0.05, lambda: phase["now"])
    observer.start()
    wait_for(lambda: sampled(journal, "later", "inject", "BREACH"))
    phase["now"] = "recovery"
    wait_for(lambda: sampled(journal, "later", "recovery"))
    observer.finish()
    assert "probes" in journal.data and journal.data["probes"] == []
    slow, later = journal.data["observations"]
    assert slow["role"] == "observe" and slow["samples"][0]["verdict"] == "BREACH"
    assert {s["phase"] for s in later["samples"]} == {"inject", "recovery"}
    # Stamped when taken: the first sample's time is a full answer (150 ms) before the
    # answer came back, however slowly the machine ran the thread.
    taken = dt.datetime.fromisoformat(slow["samples"][0]["at"]).timestamp()
    assert taken <= prober.answered["slow"][0] - 0.14
    signals = journal.data["cascade"]
    assert [s["signal"] for s in signals] == ["slow", "later"]
    assert signals[0]["after_inject_s"] < signals[1]["after_inject_s"]
    assert threading.active_count() < 10


def journal_with(samples: dict[str, list[tuple[str, str, str]]], roles: dict[str, str]) -> dict:
    """A journal dict: inject starts at 10:00:00; samples are (at seconds, phase, verdict)."""

    def at(second: str) -> str:
        return f"2026-11-28T10:00:{second}Z"

    series = [
        {
            "name": name,
            "role": roles[name],
            "samples": [
                {"at": at(s), "phase": p, "verdict": v, "value": 1.0, "evidence": ""}
                for s, p, v in rows
            ],
        }
        for name, rows in samples.items()
    ]
    return {
        "phases": [{"name": "inject", "started_at": at("00.000")}],
        "observations": [s for s in series if s["role"] == "observe"],
        "probes": [s for s in series if s["role"] != "observe"],
    }


def test_cascade_orders_first_breaches_during_the_fault() -> None:
    journal = journal_with(
        {
            "user errors": [("02.000", "observe", "PASS"), ("05.000", "observe", "BREACH")],
            "db latency": [("01.000", "inject", "BREACH"), ("02.000", "observe", "BREACH")],
            "pool": [("03.500", "observe", "BREACH")],
            "late": [("09.000", "recovery", "BREACH")],
            "steady": [("04.000", "observe", "BREACH")],
            "never": [("04.000", "observe", "PASS")],
        },
        {
            "user errors": "guardrail",
            "db latency": "observe",
            "pool": "observe",
            "late": "observe",
            "steady": "steady_state",
            "never": "observe",
        },
    )
    signals = cascade.first_signals(journal)
    assert [s["signal"] for s in signals] == ["db latency", "pool", "user errors"]
    assert [s["after_inject_s"] for s in signals] == [1.0, 3.5, 5.0]
    assert cascade.quiet_signals(journal) == ["late", "never"]


def test_cascade_is_empty_before_any_inject() -> None:
    assert cascade.first_signals({"phases": [], "observations": []}) == []


def test_html_report_shows_zones_cascade_and_observations() -> None:
    from chaosrun.report.html import render_run

    journal = journal_with(
        {
            "db latency": [("01.000", "inject", "BREACH")],
            "pool": [("03.500", "observe", "BREACH")],
            "user errors": [("05.000", "observe", "BREACH")],
        },
        {"db latency": "observe", "pool": "observe", "user errors": "guardrail"},
    )
    journal.update(
        run_id="r1",
        status="aborted",
        started_at="2026-11-28T09:59:50Z",
        ended_at="2026-11-28T10:00:30Z",
        targets={
            "pattern": "lab",
            "selected": ["order-1"],
            "zones": {"selected": ["zone_a"], "hosts": {"zone_a": ["order-1"], "zone_b": ["db-1"]}},
        },
    )
    journal["cascade"] = cascade.first_signals(journal)
    page = render_run(journal)
    assert "<h2>Zones</h2>" in page and "taken down" in page and "survives" in page
    cascade_part = page.split("<h2>Cascade</h2>")[1].split("<h2>")[0]
    order = [cascade_part.index(name) for name in ("db latency", "pool", "user errors")]
    assert order == sorted(order)
    assert "<h2>Observations</h2>" in page and "crossed its threshold in 1 of 1" in page
