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

from benchlib import lab, load

from chaosrun.lab import controller, podman
from chaosrun.lab import processes as procs
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig

TICK = os.sysconf("SC_CLK_TCK")


def cgroup_cpu(pid: int) -> float:
    """CPU seconds of the cgroup that holds `pid` (cgroup v2, else v1's cpuacct)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _id, controllers, path = line.split(":", 2)
        if controllers == "":
            stat = Path("/sys/fs/cgroup", path.lstrip("/"), "cpu.stat")
            if stat.exists():
                usage = dict(ln.split() for ln in stat.read_text().splitlines())
                return int(usage["usage_usec"]) / 1e6
        if "cpuacct" in controllers.split(","):
            for mount in ("cpu,cpuacct", "cpuacct"):
                usage = Path("/sys/fs/cgroup", mount, path.lstrip("/"), "cpuacct.usage")
                if usage.exists():
                    return int(usage.read_text()) / 1e9
    raise SystemExit(f"no CPU accounting found for pid {pid}'s cgroup")


def process_cpu(pid: int) -> float:
    """CPU seconds of a process and the children it waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICK


def host_pids(config: LabConfig) -> dict[str, int]:
    names = [config.container(h.name) for h in config.hosts()]
    pids = {}
    for info in podman.run_json(["inspect", *names]):
        pids[info["Name"].lstrip("/")] = int(info["State"]["Pid"])
    return pids


def sample(config: LabConfig, paths: LabPaths) -> dict[str, float]:
    out = {}
    pids = host_pids(config)
    for host in config.hosts():
        pid = pids.get(config.container(host.name))
        if pid:
            out[host.name] = cgroup_cpu(pid)
    for name in controller.specs(config, paths):
        running = procs.read(paths, name)
        if running and running.alive:
            out[f"controller:{name}"] = process_cpu(running.pid)
    return out


def report(config: LabConfig, before: dict[str, float], after: dict[str, float], secs: float):
    share = {k: (after[k] - before[k]) / secs for k in before if k in after}
    groups: dict[str, list[float]] = defaultdict(list)
    for host in config.hosts():
        if host.name in share:
            groups[host.groups[0]].append(share[host.name])
    hosts = [v for k, v in share.items() if not k.startswith("controller:")]
    ctl = {k.split(":", 1)[1]: v for k, v in share.items() if k.startswith("controller:")}
    cores = os.cpu_count() or 1
    print(f"lab {config.name!r}: {len(hosts)} hosts, {secs:.0f} s window, {cores} cores, {load()}")
    for group, values in sorted(groups.items()):
        mean = sum(values) / len(values)
        worst = max(values)
        print(f"  {group:16} {len(values):3} host(s)  {mean:6.1%} of a core each (max {worst:.1%})")
    for name, value in sorted(ctl.items()):
        print(f"  controller {name:16} {value:6.1%} of a core")
    total = sum(hosts) + sum(ctl.values())
    print(f"  hosts in all {sum(hosts):.2f} cores; with the controller side {total:.2f} cores")
    print(f"  ratio lab at rest / machine: {total / cores:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="window length")
    args = parser.parse_args()
    config = lab()
    paths = LabPaths.of(config)
    before, t0 = sample(config, paths), time.monotonic()
    if not before:
        raise SystemExit(f"lab {config.name!r} has no running host: bring it up first")
    time.sleep(args.seconds)
    after, t1 = sample(config, paths), time.monotonic()
    report(config, before, after, t1 - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
