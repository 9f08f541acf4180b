"""How long people wait for the quick commands: `chaosrun --help`, `validate` and `status`
on the lab, wall time of the whole process, median of N runs each.

With `--baseline DIR` (a checkout of another commit, e.g. made by `git worktree add` or
`git archive`), the same commands run from that checkout too (its directory first on
sys.path, the venv's editable-install finder, which would win, left out: both sides
start through the same launcher), alternating run by run, so that a change of the
machine's load hits both alike, and the ratio of the medians is printed. Targets (issue
22): `--help` under 0.3 s, `status` on the default lab (8 hosts) under 1.5 s. Where the
start-up time goes: `python -X importtime -m chaosrun --help`.

Usage: CHAOSRUN_LAB_NAME=... .venv/bin/python bench/cli_startup.py [--runs 10]
[--baseline DIR] [--hosts PATTERN]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib

TARGETS = {"--help": 0.3, "status": 1.5}
# The default lab's 8 hosts, also on a lab grown for the fan-out benches.
DEFAULT_HOSTS = "all:!order-4:!order-5:!order-6:!order-7:!order-8:!order-9"


def commands(inv: Path, pattern: str) -> dict[str, list[str]]:
    experiment = benchlib.PROJECT / "experiments" / "kill-one-order.yml"
    return {
        "--help": ["--help"],
        "validate": ["validate", str(experiment), "-i", str(inv)],
        "status": ["status", "-i", str(inv), "--hosts", pattern],
    }


def timed(args: list[str], root: str) -> float:
    started = time.monotonic()
    done = subprocess.run(
        [*benchlib.chaosrun_from(root), *args],
        cwd=benchlib.PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"chaosrun {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline", type=Path, help="checkout to compare with")
    parser.add_argument("--hosts", default=DEFAULT_HOSTS, help="host pattern for status")
    args = parser.parse_args()
    inv = benchlib.inventory(benchlib.lab())
    sides = {"this": str(benchlib.PROJECT)}
    if args.baseline:
        sides["baseline"] = str(args.baseline.resolve())
    ok = True
    for name, argv in commands(inv, args.hosts).items():
        times: dict[str, list[float]] = {side: [] for side in sides}
        loads = []
        for _ in range(args.runs):
            for side, path in sides.items():
                times[side].append(timed(argv, path))
            loads.append(os.getloadavg()[0])
        load = f"load {min(loads):.1f}-{max(loads):.1f}"
        line = f"{name:9s} {benchlib.spread(times['this'])} s [{load}]"
        goal = TARGETS.get(name)
        if goal is not None:
            met = statistics.median(times["this"]) < goal
            ok = ok and met
            line += f"; target < {goal:g} s: {'met' if met else 'MISSED'}"
        if "baseline" in times:
            ratio = statistics.median(times["this"]) / statistics.median(times["baseline"])
            line += f"; baseline {benchlib.spread(times['baseline'])} s; ratio {ratio:.2f}x"
        print(line, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
