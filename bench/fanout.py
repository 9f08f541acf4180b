"""Fan-out: inject + verify + rollback of process_kill on 5, 20 and 50 lab hosts.

The plays are the engine's (bench/engine_play.py): inject and verify(active) are one
ansible-playbook started ahead and released with verify to follow, split into the two
phases where the engine splits them (the start of the play that runs verify); rollback +
verify(inactive) is one fresh ansible-runner run of playbooks/fault.yml. The sizes are
interleaved within each round, so a change of the machine's load hits all of them alike;
a first, uncounted pass on the largest size opens the SSH connections (ControlPersist),
and its time is printed as the cold number. The wall time counts from the release (the
engine starts the first play beside preflight: its start-up is not waited for), and
beside each phase it prints the controller's CPU seconds per host: ansible-playbook with
its workers and ssh clients, and ansible-runner's event handling in this process, split
at the same boundary; "ahead" is the first play's start-up before its release.
Prints per size min/median/max of the whole inject+verify+rollback and the median CPU
per host and phase, then the ratio largest/smallest per round and of the medians
(target <= 4x for 50 vs 5 hosts). Beside the controller's CPU it prints the hosts' own:
the targets' containers' CPU (their cgroups) over the run, less what they spent at rest
in the same length of time just before it (sshd, sudo and the scripts the run made them
run), and at the end what the medians say a host costs: the sizes' medians as a fixed
part and a part per host, and the most a host may add for the target ratio (for 4x at
50 vs 5 hosts, a tenth of the fixed part). With --script, each run is followed by the
same kill done as a plain script would do it (one fresh `ssh host sudo kill`, all hosts at
once: bench/latency.py's floor) and the hosts' CPU it cost above their rest, over the same
few seconds in which systemd starts the unit again (which both pay). With --profile,
the last round also prints per phase the remote round trips per host (tasks that ran a
module on the host, from the job events) and the tasks that stayed on the controller,
and where the time went per task.

Usage: CHAOSRUN_LAB_NAME=... CHAOSRUN_LAB_HOSTS=50 .venv/bin/python bench/fanout.py
[--sizes 5,20,50] [--rounds 3] [--profile] [--script] (the lab must be up with at least max(sizes)
order hosts).
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
import engine_play
import latency

from chaosrun.lab.hosts import list_containers
from chaosrun.lab.topology import LabConfig

TARGET = 4.0
PHASES = engine_play.PHASES
Cpu = dict[str, tuple[float, float]]


# How long the hosts' CPU at rest is read before each run, to take it off the run's.
REST_S = 2.0
# How long the script's kill is given to be over on the hosts (the unit started again).
SCRIPT_S = 3.0


class HostCpu:
    """The CPU seconds the target hosts' containers spend: in all, and above their rest."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def total(self, hosts: list[str]) -> float:
        return sum(benchlib.cgroup_cpu(self.pids[h]) for h in hosts)

    def at_rest(self, hosts: list[str]) -> float:
        """CPU seconds per second the hosts spend doing nothing of ours (REST_S measured)."""
        before, started = self.total(hosts), time.monotonic()
        time.sleep(REST_S)
        return (self.total(hosts) - before) / (time.monotonic() - started)


def one(
    hosts: list[str], inv: Path, work: Path, host_cpu: HostCpu, profile: bool = False
) -> tuple[float, Cpu, float]:
    """One inject + verify + rollback on `hosts`: the wall seconds, the controller's CPU per
    phase, and the hosts' CPU seconds per host above their rest."""
    run_id = benchlib.new_run_id(f"fan{len(hosts)}")
    rest = host_cpu.at_rest(hosts)
    before, started = host_cpu.total(hosts), time.monotonic()
    run = engine_play.run(hosts, inv, work, run_id)
    spent = host_cpu.total(hosts) - before - rest * (time.monotonic() - started)
    total = sum(run.times.values())
    print(
        f"  {len(hosts):3d} hosts: {total:6.2f}s  hosts' CPU {spent / len(hosts):5.3f} s/host "
        f"above rest ({rest / len(hosts) * 100:.1f} % of a core each at rest)  "
        f"[{benchlib.load()}]",
        flush=True,
    )
    play, runner = run.ahead
    print(f"     {'ahead':8s} {'':7s}  CPU {(play + runner) / len(hosts):5.3f} s/host "
          f"(ansible-playbook {play:5.2f}s, ansible-runner {runner:4.2f}s)")  # fmt: skip
    for phase, seconds in run.times.items():
        play, runner = run.cpu[phase]
        print(
            f"     {phase:8s} {seconds:6.2f}s  CPU {(play + runner) / len(hosts):5.3f} s/host "
            f"(ansible-playbook {play:5.2f}s, ansible-runner {runner:4.2f}s)"
        )
    for phase, (t0, t1) in run.windows.items() if profile else ():
        work_dir = work / run_id / engine_play.PLAYS[phase]
        print(f"   {phase} on {len(hosts)} hosts:")
        stage = engine_play.STAGES[phase]
        print(*round_trips(work_dir, hosts, stage), sep="\n")
        print(*benchlib.play_profile(work_dir, t0, t1, stage), sep="\n")
    return total, {"ahead": run.ahead, **run.cpu}, spent / len(hosts)


def round_trips(work_dir: Path, hosts: list[str], stage: bool | None) -> list[str]:
    """Remote round trips and controller-side tasks per host of one phase (`stage` of its
    play: benchlib.in_stage)."""
    counts = benchlib.task_counts(work_dir, hosts, stage)
    lines = []
    for side in ("remote", "controller"):
        per_host = [len(c[side]) for c in counts.values()] or [0]
        low, high = min(per_host), max(per_host)
        label = "remote round trips" if side == "remote" else "controller-side tasks"
        lines.append(f"    {label} per host: {low if low == high else f'{low}-{high}'}")
        names = max((c[side] for c in counts.values()), key=len, default=[])
        lines += [f"      {name[:90]}" for name in names]
    return lines


def script_cpu(config: LabConfig, hosts: list[str], host_cpu: HostCpu) -> float:
    """The hosts' CPU seconds per host above their rest of the plain script's kill."""
    rest = host_cpu.at_rest(hosts)
    before, started = host_cpu.total(hosts), time.monotonic()
    if isinstance(latency.floor_round(config, hosts), str):
        raise SystemExit("the script's kill failed")
    time.sleep(max(0.0, SCRIPT_S - (time.monotonic() - started)))
    spent = host_cpu.total(hosts) - before - rest * (time.monotonic() - started)
    print(f"      script: hosts' CPU {spent / len(hosts):5.3f} s/host above rest", flush=True)
    return spent / len(hosts)


def cpu_per_host(runs: list[Cpu], hosts: int) -> str:
    names = ("ahead", *PHASES)
    medians = [statistics.median(sum(run[phase]) / hosts for run in runs) for phase in names]
    parts = "  ".join(f"{p} {m:.3f}" for p, m in zip(names, medians, strict=True))
    return f"CPU s/host (medians) {parts}, all {sum(medians):.3f}"


def budget(small: int, large: int, times: tuple[float, float], target: float) -> str:
    """The medians as a fixed part and a part per host, and the most a host may add for
    `target` (large/small) with that fixed part."""
    per_host = (times[1] - times[0]) / (large - small)
    fixed = times[0] - small * per_host
    if large <= target * small:  # the ratio stays under the target whatever a host costs
        return f"per host {per_host:.3f} s, fixed {fixed:.2f} s"
    allowed = fixed * (target - 1) / (large - target * small)
    return (
        f"per host {per_host:.3f} s, fixed {fixed:.2f} s: {target:g}x needs at most "
        f"{allowed:.3f} s per host ({per_host / allowed:.1f}x less)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5,20,50", help="comma-separated host counts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--profile", action="store_true", help="round trips, task times: last round"
    )
    parser.add_argument("--skip-cold", action="store_true", help="no uncounted first pass")
    parser.add_argument("--script", action="store_true", help="the plain script's host CPU too")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    config = benchlib.lab()
    inv = benchlib.inventory(config)
    hosts = benchlib.order_hosts(config, sizes[-1])
    host_cpu = HostCpu({c.host: c.pid for c in list_containers(config) if c.running})
    results: dict[int, list[float]] = {n: [] for n in sizes}
    cpus: dict[int, list[Cpu]] = {n: [] for n in sizes}
    on_hosts: dict[int, list[float]] = {n: [] for n in sizes}
    by_script: dict[int, list[float]] = {n: [] for n in sizes}
    print(f"fan-out of process_kill on lab {config.name!r}, sizes {sizes}, {args.rounds} rounds")
    with tempfile.TemporaryDirectory(prefix="chaosrun-fanout-") as tmp:
        work = Path(tmp)
        if not args.skip_cold:
            print("cold (connections not yet open):")
            one(hosts, inv, work, host_cpu)
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}")
            for n in sizes:
                last = args.profile and r == args.rounds - 1
                total, cpu, spent = one(hosts[:n], inv, work, host_cpu, last)
                results[n].append(total)
                cpus[n].append(cpu)
                on_hosts[n].append(spent)
                if args.script:
                    by_script[n].append(script_cpu(config, hosts[:n], host_cpu))
    for n in sizes:
        print(
            f"{n:3d} hosts: {benchlib.spread(results[n])} s; {cpu_per_host(cpus[n], n)}; "
            f"hosts' CPU {statistics.median(on_hosts[n]):.3f} s/host above rest"
            + (f" (the script's {statistics.median(by_script[n]):.3f})" if by_script[n] else "")
        )
    small, large = sizes[0], sizes[-1]
    ratios = [b / a for a, b in zip(results[small], results[large], strict=True)]
    median_ratio = statistics.median(results[large]) / statistics.median(results[small])
    verdict = "met" if median_ratio <= TARGET else "MISSED"
    print(
        f"ratio {large}/{small} hosts: per round {', '.join(f'{x:.2f}' for x in ratios)}; "
        f"of the medians {median_ratio:.2f}x (target <= {TARGET:g}x: {verdict}) "
        f"[{benchlib.load()}]"
    )
    medians = (statistics.median(results[small]), statistics.median(results[large]))
    print(f"{budget(small, large, medians, TARGET)}; {os.cpu_count()} cores for all of it")
    return 0 if median_ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
