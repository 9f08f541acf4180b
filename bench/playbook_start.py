"""How long a fault playbook takes to start: from `prestart.Pending` (ansible-runner,
ansible-playbook's imports, its settings, the inventory, the plugins) until the playbook
reads its release FIFO, with Ansible's own YAML from chaosrun's cache and parsed afresh
(`CHAOSRUN_YAML_CACHE=0`), alternating run by run so that a change of the machine's load
hits both alike. The playbook is abandoned once it reads: no host is touched. Prints the
median of each, their ratio and the load. The one fault.yml start on the critical path of
`chaosrun run` is inject's (docs/performance.md, "Ansible's own YAML parsed once").

Usage: CHAOSRUN_LAB_NAME=... .venv/bin/python bench/playbook_start.py [--runs 10]
"""

from __future__ import annotations

import argparse
import errno
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib

from chaosrun.hosts import yaml_cache
from chaosrun.run import prestart

ROLE = "chaosrun.chaos.process_kill"
WAIT_S = 30.0


def ready_after(inventory: Path, work: Path) -> float:
    """Seconds from constructing the play until its process opens the release for reading."""
    started = time.monotonic()
    pending = prestart.Pending(
        role=ROLE, hosts=5, inventory=inventory, work_dir=work, wait_s=WAIT_S
    )
    try:
        while time.monotonic() - started < WAIT_S:
            try:
                fd = os.open(pending.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:  # ENXIO: no reader yet
                if exc.errno != errno.ENXIO:
                    raise
                time.sleep(0.002)
                continue
            os.close(fd)
            return time.monotonic() - started
        raise SystemExit(f"the playbook did not read its release within {WAIT_S:g} s")
    finally:
        pending.abandon()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    inventory = benchlib.inventory(benchlib.lab())
    times: dict[str, list[float]] = {"cached": [], "parsed": []}
    with tempfile.TemporaryDirectory(prefix="chaosrun-bench-start-") as tmp:
        for i in range(args.runs):
            for side, switch in (("cached", "1"), ("parsed", "0"))[:: 1 if i % 2 else -1]:
                os.environ[yaml_cache.ENV_SWITCH] = switch
                took = ready_after(inventory, Path(tmp) / f"{side}-{i}")
                times[side].append(took)
                print(f"run {i + 1}, {side}: {took:.3f} s  [{benchlib.load()}]", flush=True)
    cached, parsed = (statistics.median(times[s]) for s in ("cached", "parsed"))
    for side in ("cached", "parsed"):
        print(f"{side}: {benchlib.spread(times[side])} s")
    print(f"ready for its release: cached/parsed {cached / parsed:.2f}x ({parsed - cached:.3f} s)")


if __name__ == "__main__":
    main()
