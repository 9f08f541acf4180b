"""The engine's plays of process_kill, run by the benches as `chaosrun run` runs them.

Inject and verify(active) are one started-ahead ansible-playbook (chaosrun.run.prestart):
the bench waits until it sits at its release, releases inject with verify to follow, and
splits the play at the same boundary the engine does (the start of the play that runs the
following entry points, `PlayResult.then`). Rollback + verify(inactive) is one fresh play,
as the bench ran it before (the engine starts that one ahead too): its start-up is in the
rollback's wall time and CPU.

The controller's CPU of a play's process tree is read from /proc at the boundary: the
ansible-playbook process's own time, the workers it reaped, and the workers that ended
and wait to be reaped (a worker's time and its ssh clients'); workers still running are
left to the next stage. At the play's end the children's rusage gives the whole play.
ansible-runner's event handling in this process is counted by the same boundaries.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import benchlib

from chaosrun.hosts import runner
from chaosrun.run import prestart, reaper

ROLE = "chaosrun.chaos.process_kill"
READY_TIMEOUT_S = 300.0
TICK = os.sysconf("SC_CLK_TCK")
# The phases as the journal names them, and the work dirs of their plays.
PHASES = ("inject", "verify", "rollback")
PLAYS = {"inject": "inject", "verify": "inject", "rollback": "rollback"}
# Which stage of its play's events a phase is (benchlib.in_stage).
STAGES: dict[str, bool | None] = {"inject": False, "verify": True, "rollback": None}


@dataclass
class Phases:
    """One engine run's phases: wall seconds, (start, end) epochs, and CPU seconds
    (ansible-playbook's tree, ansible-runner in this process) per phase; `ahead` is the
    CPU of the inject play's start-up before its release, which no phase waits for."""

    times: dict[str, float] = field(default_factory=dict)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    cpu: dict[str, tuple[float, float]] = field(default_factory=dict)
    ahead: tuple[float, float] = (0.0, 0.0)


def run(hosts: list[str], inv: Path, work: Path, run_id: str) -> Phases:
    """inject + verify(active) as one released play, then rollback + verify(inactive), on
    `hosts`; raises when a phase fails on any host."""
    out = Phases()
    tree0, own0 = benchlib.children_cpu(), benchlib.self_cpu()
    work_dir = work / run_id / "inject"
    pending = prestart.Pending(
        role=ROLE,
        hosts=len(hosts),
        inventory=inv,
        work_dir=work_dir,
        wait_s=READY_TIMEOUT_S,
    )
    main = _wait_ready(pending, work_dir)
    ahead = (_tree_cpu(main), benchlib.self_cpu() - own0)
    out.ahead = ahead
    started, epoch = time.monotonic(), time.time()
    variables = benchlib.role_vars(run_id, 120, "active")
    inject = pending.release(hosts, ["inject"], variables, then=["verify"])
    if inject is None:
        raise RuntimeError("the started-ahead play was not waiting for its release")
    boundary, bound_epoch = time.monotonic(), time.time()
    split = (_tree_cpu(main), benchlib.self_cpu() - own0)
    verify = inject.then
    assert verify is not None
    verify.known.wait()
    ended = time.monotonic()
    pending.ended(timeout=60)  # its exit's CPU is the play's too
    whole = (benchlib.children_cpu() - tree0, benchlib.self_cpu() - own0)
    out.times["inject"], out.times["verify"] = boundary - started, ended - boundary
    out.windows["inject"] = (epoch, bound_epoch)
    out.windows["verify"] = (bound_epoch, bound_epoch + ended - boundary)
    out.cpu["inject"] = (split[0] - ahead[0], split[1] - ahead[1])
    out.cpu["verify"] = (whole[0] - split[0], whole[1] - split[1])
    _check("inject", inject)
    _check("verify", verify)
    _rollback(hosts, inv, work, run_id, out)
    return out


def _rollback(hosts: list[str], inv: Path, work: Path, run_id: str, out: Phases) -> None:
    started, epoch = time.monotonic(), time.time()
    tree, own = benchlib.children_cpu(), benchlib.self_cpu()
    result = runner.run_entry_points(
        role=ROLE,
        entry_points=["rollback", "verify"],
        hosts=hosts,
        variables=benchlib.role_vars(run_id, 120, "inactive"),
        inventory=inv,
        work_dir=work / run_id / "rollback",
    )
    out.times["rollback"] = time.monotonic() - started
    out.windows["rollback"] = (epoch, epoch + out.times["rollback"])
    out.cpu["rollback"] = (benchlib.children_cpu() - tree, benchlib.self_cpu() - own)
    _check("rollback", result)


def _check(name: str, result: runner.PlayResult) -> None:
    if not result.ok:
        raise RuntimeError(f"{name} failed: {result.status} {result.messages}")


def _wait_ready(pending: prestart.Pending, work_dir: Path) -> int:
    """The pid of the play's ansible-playbook, once it reads its release FIFO (start-up
    done: the engine's inject phase begins there)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    fifo = str(pending.fifo).encode()
    while time.monotonic() < deadline:
        mains = runner._children(os.getpid(), str(work_dir))
        if mains and any(fifo in runner._cmdline(p) for p in reaper.descendants(mains[0])):
            return mains[0]
        if pending.ended():
            raise RuntimeError(f"the inject play ended before its release ({work_dir})")
        time.sleep(0.05)
    raise RuntimeError(f"the inject play was not ready within {READY_TIMEOUT_S:.0f} s")


def _stat(pid: int) -> list[str]:
    """Fields of /proc/pid/stat after the command name; [] when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()
    except OSError:
        return []


def _tree_cpu(main: int) -> float:
    """CPU seconds of ansible-playbook `main` so far: its own, its reaped children's, and
    those of its children that ended but are not reaped yet (state Z)."""
    fields = _stat(main)
    if not fields:
        return 0.0
    # After the name: state is [0]; utime, stime, cutime, cstime are [11:15].
    ticks = sum(int(v) for v in fields[11:15])
    for child in runner._children(main):
        kid = _stat(child)
        with contextlib.suppress(IndexError, ValueError):
            if kid[0] == "Z":
                ticks += sum(int(v) for v in kid[11:15])
    return ticks / TICK
