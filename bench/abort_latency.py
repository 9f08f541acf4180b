"""Abort latency on the lab: breach visible in Prometheus -> rollback finished on all targets.

Each round runs `chaosrun run` with an experiment that stops a unit (order-service by
default) on two hosts of a group and a guardrail that needs every scrape target of the
group up (interval 1 s).
A watcher thread polls Prometheus every 100 ms with the guardrail's own query, so "the
breach is visible" is measured independently of chaosrun; "rollback finished" is the
journal's `rollback.reverted_at` (every host's revert script has returned).

Usage: CHAOSRUN_LAB_NAME=... .venv/bin/python bench/abort_latency.py [--rounds N]
[--group order_service --unit order-service.service --job order_service]
(the lab must be up: `chaosrun lab up`). Prints one line per round, then the median and
the worst against the target (guardrail interval + 2 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tests" / "e2e"))

from engine_support import Watcher, parse_time  # noqa: E402

from chaosrun.lab.topology import LabConfig  # noqa: E402

INTERVAL = 1.0


def healthy(args: argparse.Namespace, hosts: list[str]) -> str:
    pattern = "|".join(hosts)
    return f'sum(up{{job="{args.job}", instance=~"{pattern}"}})'


def experiment(args: argparse.Namespace, hosts: list[str]) -> str:
    query, count = healthy(args, hosts), len(hosts)
    return f"""\
title: Abort latency bench (stop {args.unit} on {count} hosts)
targets: {{hosts: {args.group}, select: {{count: {min(2, count)}}}}}
blast_radius: {{max_hosts: 2, max_percent: 100, allow_whole_group: true}}
fault:
  role: chaosrun.chaos.service_stop
  vars: {{service_stop_units: [{args.unit}]}}
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


def one_round(
    args: argparse.Namespace, work: Path, lab: LabConfig, inventory: Path, env: dict[str, str]
) -> float | None:
    hosts = [h.name for h in lab.hosts() if args.group in h.groups]
    exp = work / "bench.yml"
    exp.write_text(experiment(args, hosts))
    with Watcher(
        lab.prometheus_url, healthy(args, hosts), lambda v: min(v) < len(hosts)
    ) as watcher:
        done = subprocess.run(
            [sys.executable, "-m", "chaosrun", "run", str(exp), "-i", str(inventory), "--json"],
            capture_output=True, text=True, env=env, cwd=PROJECT, timeout=600,
        )  # fmt: skip
    try:
        result = json.loads(done.stdout)
    except ValueError:
        print(f"  no result (rc {done.returncode}): {done.stderr[-500:]}")
        return None
    journal = json.loads(Path(result["journal"]).read_text())
    if done.returncode != 3 or watcher.first is None or not journal.get("rollback"):
        print(f"  unexpected: rc {done.returncode} {result.get('reason')}")
        return None
    reverted = parse_time(journal["rollback"]["reverted_at"])
    aborted = parse_time(journal["abort"]["at"])
    print(
        f"  breach->abort {aborted - watcher.first:5.2f}s  "
        f"breach->rollback finished {reverted - watcher.first:5.2f}s  "
        f"(revert scripts {journal['rollback']['revert_scripts_s']:.2f}s)"
    )
    return reverted - watcher.first


def main() -> int:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--group", default="order_service", help="inventory group to hit")
    parser.add_argument("--unit", default="order-service.service", help="unit to stop")
    parser.add_argument("--job", default="order_service", help="Prometheus job of the unit")
    args = parser.parse_args()
    rounds = args.rounds
    lab = LabConfig.from_env()
    inventory = PROJECT / "inventories" / lab.name / "hosts"
    with tempfile.TemporaryDirectory(prefix="chaosrun-bench-") as tmp:
        work = Path(tmp)
        config = work / "chaosrun.yml"
        config.write_text(yaml.safe_dump({
            "prometheus": {"url": lab.prometheus_url},
            "run_dir": str(work / "runs"),
            "audit": {"path": str(work / "audit.jsonl")},
            "freeze_file": str(work / "freeze.json"),
        }))  # fmt: skip
        env = {**os.environ, "CHAOSRUN_CONFIG": str(config)}
        print(f"abort latency on lab {lab.name!r}, guardrail interval {INTERVAL:g}s, {rounds} runs")
        results = []
        for i in range(rounds):
            print(f"run {i + 1}/{rounds}")
            value = one_round(args, work, lab, inventory, env)
            if value is not None:
                results.append(value)
    if not results:
        print("no successful run")
        return 1
    target = INTERVAL + 2.0
    median, worst = statistics.median(results), max(results)
    print(
        f"breach visible -> rollback finished: median {median:.2f}s, worst {worst:.2f}s, "
        f"target <= {target:.1f}s: {'met' if worst <= target else 'MISSED'} "
        f"(ratio worst/target {worst / target:.2f})"
    )
    return 0 if worst <= target else 1


if __name__ == "__main__":
    sys.exit(main())
