"""Benchmark: what a lab costs at rest, per host and in all, measured in one window.

Reads the CPU time of every lab host's container (its cgroup) and of the controller-side
services (Prometheus, Alertmanager, the traffic generator, the webhook receiver) at the
start and end of a window, and prints each as a share of one core, with the machine's
core count and load beside it. It answers "how many hosts fit on this machine": a lab is
usable while its steady cost leaves room for the experiments themselves.

Runs on the lab named by CHAOSRUN_LAB_* (it must be up). As root.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

from benchlib import cgroup_cpu, lab, load

from chaosrun.lab import controller
from chaosrun.lab import processes as procs
from chaosrun.lab.hosts import list_containers
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig

TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds of a process and the children it waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICK


def sample(config: LabConfig, paths: LabPaths) -> tuple[dict[str, float], dict[str, float]]:
    """CPU seconds so far: of every running host's container, of every controller service."""
    hosts = {c.host: cgroup_cpu(c.pid) for c in list_containers(config) if c.running}
    services = {}
    for name in controller.specs(config, paths):
        running = procs.read(paths, name)
        if running and running.alive:
            services[name] = process_cpu(running.pid)
    return hosts, services


def shares(before: dict[str, float], after: dict[str, float], secs: float) -> dict[str, float]:
    return {k: (after[k] - before[k]) / secs for k in before if k in after}


def report(config: LabConfig, hosts: dict[str, float], services: dict[str, float], secs: float):
    groups: dict[str, list[float]] = defaultdict(list)
    for host in config.hosts():
        if host.name in hosts:
            groups[host.groups[0]].append(hosts[host.name])
    cores = os.cpu_count() or 1
    print(f"lab {config.name!r}: {len(hosts)} hosts, {secs:.0f} s window, {cores} cores, {load()}")
    for group, values in sorted(groups.items()):
        mean = sum(values) / len(values)
        worst = max(values)
        print(f"  {group:16} {len(values):3} host(s)  {mean:6.1%} of a core each (max {worst:.1%})")
    for name, value in sorted(services.items()):
        print(f"  controller {name:16} {value:6.1%} of a core")
    on_hosts = sum(hosts.values())
    total = on_hosts + sum(services.values())
    print(f"  hosts in all {on_hosts:.2f} cores; with the controller side {total:.2f} cores")
    print(f"  ratio lab at rest / machine: {total / cores:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="window length")
    args = parser.parse_args()
    config = lab()
    paths = LabPaths.of(config)
    (hosts0, services0), t0 = sample(config, paths), time.monotonic()
    if not hosts0:
        raise SystemExit(f"lab {config.name!r} has no running host: bring it up first")
    time.sleep(args.seconds)
    (hosts1, services1), t1 = sample(config, paths), time.monotonic()
    secs = t1 - t0
    report(config, shares(hosts0, hosts1, secs), shares(services0, services1, secs), secs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
