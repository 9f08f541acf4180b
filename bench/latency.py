"""Launch latency on the lab: `chaosrun run` -> the fault on the host, and what a run costs
beyond its duration, each as a ratio to a floor measured in the same round.

The run is the shipped kill-one-order experiment (process_kill, SIGKILL of order-service,
its steady state and guardrails) with `--set duration=5s`, on 1 and on N order hosts
(named, so the floor hits the same ones). The floor is what a plain script does for the
same fault: one fresh `ssh host <the role's kill command>` per host, all hosts at once.

"The fault on the host" is the kill as the host's own journal of the unit records it
(systemd's "Main process exited, code=killed" line), the latest over the targets; the
lab's hosts are containers on this machine, so their clock is the controller's. "Beyond
the duration" is the run's wall time (launch to exit, start-up, preflight, both verifies
and rollback included) minus its duration; its floor is the script's: the ssh command's
wall time (the kill needs no rollback, systemd restarts the unit).

At 5 targets (with the lab's 5 order hosts) the fault takes the whole order tier down:
the experiment's error-ratio guardrail aborts it, sometimes before the inject reached
every target; such a round is reported, with no figure, and a run that did not pass has
no time beyond its duration.

Sizes and sides alternate within each round, and the unit and traffic settle between
them (the next run's steady state must hold). Prints every round with the load beside it,
then per size the medians and their ratios to the floor. Targets (issue 22): launch ->
fault at most 3x the floor at 1 target and 4x at 5; a 5 s run ends at most 3 s after its
duration.

With `--warm`, the chaosrun side is the installed `chaosrun` with a warm process started
before the rounds (`chaosrun warm`: the run is a fork of a process that has chaosrun and
Ansible loaded), and each round also runs the same `chaosrun` without it (CHAOSRUN_WARM=0);
both are printed against the floor.

With `--baseline DIR` (a checkout of another commit, as for bench/cli_startup.py), each
round also runs that checkout's `chaosrun run`, sides alternating, and the ratio of the
medians this/baseline is printed: a change measured against its parent on the same load.

Usage: CHAOSRUN_LAB_NAME=... .venv/bin/python bench/latency.py [--targets 1,5]
[--rounds 5] [--duration 5] [--baseline DIR] [--warm] (the lab must be up with max(targets) order
hosts: CHAOSRUN_LAB_HOSTS=5 chaosrun lab up).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tests" / "e2e"))
sys.path.insert(0, str(PROJECT / "bench"))

import benchlib  # noqa: E402
from engine_support import query  # noqa: E402

from chaosrun.lab import api  # noqa: E402
from chaosrun.lab.bastion import jump_options  # noqa: E402
from chaosrun.lab.keys import ssh_argv  # noqa: E402
from chaosrun.lab.state import LabPaths  # noqa: E402
from chaosrun.lab.topology import LabConfig  # noqa: E402

EXPERIMENT = benchlib.PROJECT / "experiments" / "kill-one-order.yml"
# What process_kill's arm step runs for process_kill_unit (select.sh.j2, then the kill).
KILL = "kill -s KILL $(systemctl show -p MainPID --value {unit})"
KILLED = ("code=killed", "Stopping")
SETTLE_TIMEOUT_S = 180.0
LAUNCH_TARGET = {1: 3.0, 5: 4.0}
BEYOND_TARGET_S = 3.0


def experiment(hosts: list[str], work: Path) -> Path:
    """kill-one-order, aimed at the named hosts (blast radius opened for them)."""
    data = yaml.safe_load(EXPERIMENT.read_text())
    data["targets"] = {"hosts": ",".join(hosts), "select": "all"}
    data["blast_radius"] = {"max_hosts": len(hosts), "max_percent": 100, "allow_whole_group": True}
    path = work / f"kill-{len(hosts)}-order.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def fresh_ssh(config: LabConfig, host: str) -> list[str]:
    """A new ssh connection to a lab host, as a script would open it: no shared master."""
    paths = LabPaths.of(config)
    address = next(h.address for h in config.hosts() if h.name == host)
    argv = ssh_argv(paths, address, jump_options(config, paths))
    return [argv[0], "-o", "ControlMaster=no", "-o", "ControlPath=none", *argv[1:]]


def on_host(config: LabConfig, host: str, command: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*fresh_ssh(config, host), f"sudo -n sh -c {shlex.quote(command)}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def killed_at(config: LabConfig, host: str, since: float) -> float | None:
    """When the unit's journal on the host recorded the kill, first after `since`."""
    command = f"journalctl -u {benchlib.UNIT} -o short-unix --no-pager --since @{int(since) - 1}"
    out, _ = on_host(config, host, command).communicate(timeout=60)
    for line in out.splitlines():
        stamp, _, text = line.partition(" ")
        try:
            at = float(stamp)
        except ValueError:
            continue
        if at >= since and any(mark in text for mark in KILLED):
            return at
    return None


def fault_on_all(config: LabConfig, hosts: list[str], since: float) -> float | None:
    times = [killed_at(config, h, since) for h in hosts]
    return None if None in times else max(t for t in times if t is not None)


def settle(config: LabConfig, hosts: list[str]) -> None:
    """Wait for the unit to be active again on every host, then for the experiment's
    steady state to hold three polls in a row: the next run must not be refused for the
    blip of the last kill."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        procs = [on_host(config, h, f"systemctl is-active {benchlib.UNIT}") for h in hosts]
        if all(p.wait(timeout=60) == 0 for p in procs):
            break
        time.sleep(1)
    probes = yaml.safe_load(EXPERIMENT.read_text())["steady_state"]
    server, in_a_row = api.prometheus(config), 0
    while in_a_row < 3 and time.monotonic() < deadline:
        values = [query(server, p["prometheus"]) for p in probes]
        held = all(v and _within(v[0], p) for v, p in zip(values, probes, strict=True))
        in_a_row = in_a_row + 1 if held else 0
        time.sleep(1)
    if in_a_row < 3:
        print(f"  the steady state did not settle within {SETTLE_TIMEOUT_S:g}s", flush=True)


def _within(value: float, probe: dict) -> bool:
    return value <= probe.get("max", float("inf")) and value >= probe.get("min", float("-inf"))


def chaosrun_round(
    config: LabConfig,
    hosts: list[str],
    exp: Path,
    env: dict[str, str],
    duration: float,
    root: Path = benchlib.PROJECT,
    launcher: list[str] | None = None,
) -> tuple[float, float | None] | str:
    """(launch -> fault on every target, seconds beyond the duration) of the `chaosrun run`
    of the checkout at `root`, or why not. A run that did not pass (a guardrail aborted it:
    the lab's load) still tells when its fault landed; it has no time beyond its duration
    (None)."""
    command = [
        *(launcher or benchlib.chaosrun_from(root)), "run", str(exp),
        "-i", str(benchlib.inventory(config)), "--set", f"duration={duration:g}s", "--json",
    ]  # fmt: skip
    started = time.time()
    done = subprocess.run(
        command,
        env=benchlib.checkout_env(env, root),
        cwd=benchlib.PROJECT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.time() - started
    reason = _reason(done.stdout) or done.stderr.strip()[-300:]
    if done.returncode != 0:
        print(f"  chaosrun run exited {done.returncode}: {reason}", flush=True)
    print(f"  {phases(done.stdout, started, wall)}", flush=True)
    fault = fault_on_all(config, hosts, started)
    if fault is None:
        return f"no kill in the unit's journal of every target (exit {done.returncode})"
    return fault - started, (wall - duration if done.returncode == 0 else None)


def floor_round(config: LabConfig, hosts: list[str]) -> tuple[float, float] | str:
    """(launch -> fault on every target, the script's wall time) of one fresh ssh per host."""
    started = time.time()
    procs = [on_host(config, h, KILL.format(unit=benchlib.UNIT)) for h in hosts]
    failed = [p.stderr.read().strip() for p in procs if p.wait(timeout=120) != 0]
    wall = time.time() - started
    if failed:
        return f"ssh failed: {failed[0][-300:]}"
    fault = fault_on_all(config, hosts, started)
    if fault is None:
        return "no kill in the unit's journal of every target"
    return fault - started, wall


def phases(stdout: str, started: float, wall: float) -> str:
    """Seconds per phase from the run's journal, and outside them (start-up, exit)."""
    try:
        journal = json.loads(Path(json.loads(stdout)["journal"]).read_text())
    except (ValueError, KeyError, OSError):
        return "no journal"
    return "phases (s): " + benchlib.journal_phases(journal, wall, started)


def _reason(stdout: str) -> str:
    try:
        return str(json.loads(stdout).get("reason") or "")
    except ValueError:
        return ""


def versus(
    n: int, ours: list[tuple[float, float | None]], base: list[tuple[float, float | None]]
) -> None:
    """This checkout against the baseline's, ratios of the medians."""
    if not ours or not base:
        print(f"{n} target(s): no baseline comparison (a side has no round)")
        return
    ratio = statistics.median(x[0] for x in ours) / statistics.median(x[0] for x in base)
    line = (
        f"{n} target(s) against the baseline: launch -> fault "
        f"{benchlib.spread([x[0] for x in base])} s, this/baseline {ratio:.2f}x"
    )
    passed = [x[1] for x in ours if x[1] is not None]
    was = [x[1] for x in base if x[1] is not None]
    if passed and was:
        line += (
            f"; beyond the duration {benchlib.spread(was)} s, "
            f"this/baseline {statistics.median(passed) / statistics.median(was):.2f}x"
        )
    print(line)


def summary(
    n: int, ours: list[tuple[float, float | None]], floor: list[tuple[float, float]]
) -> bool:
    passed = [x[1] for x in ours if x[1] is not None]
    if not ours or not floor:
        print(f"{n} target(s): no round with the fault on every target and its floor")
        return False
    launch = statistics.median(x[0] for x in ours)
    launch_floor = statistics.median(x[0] for x in floor)
    goal = LAUNCH_TARGET.get(n)
    ratio = launch / launch_floor
    launch_ok = goal is None or ratio <= goal
    print(
        f"{n} target(s): launch -> fault {benchlib.spread([x[0] for x in ours])} s; floor "
        f"{benchlib.spread([x[0] for x in floor])} s; ratio of the medians {ratio:.1f}x"
        + (f" (target <= {goal:g}x: {'met' if launch_ok else 'MISSED'})" if goal else "")
    )
    if not passed:
        print(f"{n} target(s): no run passed, no time beyond the duration")
        return False
    beyond = statistics.median(passed)
    beyond_floor = statistics.median(x[1] for x in floor)
    print(
        f"{n} target(s): beyond the duration {benchlib.spread(passed)} s "
        f"(target <= {BEYOND_TARGET_S:g} s: {'met' if beyond <= BEYOND_TARGET_S else 'MISSED'}); "
        f"the script's {benchlib.spread([x[1] for x in floor])} s; "
        f"ratio of the medians {beyond / beyond_floor:.1f}x"
    )
    return launch_ok and beyond <= BEYOND_TARGET_S


def warm(installed: list[str], env: dict[str, str], *args: str) -> None:
    """`chaosrun warm ARGS` with the environment and directory of the runs that follow."""
    done = subprocess.run(
        [*installed, "warm", *args], env=env, cwd=benchlib.PROJECT, capture_output=True, text=True
    )
    print(f"  chaosrun warm {' '.join(args)}: {(done.stdout + done.stderr).strip()}", flush=True)
    if done.returncode != 0:
        raise SystemExit(f"chaosrun warm exited {done.returncode}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="1,5", help="comma-separated target counts")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0, help="the run's duration, s")
    parser.add_argument("--baseline", type=Path, help="checkout to compare with")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="run the installed chaosrun with a warm process (`chaosrun warm`), and beside "
        "it the same chaosrun without one (CHAOSRUN_WARM=0)",
    )
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.targets.split(","))
    config = benchlib.lab()
    hosts = benchlib.order_hosts(config, sizes[-1])
    ours: dict[int, list[tuple[float, float | None]]] = {n: [] for n in sizes}
    floor: dict[int, list[tuple[float, float]]] = {n: [] for n in sizes}
    base: dict[int, list[tuple[float, float | None]]] = {n: [] for n in sizes}
    cold: dict[int, list[tuple[float, float | None]]] = {n: [] for n in sizes}
    installed = [str(Path(sys.executable).with_name("chaosrun"))]
    with tempfile.TemporaryDirectory(prefix="chaosrun-latency-") as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "CHAOSRUN_CONFIG": str(benchlib.write_config(work, config.prometheus_url)),
        }
        print(
            f"launch latency on lab {config.name!r}: kill {benchlib.UNIT}, run duration "
            f"{args.duration:g}s, {args.rounds} rounds"
        )
        if args.warm:
            warm(installed, benchlib.checkout_env(env, benchlib.PROJECT), "--idle", "30m")
        for r in range(args.rounds):
            for n in sizes:
                exp = experiment(hosts[:n], work)
                sides = [("chaosrun run", ours), ("one ssh", floor)]
                if args.baseline:
                    sides.append(("baseline", base))
                if args.warm:
                    sides.append(("no warm", cold))
                for name, results in sides if r % 2 == 0 else sides[::-1]:
                    if name == "one ssh":
                        got = floor_round(config, hosts[:n])
                    elif name == "no warm":
                        off = {**env, "CHAOSRUN_WARM": "0"}
                        got = chaosrun_round(
                            config, hosts[:n], exp, off, args.duration, launcher=installed
                        )
                    elif args.warm:
                        got = chaosrun_round(
                            config, hosts[:n], exp, env, args.duration, launcher=installed
                        )
                    elif name == "baseline":
                        root = args.baseline.resolve()
                        got = chaosrun_round(config, hosts[:n], exp, env, args.duration, root)
                    else:
                        got = chaosrun_round(config, hosts[:n], exp, env, args.duration)
                    if isinstance(got, str):
                        print(f"round {r + 1}, {n} target(s), {name}: FAILED: {got}", flush=True)
                    else:
                        results[n].append(got)
                        beyond = "n/a (did not pass)" if got[1] is None else f"{got[1]:5.2f}s"
                        print(
                            f"round {r + 1}, {n} target(s), {name:12s}: launch -> fault "
                            f"{got[0]:5.2f}s, beyond the duration {beyond}  "
                            f"[{benchlib.load()}]",
                            flush=True,
                        )
                    settle(config, hosts[:n])
        if args.warm:
            warm(installed, benchlib.checkout_env(env, benchlib.PROJECT), "--stop")
    ok = all([summary(n, ours[n], floor[n]) for n in sizes])
    if args.warm:
        print("without a warm process (CHAOSRUN_WARM=0), the same rounds:")
        for n in sizes:
            summary(n, cold[n], floor[n])
    if args.baseline:
        for n in sizes:
            versus(n, ours[n], base[n])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
