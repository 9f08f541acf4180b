"""One `chaosrun run` as a timeline: where launch -> fault goes, in seconds from the launch.

Runs kill-one-order (`--set duration=5s`) on one order host of the lab in a fresh
interpreter that stamps its milestones without a profiler: the modules of interest as they
load, planning, the engine's steps up to the release of inject's started-ahead playbook,
and ansible-runner's job events as they reach the engine (the playbook's start, its
release, the fault's tasks). Prints them in order with the gap to the previous one, then
when the host's own unit journal recorded the kill. docs/performance.md ("Launch ->
fault, one timeline") reads one such run.

Usage: CHAOSRUN_LAB_NAME=... .venv/bin/python bench/launch_timeline.py [--host order-1]
"""

from __future__ import annotations

import argparse
import functools
import importlib.abc
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Modules whose load is a milestone, and those whose functions are stamped once loaded.
WATCHED = ("typer", "chaosrun.cli", "chaosrun.plan.planning", "ansible", "ansible_runner")
STAMPED = {
    "chaosrun.plan.planning": [(None, "load_plan")],
    "chaosrun.run.engine": [
        ("Engine", name)
        for name in ("__init__", "_preflight", "_steady_state_before", "_inject_then_verify")
    ],
    "chaosrun.run.prestart": [("Pending", "__init__"), ("Pending", "_write")],
    "chaosrun.run.early": [("Starter", "__call__")],
    "chaosrun.run.reaper": [("Reaper", "start")],
    "chaosrun.hosts.runner": [(None, "runner_env")],
    "pexpect.pty_spawn": [("spawn", "_spawn")],
    "chaosrun.hosts.hostshell": [("HostShell", "run_all")],
}


class Stamps:
    """Milestones written as `<seconds from T0> <what>` lines to the file TIMELINE_FILE."""

    def __init__(self) -> None:
        self.t0 = float(os.environ["TIMELINE_T0"])
        self.out = open(os.environ["TIMELINE_FILE"], "a")  # noqa: SIM115 (open for the run)

    def mark(self, what: str) -> None:
        self.out.write(f"{time.time() - self.t0:.3f} {what}\n")
        self.out.flush()

    def wrap(self, owner: Any, name: str, label: str) -> None:
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def stamped(*args: Any, **kwargs: Any) -> Any:
            self.mark(f"> {label}")
            try:
                return fn(*args, **kwargs)
            finally:
                self.mark(f"< {label}")

        setattr(owner, name, stamped)

    def events(self, module: Any) -> None:
        """ansible_runner.run: its start, and every job event as it reaches the engine."""
        run: Callable[..., Any] = module.run

        def traced(*args: Any, **kwargs: Any) -> Any:
            self.mark("> ansible_runner.run (spawns ansible-playbook)")
            handler = kwargs.get("event_handler")
            if handler is not None:

                def handle(event: dict[str, Any]) -> bool:
                    data = event.get("event_data") or {}
                    what = data.get("task") or data.get("play") or ""
                    self.mark(f"event {event.get('event')} {what} {data.get('host') or ''}")
                    return handler(event)

                kwargs["event_handler"] = handle
            return run(*args, **kwargs)

        module.run = traced


class Hook(importlib.abc.MetaPathFinder):
    """Stamps a watched module's load and wraps a stamped one's functions once loaded."""

    def __init__(self, stamps: Stamps) -> None:
        self.stamps = stamps
        self.busy: set[str] = set()

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name in self.busy or (name not in WATCHED and name not in STAMPED):
            return None
        self.busy.add(name)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.busy.discard(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            self.stamps.mark(f"import {name} ...")
            execute(module)
            self.stamps.mark(f"import {name} done")
            for owner, func in STAMPED.get(name, []):
                target_obj = getattr(module, owner) if owner else module
                self.stamps.wrap(target_obj, func, f"{owner + '.' if owner else ''}{func}")
            if name == "ansible_runner":
                self.stamps.events(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def traced_run(argv: list[str]) -> None:
    """In the fresh interpreter: `chaosrun <argv>` with the milestones stamped."""
    stamps = Stamps()
    stamps.mark("interpreter up")
    sys.meta_path.insert(0, Hook(stamps))
    sys.argv = ["chaosrun", *argv]
    from chaosrun.cli import main

    try:
        main()
    finally:
        stamps.mark("exit")


def show(lines: list[str]) -> None:
    last = 0.0
    for line in lines:
        at, _, what = line.partition(" ")
        print(f"{float(at):7.3f}  +{float(at) - last:6.3f}  {what}")
        last = float(at)


def main() -> None:
    if sys.argv[1:2] == ["--trace"]:
        traced_run(sys.argv[2:])
        return
    import benchlib
    import latency

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="the order host to aim at (default: the first)")
    parser.add_argument("--targets", type=int, default=1, help="aim at this many order hosts")
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    config = benchlib.lab()
    hosts = [args.host] if args.host else benchlib.order_hosts(config, args.targets)
    with tempfile.TemporaryDirectory(prefix="chaosrun-timeline-") as tmp:
        work = Path(tmp)
        exp = latency.experiment(hosts, work)
        stamps = work / "timeline"
        command = [
            sys.executable, __file__, "--trace", "run", str(exp),
            "-i", str(benchlib.inventory(config)), "--set", f"duration={args.duration:g}s",
            "--json",
        ]  # fmt: skip
        started = time.time()
        env = {**os.environ, "TIMELINE_T0": repr(started), "TIMELINE_FILE": str(stamps)}
        done = subprocess.run(command, env=env, cwd=benchlib.PROJECT, capture_output=True)
        print(f"chaosrun run exited {done.returncode}, load {os.getloadavg()[0]:.1f}")
        show(stamps.read_text().splitlines())
        for host in hosts:
            killed = latency.killed_at(config, host, started)
            print(f"the kill in {host}'s unit journal: {killed - started:.3f} s after launch"
                  if killed else f"no kill in {host}'s unit journal")  # fmt: skip


if __name__ == "__main__":
    main()
