"""Abort latency on the lab: breach visible in Prometheus -> every host's revert finished.

Each round runs `chaosrun run` with an experiment that stops order-service
(service_stop; CHAOSRUN_BENCH_UNIT and CHAOSRUN_BENCH_JOB pick another unit) on N order
hosts and a guardrail (interval 1 s, one breach aborts) that needs every one of those
instances up in Prometheus. A watcher thread polls Prometheus
every 50 ms with the guardrail's own query, so "the breach is visible" is measured
independently of chaosrun; "every host's revert finished" is the journal's
`rollback.reverted_at` (every host's revert script has returned over SSH).

"Visible" is the start of the breached stretch the abort fell in, not the first breached
poll: on a loaded machine a scrape that times out reads as `up == 0` for one scrape, a
dip that clears on its own and that a 1 s guardrail rightly may not see. Dips that cleared
are counted and printed; the guardrail ticks between the onset and the abort are printed
with their verdicts, which is where the detect time goes.

Sizes are interleaved within each round. Per size it prints min/median/max and the split
of the time: breach visible -> abort decided (the guardrail tick), abort -> rollback
started (stopping the inject/verify play in flight), revert scripts (SSH). Targets: the
guardrail interval + 0.5 s at 5 targets, + 1 s at 50 (and above 5 hosts).

Usage: CHAOSRUN_LAB_NAME=... .venv/bin/python bench/abort_latency.py [--targets 5,50]
[--rounds 3] (the lab must be up with at least max(targets) order hosts).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tests" / "e2e"))
sys.path.insert(0, str(PROJECT / "bench"))

import benchlib  # noqa: E402
from engine_support import Watcher, parse_time, query  # noqa: E402

from chaosrun.lab import api  # noqa: E402
from chaosrun.model.apiaccess import ApiAccess  # noqa: E402

INTERVAL = 1.0


def target(count: int) -> float:
    return INTERVAL + (0.5 if count <= 5 else 1.0)


def healthy(hosts: list[str]) -> str:
    return f'sum(up{{job="{benchlib.JOB}", instance=~"{"|".join(hosts)}"}})'


def experiment(hosts: list[str]) -> str:
    query, count = healthy(hosts), len(hosts)
    return f"""\
title: Abort latency bench (stop {benchlib.UNIT} on {count} hosts)
targets: {{hosts: '{",".join(hosts)}', select: all}}
blast_radius: {{max_hosts: {count}, max_percent: 100, allow_whole_group: true}}
fault:
  role: chaosrun.chaos.service_stop
  vars: {{service_stop_units: [{benchlib.UNIT}]}}
duration: 120s
prometheus: {{scrape_interval: 1s, timeout: 1s}}
steady_state:
  - name: every instance is up
    prometheus: '{query}'
    min: {count}
guardrails:
  interval: {INTERVAL:g}s
  breaches_in_a_row: 1
  probes:
    - name: every instance stays up
      prometheus: '{query}'
      min: {count}
recovery: {{within: 90s}}
"""


class Timeline(Watcher):
    """Keeps polling after the first breach and remembers every change of breached-ness."""

    def __init__(self, url: ApiAccess, promql: str, count: int) -> None:
        super().__init__(url, promql, lambda v: not v or min(v) < count, 0.05)
        self.changes: list[tuple[float, bool]] = []

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.time()
            values = query(self.url, self.promql)
            if values is not None:
                breached = self.seen(values)
                if not self.changes or self.changes[-1][1] != breached:
                    self.changes.append((started, breached))
            self._stop.wait(self.every)

    def onset(self, before: float) -> float | None:
        """Start of the last breached stretch that began at or before `before`."""
        starts = [t for t, breached in self.changes if breached and t <= before]
        return starts[-1] if starts else None

    def first_after(self, at: float) -> float | None:
        """Start of the first breached stretch the watcher saw after `at`."""
        starts = [t for t, breached in self.changes if breached and t > at]
        return starts[0] if starts else None

    def dips(self, before: float) -> int:
        """Breached stretches that cleared on their own before the one the abort fell in."""
        return max(0, sum(1 for t, b in self.changes if b and t <= before) - 1)


def guardrail_ticks(journal: dict, start: float, end: float) -> str:
    """The guardrail samples taken between the onset and the abort, e.g. `PASS@0.4 ...`."""
    samples = [
        (parse_time(s["at"]), s["verdict"])
        for probe in journal.get("probes", [])
        if probe.get("role") == "guardrail"
        for s in probe["samples"]
    ]
    inside = [f"{v}@{t - start:.1f}" for t, v in sorted(samples) if start <= t <= end + 0.01]
    return " ".join(inside) or "none"


def one_round(hosts: list[str], work: Path, env: dict[str, str]) -> dict[str, float] | str:
    """The round's split of breach -> reverted, or why it has none (reported, not dropped)."""
    config = benchlib.lab()
    exp = work / f"abort-{len(hosts)}.yml"
    exp.write_text(experiment(hosts))
    count = len(hosts)
    timeline = Timeline(api.prometheus(config), healthy(hosts), count)
    with timeline:
        done = subprocess.run(
            [sys.executable, "-m", "chaosrun", "run", str(exp),
             "-i", str(benchlib.inventory(config)), "--json"],
            capture_output=True, text=True, env=env, cwd=PROJECT, timeout=600,
        )  # fmt: skip
    try:
        result = json.loads(done.stdout)
        journal = json.loads(Path(result["journal"]).read_text())
    except (ValueError, KeyError, OSError):
        return f"no result (rc {done.returncode}): {done.stderr.strip()[-300:]}"
    if done.returncode != 3 or not journal.get("rollback"):
        return f"not aborted: rc {done.returncode} {result.get('reason')}"
    rollback = next(p for p in journal["phases"] if p["name"] == "rollback")
    aborted = parse_time(journal["abort"]["at"])
    started = parse_time(rollback["started_at"])
    reverted = parse_time(journal["rollback"]["reverted_at"])
    # The engine may decide within the same scrape as the watcher, or before it: such a
    # round counts with detect <= 0 (onset taken from the watcher's first breach after the
    # abort, or the abort itself when the watcher saw none), never dropped.
    onset = timeline.onset(aborted)
    early = onset is None
    if onset is None:
        onset = min(timeline.first_after(aborted) or aborted, reverted)
        print("  the engine decided before its watcher saw the breach (detect <= 0)")
    split = {
        "early": float(early),
        "total": reverted - onset,
        "detect": aborted - onset,
        "stop_play": started - aborted,
        "revert": reverted - started,
    }
    print(
        f"  {count:3d} targets: breach->reverted {split['total']:5.2f}s = detect "
        f"{split['detect']:5.2f} + stop the play in flight {split['stop_play']:5.2f} + revert "
        f"{split['revert']:5.2f} (abort in phase {_phase_at(journal, aborted)})  "
        f"[{benchlib.load()}]\n"
        f"      dips that cleared before: {timeline.dips(aborted)}; guardrail ticks from "
        f"the onset (s after it): {guardrail_ticks(journal, onset, aborted)}",
        flush=True,
    )
    return split


def _phase_at(journal: dict, at: float) -> str:
    name = "?"
    for phase in journal["phases"]:
        if parse_time(phase["started_at"]) <= at:
            name = phase["name"]
    return name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="5,50", help="comma-separated target counts")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.targets.split(","))
    config = benchlib.lab()
    hosts = benchlib.order_hosts(config, sizes[-1])
    results: dict[int, list[dict[str, float]]] = {n: [] for n in sizes}
    failed: dict[int, list[str]] = {n: [] for n in sizes}
    with tempfile.TemporaryDirectory(prefix="chaosrun-abort-") as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "CHAOSRUN_CONFIG": str(benchlib.write_config(work, config.prometheus_url)),
        }
        print(f"abort latency on lab {config.name!r}, guardrail interval {INTERVAL:g}s")
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}")
            for n in sizes:
                split = one_round(hosts[:n], work, env)
                if isinstance(split, str):
                    print(f"  {n:3d} targets: round {r + 1} has no figure: {split}", flush=True)
                    failed[n].append(f"round {r + 1}: {split}")
                else:
                    results[n].append(split)
    ok = True
    for n in sizes:
        runs = results[n]
        totals = [s["total"] for s in runs]
        for line in failed[n]:
            print(f"{n:3d} targets: {line}")
        if not runs:
            print(f"{n:3d} targets: no round of {args.rounds} gave a figure")
            ok = False
            continue
        early = sum(1 for s in runs if s["early"])
        worst, goal = max(totals), target(n)
        ok = ok and worst <= goal and not failed[n]
        medians = "  ".join(
            f"{k} {statistics.median(s[k] for s in runs):.2f}"
            for k in ("detect", "stop_play", "revert")
        )
        print(
            f"{n:3d} targets ({len(runs)} of {args.rounds} rounds, {early} of them decided "
            f"before the watcher saw the breach, {len(failed[n])} without a figure): "
            f"breach visible -> reverted "
            f"{benchlib.spread(totals)} s; "
            f"target <= {goal:.1f}s: {'met' if worst <= goal else 'MISSED'} "
            f"(worst/target {worst / goal:.2f}); medians: {medians}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
