"""Fleet control: what is injected where (`status`), undo it (`recover`), stop a run (`abort`).

The hosts are the source of truth: every active fault has a state directory on its
host (run id, role, since, lease expiry, its ONE revert script). `status` reads them
with a read-only script (what the collection's `fault_status` module reports, for
playbooks), so it works from any controller, with the hosts' freeze markers (`chaosrun
freeze -i`) beside them; `recover` ends each orphaned run's steps still running on a
host (a hung inject of a dead controller), then runs its faults' own revert scripts. Both
reach every host at once over one SSH connection each (chaosrun.hosts.hostshell, as Ansible
reaches the host): no ansible-playbook start. `abort` asks a live run on this controller
to roll back (an abort request in its run directory, then SIGTERM).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shlex
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chaosrun.base import liveness
from chaosrun.base.errors import InvalidInput, Refused
from chaosrun.base.hostlayout import (
    LEASE,
    META,
    REVERT,
    STATE_DIR,
    active_root,
    fault_dir,
    frozen_marker,
)
from chaosrun.hosts import artifacts
from chaosrun.hosts.hostshell import (
    STEP_ENDED,
    Answer,
    HostShell,
    end_run_script,
    run_all_twice,
    stop_steps_script,
)
from chaosrun.hosts.inventory import load_inventory
from chaosrun.model import audit, safety
from chaosrun.model.config import Config

LIST_TIMEOUT_S = 30.0
REVERT_TIMEOUT_S = 120.0  # a revert script may restart services
CONNECTION_PERSIST_S = 60


@dataclass
class Fault:
    """One active fault on one host."""

    host: str
    run_id: str
    role: str
    since: float | None
    armed_until: float | None  # the lease expiry (epoch seconds, the host's clock)
    controller: str
    controller_alive: bool | None  # None: the controller is another machine, unknown
    revert_script: str
    expired: bool | None = None  # the lease ran out, by the host's own clock

    @property
    def orphaned(self) -> bool:
        """No live controller renews it: recover may undo it."""
        if self.controller_alive is not None:
            return not self.controller_alive
        if self.expired is not None:
            return self.expired
        return self.armed_until is not None and self.armed_until < time.time()

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"] = _iso(self.since)
        data["armed_until"] = _iso(self.armed_until)
        data["orphaned"] = self.orphaned
        return data


@dataclass
class HostProblem:
    host: str
    message: str


def controller_alive(controller: str, run_dir: Path, run_id: str) -> bool | None:
    """Whether the controller of a run lives: known for this machine, None for others.
    A pid alone does not prove it: the run's journal says when its controller's pid
    started (chaosrun.base.liveness), so a process that took the pid since is not it."""
    host, pid = _parse_controller(controller)
    journal = _journal(run_dir, run_id) or {}
    owner = journal.get("controller") or {}
    if host is None:
        if owner.get("host") == socket.gethostname():
            return journal.get("status") == "running" and _lives(owner)
        return None
    if host != socket.gethostname():
        return None
    if owner.get("host") == host and owner.get("pid") == pid:
        return _lives(owner)
    return safety.pid_alive(pid)


def _lives(owner: dict[str, Any]) -> bool:
    """The journal's controller is this machine's live process (not one that took its pid)."""
    return safety.pid_alive(owner.get("pid")) and liveness.gone(owner) is None


def _parse_controller(controller: str) -> tuple[str | None, int | None]:
    # user@host:pid, as written by audit.controller_id(); anything else (an SSH client address)
    # cannot tell a process.
    if "@" not in controller or ":" not in controller:
        return None, None
    host_pid = controller.split("@", 1)[1]
    host, _, pid = host_pid.rpartition(":")
    return (host, int(pid)) if pid.isdigit() else (None, None)


def _journal(run_dir: Path, run_id: str) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / run_id / "journal.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass
class Survey:
    """What the hosts hold: active faults, freeze markers, and who did not answer."""

    faults: list[Fault]
    problems: list[HostProblem]
    frozen: dict[str, dict[str, Any]]  # host -> its freeze marker (reason, at, user, host, line)


def list_faults(
    config: Config, inventory: Path, pattern: str = "all", state_dir: str = STATE_DIR
) -> tuple[list[Fault], list[HostProblem]]:
    """Every active fault on the hosts matching `pattern`, read from the hosts."""
    found = survey(config, inventory, pattern, state_dir)
    return found.faults, found.problems


def survey(
    config: Config, inventory: Path, pattern: str = "all", state_dir: str = STATE_DIR
) -> Survey:
    """The faults and freeze markers on the hosts matching `pattern`, read from the hosts."""
    with _fleet(inventory, pattern) as shell:
        return _survey(config, shell, state_dir)


def _survey(config: Config, shell: HostShell, state_dir: str) -> Survey:
    answers = _listings(shell, state_dir)
    faults: list[Fault] = []
    problems: list[HostProblem] = []
    frozen: dict[str, dict[str, Any]] = {}
    for host, (ok, res) in sorted(answers.items()):
        if not ok:
            problems.append(HostProblem(host, _message(res)))
            continue
        if isinstance(res.get("frozen"), dict):
            frozen[host] = res["frozen"]
        for item in res.get("faults") or []:
            run_id = str(item.get("run_id", "?"))
            controller = str(item.get("controller") or "")
            faults.append(
                Fault(
                    host=host,
                    run_id=run_id,
                    role=str(item.get("role", "?")),
                    since=_number(item.get("since")),
                    armed_until=_number(item.get("lease_expires_at", item.get("expires_at"))),
                    controller=controller,
                    controller_alive=controller_alive(controller, config.run_dir, run_id),
                    revert_script=str(item.get("revert_script") or ""),
                    expired=item.get("expired") if isinstance(item.get("expired"), bool) else None,
                )
            )
    return Survey(faults, problems, frozen)


CRASHED_SHOWN_S = 86400  # status lists crashed runs this recent (or with faults left)


def crashed_runs(config: Config, faults: list[Fault]) -> list[dict[str, Any]]:
    """Runs of this controller machine whose controller died mid-run (chaosrun.base.liveness),
    with what the hosts say of their faults: which hosts still hold one (orphaned, for
    `recover`), else none left (their dead-man leases reverted them)."""
    found = []
    for path in sorted(config.run_dir.glob("*/journal.json")) if config.run_dir.is_dir() else []:
        journal = _journal(config.run_dir, path.parent.name)
        if not journal or liveness.classify(journal).get("status") != liveness.CRASHED:
            continue
        run_id = str(journal.get("run_id") or path.parent.name)
        left = sorted({f.host for f in faults if f.run_id == run_id})
        started = _started(journal)
        if not left and (started is None or time.time() - started > CRASHED_SHOWN_S):
            continue
        found.append(
            {
                "run_id": run_id,
                "reason": journal["crashed"]["reason"],
                "started_at": journal.get("started_at"),
                "targets": (journal.get("targets") or {}).get("selected") or [],
                "faults_left_on": left,
            }
        )
    return found


def _started(journal: dict[str, Any]) -> float | None:
    try:
        return dt.datetime.fromisoformat(str(journal.get("started_at"))).timestamp()
    except ValueError:
        return None


@contextlib.contextmanager
def _fleet(inventory: Path, pattern: str) -> Iterator[HostShell]:
    """One SSH connection to each host matching the pattern. As Ansible's ControlPersist
    does, the connections outlive the command for a minute, so that the next `status` (an
    operator polls it during an incident) costs no handshake; their sockets are status's
    and recover's own, never a run's."""
    if not inventory.exists():
        raise InvalidInput(f"{inventory}: inventory not found")
    inv = load_inventory(str(inventory.resolve()))
    names = inv.match(pattern)
    shell = HostShell(
        [inv.host_info(n) for n in names], persist=CONNECTION_PERSIST_S, control="s", shells=False
    )
    try:
        yield shell
    finally:
        shell.close(keep_connections=True)


def _connected(answer: Answer) -> bool:
    """Whether the script ran on the host (not: no connection, exit 255 or no answer)."""
    return answer.rc != 255 and answer.rc >= 0


# Read-only, what the collection's fault_status module reports: the host's clock, the
# freeze marker ("FROZEN\t<its first line>", "FROZEN_JSON\t<its last line>") and per fault
# "FAULT\t<run>\t<role>\t<lease expiry>\t<meta.json on one line>".
_LIST_SCRIPT = """m={marker}
printf 'NOW\t%s\n' "$(date +%s)"
if [ -e "$m" ]; then
  printf 'FROZEN\t%s\n' "$(head -n 1 "$m")"; printf 'FROZEN_JSON\t%s\n' "$(tail -n 1 "$m")"
fi
d={active}
for f in "$d"/*/*/; do
  [ -d "$f" ] || continue
  f=${{f%/}}; role=${{f##*/}}; run=${{f%/*}}; run=${{run##*/}}
  printf 'FAULT\t%s\t%s\t%s\t' "$run" "$role" "$(cat "$d/$run/{lease}" 2>/dev/null)"
  tr -d '\n' < "$f/{meta}" 2>/dev/null; echo
done
exit 0"""


def list_script(state_dir: str) -> str:
    """The read-only listing a host runs for `status` and `recover`."""
    root = state_dir.rstrip("/") or "/"
    return _LIST_SCRIPT.format(
        marker=shlex.quote(frozen_marker(root)),
        active=shlex.quote(active_root(root)),
        lease=LEASE,
        meta=META,
    )


def _listings(shell: HostShell, state_dir: str) -> dict[str, tuple[bool, dict[str, Any]]]:
    script = list_script(state_dir)
    answers = run_all_twice(shell, dict.fromkeys(shell.hosts, script), LIST_TIMEOUT_S, _connected)
    return {
        host: (True, parse_listing(a.out, state_dir))
        if a.rc == 0
        else (False, {"msg": a.out or f"exit {a.rc}"})
        for host, a in answers.items()
    }


def parse_listing(out: str, state_dir: str) -> dict[str, Any]:
    """A host's listing as the fault_status module answers it: faults and freeze marker."""
    now: int | None = None
    frozen: dict[str, Any] | None = None
    faults = []
    for line in out.splitlines():
        kind, _, rest = line.partition("\t")
        if kind == "NOW" and rest.strip().isdigit():
            now = int(rest)
        elif kind == "FROZEN":
            frozen = {**(frozen or {}), "line": rest}
        elif kind == "FROZEN_JSON":
            with contextlib.suppress(ValueError, TypeError):
                frozen = {**dict(json.loads(rest)), **(frozen or {})}
        elif kind == "FAULT" and rest.count("\t") >= 3:
            faults.append(_listed_fault(rest.split("\t", 3), now, state_dir))
    return {"faults": faults, "frozen": frozen}


def _listed_fault(fields: list[str], now: int | None, state_dir: str) -> dict[str, Any]:
    run, role, lease, meta_text = fields
    try:
        meta = json.loads(meta_text)
    except ValueError:
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    expires = int(lease) if lease.strip().isdigit() else _number(meta.get("expires_at"))
    return {
        "run_id": run,
        "role": role,
        "since": meta.get("since"),
        "expires_at": expires,
        "expired": None if now is None or expires is None else now >= expires,
        "controller": meta.get("controller"),
        # Whether it exists is the recover script's question (none: a failed inject's
        # directory, removed as the role's rollback does).
        "revert_script": f"{fault_dir(state_dir, run, role)}/{REVERT}",
    }


@dataclass
class Recovery:
    """What `recover` did: the faults acted on, host/role -> outcome ("reverted" or why
    not), the hosts that did not answer, and per host the runs whose steps still running
    there it ended (a hung inject of a dead controller)."""

    faults: list[Fault]
    outcomes: dict[str, str]
    problems: list[HostProblem]
    steps_ended: dict[str, list[str]]


def recover(
    config: Config,
    inventory: Path,
    run_id: str | None,
    everything: bool,
    state_dir: str = STATE_DIR,
) -> Recovery:
    """End the steps still running on the hosts of every orphaned run chosen (of `run_id`,
    or all of them), run its faults' revert scripts, and cut what a killed controller left
    in its run's directory (chaosrun.hosts.artifacts)."""
    if bool(run_id) == everything:
        raise InvalidInput("recover: give exactly one of --run ID or --all")
    with _fleet(inventory, "all") as shell:
        found = _survey(config, shell, state_dir)
        done, live = _recover_on(shell, found, run_id, everything, state_dir)
    swept = artifacts.sweep_ended(config.run_dir)
    failed = sum(1 for v in done.outcomes.values() if v != "reverted")
    targets = sorted({f.host for f in done.faults})
    entry = audit.record(
        config.audit_path,
        "recover",
        "failed" if failed else ("recovered" if done.outcomes else "nothing_to_recover"),
        run_id=run_id,
        targets=targets,
        faults=done.outcomes,
        steps_ended=done.steps_ended,
        skipped_live_runs=live,
        swept_runs=sorted(swept),
    )
    if done.outcomes:
        audit.announce(config.webhooks, "recover", entry)
    done.problems = found.problems
    return done


# Heads each run's part of a host's recover script: its index among the host's runs, so
# the steps ended below it are that run's.
_RUN_HEAD = "chaosrun-recover-run"


def _recover_on(
    shell: HostShell, found: Survey, run_id: str | None, everything: bool, state_dir: str
) -> tuple[Recovery, list[str]]:
    """Revert the chosen orphaned faults, every host at once: what was done, and the live
    runs left alone. On each host, each run recovered there first has its steps still
    running ended (stop_steps_script: its controller is dead, so none of them is wanted; a
    hung apply would hold the locks the revert waits for, and could apply after it), then
    is marked ended, as a rollback does: an inject of it still under way cannot arm after."""
    chosen = [f for f in found.faults if everything or f.run_id == run_id]
    live = sorted({f.run_id for f in chosen if not f.orphaned})
    if run_id and live:
        raise Refused(
            f"run {run_id} is alive and renews its faults; stop it with `chaosrun abort {run_id}`"
        )
    chosen = [f for f in chosen if f.orphaned]
    by_host: dict[str, list[Fault]] = {}
    for fault in chosen:
        by_host.setdefault(fault.host, []).append(fault)
    runs = {h: sorted({f.run_id for f in items}) for h, items in by_host.items()}
    scripts = {
        h: "".join(f"echo {_RUN_HEAD} {i}; {stop_steps_script(r)}" for i, r in enumerate(runs[h]))
        + end_run_script(state_dir, runs[h], "recover")
        + " ; ".join(_recover_script(f) for f in items)
        for h, items in by_host.items()
    }
    # Not asked twice: a revert script that ran once is not run again behind the user's back.
    answers = shell.run_all(scripts, REVERT_TIMEOUT_S)
    outcomes: dict[str, str] = {}
    steps_ended: dict[str, list[str]] = {}
    for host, items in by_host.items():
        answer = answers[host]
        for fault in items:
            done = f"REVERTED:{fault.role}" in answer.out
            outcomes[f"{host}/{fault.role}"] = "reverted" if done else _last_line(answer)
        ended = _steps_ended(answer.out, runs[host])
        if ended:
            steps_ended[host] = ended
    return Recovery(chosen, outcomes, [], steps_ended), live


def _steps_ended(out: str, runs: list[str]) -> list[str]:
    """The runs (of `runs`, in the script's order) whose part of the output says a step of
    theirs was ended."""
    ended: list[str] = []
    current: str | None = None
    for line in out.splitlines():
        head, _, index = line.partition(" ")
        if head == _RUN_HEAD and index.isdigit() and int(index) < len(runs):
            current = runs[int(index)]
        elif STEP_ENDED in line and current is not None and current not in ended:
            ended.append(current)
    return ended


def _last_line(answer: Any) -> str:
    text = str(answer.out).strip()
    return text.splitlines()[-1][:300] if text else f"failed (exit {answer.rc})"


def _recover_script(fault: Fault) -> str:
    """Run the fault's revert script; a fault directory without one is what a failed
    inject leaves (nothing was applied): remove it, as the role's rollback does."""
    if not fault.revert_script.startswith("/"):
        return f"echo 'no revert script known for {fault.role}'"
    script = shlex.quote(fault.revert_script)
    directory = shlex.quote(os.path.dirname(fault.revert_script))
    return (
        f"if [ -f {script} ]; then /bin/sh {script} recover && echo REVERTED:{fault.role}; "
        f'else rm -rf {directory}; rmdir "$(dirname {directory})" 2>/dev/null; '
        f"echo REVERTED:{fault.role}; fi"
    )


def abort(config: Config, run_id: str, reason: str) -> int:
    """Ask a live run to roll back: write the abort request, then SIGTERM its process.
    Returns the pid signalled."""
    run_path = config.run_dir / run_id
    journal = _journal(config.run_dir, run_id)
    if journal is None:
        raise InvalidInput(f"abort: no run {run_id!r} in {config.run_dir}")
    controller = journal.get("controller") or {}
    pid = controller.get("pid")
    # A crashed run's pid may be another process's by now: never signal that one.
    if journal.get("status") != "running" or not _lives(controller):
        raise Refused(
            f"abort: run {run_id} is not running (status {journal.get('status')}); "
            f"for faults it left on hosts use `chaosrun recover --run {run_id}`"
        )
    if controller.get("host") != socket.gethostname():
        raise Refused(f"abort: run {run_id} runs on {controller.get('host')}, not here")
    request = {**audit.who(), "at": audit.now_iso(), "reason": reason}
    tmp = run_path / f".{safety.ABORT_FILE}.tmp"
    tmp.write_text(json.dumps(request) + "\n", encoding="utf-8")
    os.replace(tmp, run_path / safety.ABORT_FILE)
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(pid), signal.SIGTERM)
    audit.record(
        config.audit_path,
        "abort",
        "requested",
        run_id=run_id,
        experiment=(journal.get("experiment") or {}).get("file"),
        targets=(journal.get("targets") or {}).get("selected"),
        reason=reason,
        pid=int(pid),
    )
    return int(pid)


def _message(res: dict[str, Any]) -> str:
    text = res.get("msg") or res.get("stderr") or res.get("stdout") or "failed"
    return str(text).strip().splitlines()[-1][:300] if str(text).strip() else "failed"


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
