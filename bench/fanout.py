"""Fan-out: inject + verify + rollback of process_kill on 5, 20 and 50 lab hosts.

Each phase runs as the engine runs it (one ansible-runner run of playbooks/fault.yml on
every selected host: inject; verify active; rollback + verify inactive). The sizes are
interleaved within each round, so a change of the machine's load hits all of them alike;
a first, uncounted pass on the largest size opens the SSH connections (ControlPersist),
and its time is printed as the cold number. Prints per size min/median/max of the whole
inject+verify+rollback, then the ratio largest/smallest per round and of the medians
(target <= 3x for 50 vs 5 hosts).

Usage: CHAOSRUN_LAB_NAME=... CHAOSRUN_LAB_HOSTS=50 .venv/bin/python bench/fanout.py
[--sizes 5,20,50] [--rounds 3] (the lab must be up with at least max(sizes) order hosts).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib

TARGET = 3.0


def one(hosts: list[str], inv: Path, work: Path, profile: bool = False) -> float:
    run_id = benchlib.new_run_id(f"fan{len(hosts)}")
    windows: dict[str, tuple[float, float]] = {}
    times = benchlib.engine_phases(hosts, inv, work, run_id, windows)
    total = sum(times.values())
    parts = "  ".join(f"{k} {v:5.2f}s" for k, v in times.items())
    print(f"  {len(hosts):3d} hosts: {total:6.2f}s  ({parts})  [{benchlib.load()}]", flush=True)
    for phase, (t0, t1) in windows.items() if profile else ():
        print(f"   {phase} on {len(hosts)} hosts, where the time went:")
        print(*benchlib.play_profile(work / run_id / phase, t0, t1), sep="\n")
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5,20,50", help="comma-separated host counts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="per-task times, last round")
    parser.add_argument("--skip-cold", action="store_true", help="no uncounted first pass")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    config = benchlib.lab()
    inv = benchlib.inventory(config)
    hosts = benchlib.order_hosts(config, sizes[-1])
    results: dict[int, list[float]] = {n: [] for n in sizes}
    print(f"fan-out of process_kill on lab {config.name!r}, sizes {sizes}, {args.rounds} rounds")
    with tempfile.TemporaryDirectory(prefix="chaosrun-fanout-") as tmp:
        work = Path(tmp)
        if not args.skip_cold:
            print("cold (connections not yet open):")
            one(hosts, inv, work)
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}")
            for n in sizes:
                last = args.profile and r == args.rounds - 1
                results[n].append(one(hosts[:n], inv, work, last))
    for n in sizes:
        print(f"{n:3d} hosts: {benchlib.spread(results[n])} s")
    small, large = sizes[0], sizes[-1]
    ratios = [b / a for a, b in zip(results[small], results[large], strict=True)]
    median_ratio = statistics.median(results[large]) / statistics.median(results[small])
    verdict = "met" if median_ratio <= TARGET else "MISSED"
    print(
        f"ratio {large}/{small} hosts: per round {', '.join(f'{x:.2f}' for x in ratios)}; "
        f"of the medians {median_ratio:.2f}x (target <= {TARGET:g}x: {verdict}) "
        f"[{benchlib.load()}]"
    )
    return 0 if median_ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
