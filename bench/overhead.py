"""Orchestrator overhead: `chaosrun run` of a zero-duration experiment vs the same role
entry points run by plain `ansible-playbook`.

The experiment kills order-service (process_kill) on N lab hosts (default 5) for 1 ms,
with no probes, so what `chaosrun run` adds is the engine itself: starting Python and
loading the experiment, the inventory and the role's argument specs, preflight (SSH to
every host, on-host locks), the lease, the revert scripts over SSH, the journal and the
reports. The baseline is what a person would run by hand for the same phases: three
`ansible-playbook playbooks/fault.yml` runs (inject; verify active; rollback + verify
inactive) with the same ansible.cfg and forks. Both are timed wall clock, alternating
within each round; prints min/median/max of both and the ratio (target <= 1.3x), and
where the engine's time went (from its journal) in the last round.

Usage: CHAOSRUN_LAB_NAME=... .venv/bin/python bench/overhead.py [--hosts 5] [--rounds 3]
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

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib

from chaosrun.hosts import runner

TARGET = 1.3


def experiment(count: int) -> str:
    return yaml.safe_dump({
        "title": f"Overhead bench: kill {benchlib.UNIT} on {count} hosts for 1 ms",
        "targets": {"hosts": "order_service", "select": {"count": count}},
        "blast_radius": {"max_hosts": count, "max_percent": 100, "allow_whole_group": True},
        "fault": {"role": "chaosrun.chaos.process_kill", "vars": benchlib.KILL_VARS},
        "duration": "1ms",
        "recovery": {"within": "10s"},
    })  # fmt: skip


def plain(hosts: list[str], inv: Path, work: Path) -> float:
    """The three phases with ansible-playbook, as a person would run them."""
    run_id = benchlib.new_run_id("plain")
    env = {**os.environ, **runner.runner_env()}
    started = time.monotonic()
    benchlib.playbook_phases(hosts, inv, work, env, run_id)
    return time.monotonic() - started


def chaosrun(exp: Path, inv: Path, env: dict[str, str]) -> tuple[float, dict]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "chaosrun", "run", str(exp), "-i", str(inv), "--json"],
        env=env, cwd=benchlib.PROJECT, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"chaosrun run exited {done.returncode}: {done.stdout[-800:]}")
    journal = json.loads(Path(json.loads(done.stdout)["journal"]).read_text())
    return seconds, journal


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=5, help="hosts the fault hits")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    config = benchlib.lab()
    inv = benchlib.inventory(config)
    hosts = benchlib.order_hosts(config, args.hosts)
    ours: list[float] = []
    theirs: list[float] = []
    cpu: dict[str, list[float]] = {"plain": [], "chaosrun": []}
    with tempfile.TemporaryDirectory(prefix="chaosrun-overhead-") as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "CHAOSRUN_CONFIG": str(benchlib.write_config(work, config.prometheus_url)),
        }
        exp = work / "overhead.yml"
        exp.write_text(experiment(args.hosts))
        print(f"overhead on lab {config.name!r}, {args.hosts} hosts, {args.rounds} rounds")
        plain(hosts, inv, work)  # opens the SSH connections both sides then reuse
        journal: dict = {}
        for r in range(args.rounds):
            before = benchlib.children_cpu()
            theirs.append(plain(hosts, inv, work))
            middle = benchlib.children_cpu()
            seconds, journal = chaosrun(exp, inv, env)
            ours.append(seconds)
            cpu["plain"].append(middle - before)
            cpu["chaosrun"].append(benchlib.children_cpu() - middle)
            print(
                f"round {r + 1}: ansible-playbook x3 {theirs[-1]:.2f}s  chaosrun run "
                f"{ours[-1]:.2f}s  ratio {ours[-1] / theirs[-1]:.2f}  (CPU {cpu['plain'][-1]:.1f}s "
                f"vs {cpu['chaosrun'][-1]:.1f}s)  [{benchlib.load()}]",
                flush=True,
            )
    ratio = statistics.median(ours) / statistics.median(theirs)
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"ansible-playbook x3: {benchlib.spread(theirs)} s")
    print(f"chaosrun run:        {benchlib.spread(ours)} s")
    print(f"last chaosrun run by phase (s): {benchlib.journal_phases(journal, ours[-1])}")
    cpu_ratio = statistics.median(cpu["chaosrun"]) / statistics.median(cpu["plain"])
    print(
        f"CPU (every process, controller side) ansible-playbook x3 "
        f"{benchlib.spread(cpu['plain'])} s; chaosrun run {benchlib.spread(cpu['chaosrun'])} s; "
        f"ratio of the medians {cpu_ratio:.2f}x (steadier than wall time on a loaded machine)"
    )
    print(f"ratio of the medians {ratio:.2f}x (target <= {TARGET:g}x: {verdict})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
