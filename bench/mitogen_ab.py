"""Does mitogen make the fault phases faster here? The same three ansible-playbook runs
(process_kill inject; verify active; rollback + verify inactive) on N lab hosts with
Ansible's linear strategy and with mitogen_linear, alternating within each round.

Prints wall time and the CPU the ansible processes used (the controller's 2 cores are
what a big fan-out runs out of). mitogen is not a dependency: `.venv/bin/pip install
mitogen` first; the script says so when it is missing.

Usage: CHAOSRUN_LAB_NAME=... .venv/bin/python bench/mitogen_ab.py [--hosts 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib

from chaosrun.hosts import runner


def phases(hosts: list[str], inv: Path, work: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of inject, verify and rollback+verify with ansible-playbook."""
    run_id = benchlib.new_run_id("mitogen")
    cpu, started = benchlib.children_cpu(), time.monotonic()
    benchlib.playbook_phases(hosts, inv, work, env, run_id)
    return time.monotonic() - started, benchlib.children_cpu() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    try:
        import ansible_mitogen
    except ImportError:
        print("mitogen is not installed: .venv/bin/pip install mitogen")
        return 2
    strategies = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    config = benchlib.lab()
    inv = benchlib.inventory(config)
    hosts = benchlib.order_hosts(config, args.hosts)
    linear = {**os.environ, **runner.runner_env()}
    mitogen = {**linear, "ANSIBLE_STRATEGY_PLUGINS": str(strategies)}
    mitogen["ANSIBLE_STRATEGY"] = "mitogen_linear"
    results: dict[str, list[tuple[float, float]]] = {"linear": [], "mitogen_linear": []}
    with tempfile.TemporaryDirectory(prefix="chaosrun-mitogen-") as tmp:
        work = Path(tmp)
        phases(hosts, inv, work, linear)  # opens the SSH connections
        for r in range(args.rounds):
            for name, env in (("linear", linear), ("mitogen_linear", mitogen)):
                results[name].append(phases(hosts, inv, work, env))
                wall, cpu = results[name][-1]
                print(
                    f"round {r + 1} {name:>14}: {wall:6.2f}s wall, {cpu:5.2f}s CPU "
                    f"[{benchlib.load()}]",
                    flush=True,
                )
    for name, values in results.items():
        print(f"{name:>14}: wall {benchlib.spread([w for w, _ in values])} s")
        print(f"{'':>14}  CPU  {benchlib.spread([c for _, c in values])} s")
    wall = statistics.median(w for w, _ in results["mitogen_linear"]) / statistics.median(
        w for w, _ in results["linear"]
    )
    cpu = statistics.median(c for _, c in results["mitogen_linear"]) / statistics.median(
        c for _, c in results["linear"]
    )
    print(f"mitogen/linear: wall {wall:.2f}x, CPU {cpu:.2f}x (below 1 means mitogen helps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
