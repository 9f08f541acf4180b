"""Fleet control: what is injected where (`status`), undo it (`recover`), stop a run (`abort`).

The hosts are the source of truth: every active fault has a state directory on its
host (run id, role, since, lease expiry, its ONE revert script). `status` reads them
with the collection's read-only listing module, so it works from any controller, with
the hosts' freeze markers (`chaosrun freeze -i`) beside them; `recover` runs each
orphaned fault's own revert script; `abort` asks a live run on this controller to roll
back (an abort request in its run directory, then SIGTERM).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shlex
import signal
import socket
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chaosrun import audit, liveness, safety
from chaosrun.config import Config
from chaosrun.errors import ChaosrunError, InvalidInput, Refused
from chaosrun.hostlayout import LEASE, META, STATE_DIR, active_root, frozen_marker

LIST_MODULE = "chaosrun.chaos.fault_status"


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


def controller_id(pid: int | None = None) -> str:
    """How a run names its controller on the host: user@host:pid."""
    who = audit.who()
    return f"{who['user']}@{who['host']}:{pid or os.getpid()}"


def controller_alive(controller: str, run_dir: Path, run_id: str) -> bool | None:
    """Whether the controller of a run lives: known for this machine, None for others."""
    host, pid = _parse_controller(controller)
    if host is None:
        journal = _journal(run_dir, run_id)
        owner = (journal or {}).get("controller") or {}
        if owner.get("host") == socket.gethostname():
            return journal.get("status") == "running" and safety.pid_alive(owner.get("pid"))
        return None
    if host != socket.gethostname():
        return None
    return safety.pid_alive(pid)


def _parse_controller(controller: str) -> tuple[str | None, int | None]:
    # user@host:pid, as written by controller_id(); anything else (an SSH client address)
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
    if _module_installed():
        answers = _adhoc(inventory, pattern, LIST_MODULE, {"state_dir": state_dir})
    else:
        answers = _list_with_shell(inventory, pattern, state_dir)
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
    """Runs of this controller machine whose controller died mid-run (chaosrun.liveness),
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


def _module_installed() -> bool:
    from chaosrun import collection

    found = collection.find()
    module = LIST_MODULE.split(".")[-1]
    return found is not None and (found.path / "plugins" / "modules" / f"{module}.py").is_file()


# Read-only: one line per fault, "<lease expiry>\t<meta.json on one line>", and for a
# frozen host "FROZEN\t<the marker's first line>" and "FROZEN_JSON\t<its JSON line>".
_LIST_SCRIPT = """m={marker}
if [ -e "$m" ]; then
  printf 'FROZEN\t%s\n' "$(head -n 1 "$m")"; printf 'FROZEN_JSON\t%s\n' "$(tail -n 1 "$m")"
fi
d={active}
for f in "$d"/*/*/{meta}; do
  [ -f "$f" ] || continue
  run=$(basename "$(dirname "$(dirname "$f")")")
  printf '%s\t' "$(cat "$d/$run/{lease}" 2>/dev/null)"
  tr -d '\n' < "$f"; echo
done"""


def _list_with_shell(
    inventory: Path, pattern: str, state_dir: str
) -> dict[str, tuple[bool, dict[str, Any]]]:
    """The same answer as the listing module, read with a read-only shell script (for a
    collection without the module)."""
    script = _LIST_SCRIPT.format(
        marker=shlex.quote(frozen_marker(state_dir)),
        active=shlex.quote(active_root(state_dir)),
        meta=META,
        lease=LEASE,
    )
    answers = _adhoc(inventory, pattern, "ansible.builtin.shell", {"cmd": script})
    for host, (ok, res) in list(answers.items()):
        if not ok:
            continue
        faults = []
        frozen: dict[str, Any] | None = None
        for line in str(res.get("stdout", "")).splitlines():
            lease, _, meta = line.partition("\t")
            if lease == "FROZEN":
                frozen = {**(frozen or {}), "line": meta}
                continue
            if lease == "FROZEN_JSON":
                with contextlib.suppress(ValueError, TypeError):
                    frozen = {**dict(json.loads(meta)), **(frozen or {})}
                continue
            try:
                item = json.loads(meta)
            except ValueError:
                continue
            if lease.strip().isdigit():
                item["lease_expires_at"] = int(lease)
            faults.append(item)
        answers[host] = (True, {"faults": faults, "frozen": frozen})
    return answers


def recover(
    config: Config,
    inventory: Path,
    run_id: str | None,
    everything: bool,
    state_dir: str = STATE_DIR,
) -> tuple[list[Fault], dict[str, str], list[HostProblem]]:
    """Run the revert script of every orphaned fault (of `run_id`, or all of them).
    Returns the faults acted on, host/role -> outcome, and hosts that did not answer."""
    if bool(run_id) == everything:
        raise InvalidInput("recover: give exactly one of --run ID or --all")
    faults, problems = list_faults(config, inventory, state_dir=state_dir)
    chosen = [f for f in faults if everything or f.run_id == run_id]
    live = sorted({f.run_id for f in chosen if not f.orphaned})
    if run_id and live:
        raise Refused(
            f"run {run_id} is alive and renews its faults; stop it with `chaosrun abort {run_id}`"
        )
    chosen = [f for f in chosen if f.orphaned]
    outcomes: dict[str, str] = {}
    by_host: dict[str, list[Fault]] = {}
    for fault in chosen:
        by_host.setdefault(fault.host, []).append(fault)
    if by_host:
        script = {
            host: " ; ".join(_recover_script(f) for f in items) for host, items in by_host.items()
        }
        answers = _adhoc_scripts(inventory, script)
        for host, items in by_host.items():
            _ok, res = answers.get(host, (False, {"msg": "no answer"}))
            out = str(res.get("stdout", ""))
            for fault in items:
                done = f"REVERTED:{fault.role}" in out
                outcomes[f"{host}/{fault.role}"] = "reverted" if done else _message(res)
    failed = sum(1 for v in outcomes.values() if v != "reverted")
    entry = audit.record(
        config.audit_path,
        "recover",
        "failed" if failed else ("recovered" if outcomes else "nothing_to_recover"),
        run_id=run_id,
        targets=sorted(by_host),
        faults=outcomes,
        skipped_live_runs=live,
    )
    if outcomes:
        audit.announce(config.webhooks, "recover", entry)
    return chosen, outcomes, problems


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
    if journal.get("status") != "running" or not safety.pid_alive(pid):
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


def _adhoc(
    inventory: Path, pattern: str, module: str, args: dict[str, Any]
) -> dict[str, tuple[bool, dict[str, Any]]]:
    """Run one module on a host pattern in parallel: host -> (ok, result)."""
    import ansible_runner

    from chaosrun.runner import forks_args, playbook_args, runner_env

    answers: dict[str, tuple[bool, dict[str, Any]]] = {}

    def handle(event: dict[str, Any]) -> bool:
        data = event.get("event_data") or {}
        host, res = data.get("host"), data.get("res") or {}
        kind = event.get("event")
        if host and kind == "runner_on_ok":
            answers[host] = (True, res)
        elif host and kind in ("runner_on_failed", "runner_on_unreachable"):
            answers[host] = (False, res)
        return True

    if not inventory.exists():
        raise InvalidInput(f"{inventory}: inventory not found")
    with tempfile.TemporaryDirectory(prefix="chaosrun-fleet-") as work:
        run = ansible_runner.run(
            private_data_dir=work,
            host_pattern=pattern,
            module=module,
            module_args=json.dumps(args) if args else "",
            inventory=str(inventory.resolve()),
            envvars=runner_env(),
            event_handler=handle,
            quiet=True,
            suppress_env_files=True,
            cmdline=playbook_args(*forks_args(50)),
        )
        if not answers and run.rc not in (0, None):
            tail = run.stdout.read()[-500:] if run.stdout else ""
            raise ChaosrunError(f"could not run {module} on '{pattern}': {tail.strip()}")
    return answers


def _adhoc_scripts(
    inventory: Path, scripts: dict[str, str]
) -> dict[str, tuple[bool, dict[str, Any]]]:
    """Run a per-host shell script (one ansible run, hosts in parallel)."""
    # One script for all hosts keyed by inventory_hostname keeps it one parallel run.
    cases = " ".join(f"{shlex.quote(h)}) {s} ;;" for h, s in scripts.items())
    command = f'case "$CHAOSRUN_HOST" in {cases} esac'
    args = {"cmd": command}
    pattern = ":".join(scripts)
    return _adhoc_env(inventory, pattern, args)


def _adhoc_env(
    inventory: Path, pattern: str, args: dict[str, Any]
) -> dict[str, tuple[bool, dict[str, Any]]]:
    wrapped = dict(args)
    wrapped["cmd"] = "CHAOSRUN_HOST={{ inventory_hostname | quote }}; " + args["cmd"]
    return _adhoc(inventory, pattern, "ansible.builtin.shell", wrapped)


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
