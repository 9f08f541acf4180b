"""ansible-runner adapter: one parallel run of fault-role entry points, with live events.

`run_entry_points` runs playbooks/fault.yml on every selected host at once; the role's
entry points (inject + verify, or rollback + verify) run in sequence inside that one
ansible-playbook process. A play's result is known at its `playbook_on_stats` event: the
caller goes on from there while ansible-playbook exits and ansible-runner writes its
artifacts in the background (`Finishing` holds those tails for the run's end, which waits
a little for them; chaosrun.run.reaper ends any still exiting, and every process with the
run). Vault values stay ciphertext in the vars file Ansible reads; that file and Ansible's
local temporary files live in the run's own directory (0600/0700, never the system temp
dir, so a killed controller leaves nothing there), the vars file is removed at the play's
stats (Ansible read it at its start). `run_fault_play` is the run itself, shared with
chaosrun.run.prestart (a play started ahead of its phase).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chaosrun.base import filemodes, paths, secrets
from chaosrun.base.usertext import UnsafeDumper
from chaosrun.base.yamlpos import VaultValue
from chaosrun.hosts import ansiblecfg, artifacts, collection

EventSink = Callable[[str, str, str], None]  # (host, status, task)
FAILED = ("runner_on_failed", "runner_on_unreachable", "runner_item_on_failed")
# The events that end a host's task (an item's failure does not: the task goes on).
TASK_ENDS = ("runner_on_ok", "runner_on_skipped", "runner_on_failed", "runner_on_unreachable")
# A host's state in a play canceled while it was still in a task.
UNFINISHED = "unfinished"
# The last play of playbooks/fault.yml: the entry points released to follow the first ones
# start there, so its start ends the first stage's events (`PlayResult.then`).
NEXT_STAGE_PLAY = "Run the entry points that follow"


@dataclass
class PlayResult:
    status: str
    rc: int
    hosts: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    # Set once the result is final: at the play's stats event, or when its process ended.
    known: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    # ansible-runner's own status and rc once the process ended (after `known`).
    exited: tuple[str, int] | None = None
    # The next stage of the same play (the entry points released to follow these), known
    # later; its events go to its own `on_event` when it has one.
    then: PlayResult | None = field(default=None, repr=False, compare=False)
    on_event: EventSink | None = field(default=None, repr=False, compare=False)
    # Host -> the task it started and has not finished: what a canceled play was waiting on.
    busy: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "successful" and all(v == "ok" for v in self.hosts.values())

    def settle(self, cut: bool = False) -> None:
        """After the run: hosts that only ever reported success are ok; when the process
        was `cut` (canceled, or it died) before its stats, those still in a task are
        `unfinished`."""
        for host, state in self.hosts.items():
            if cut and host in self.busy and state in ("running", "not run"):
                self.hosts[host] = UNFINISHED
            elif state == "running":
                self.hosts[host] = "ok"

    def failed_hosts(self) -> list[str]:
        return [h for h, v in self.hosts.items() if v != "ok"]

    def conclude(self, stats: dict[str, Any]) -> None:
        """The play's stats event: the result as ansible-playbook's exit will give it (rc 4
        for an unreachable host, 2 for a failed one), without waiting for that exit."""
        if self.known.is_set():
            return
        dark, failures = stats.get("dark") or {}, stats.get("failures") or {}
        self._finish(4 if dark else 2 if failures else 0)

    def _finish(self, rc: int) -> None:
        """Known with ansible-playbook's rc (4 unreachable, 2 failed, 0 successful)."""
        self.rc = rc
        self.status = "failed" if rc else "successful"
        self.settle()
        self.known.set()

    def end_stage(self) -> PlayResult:
        """The next stage's play starts: every host of this stage is done. Its result from
        its hosts' own events; the next stage's, on the hosts where it succeeded."""
        self.settle()
        states = set(self.hosts.values())
        self._finish(4 if "unreachable" in states else 2 if states - {"ok"} else 0)
        nxt = self.then
        assert nxt is not None
        nxt.hosts = {h: "not run" for h, s in self.hosts.items() if s == "ok"}
        return nxt

    def exit(self, status: str, rc: int) -> None:
        """The process ended: its status is the result's unless the stats gave it first
        (and that of every stage still unknown: a canceled play cancels them all)."""
        for stage in self.stages():
            stage.exited = (status, rc)
            if not stage.known.is_set():
                stage.status, stage.rc = status, rc
                stage.settle(cut=True)
            stage.known.set()

    def stages(self) -> list[PlayResult]:
        """This result and the stages that follow it."""
        found: list[PlayResult] = []
        stage: PlayResult | None = self
        while stage is not None:
            found.append(stage)
            stage = stage.then
        return found


class Background:
    """One fault play run in a thread of its own; `wait` returns once its result is known."""

    def __init__(self, name: str, play: dict[str, Any]) -> None:
        self.result: PlayResult = play["result"]
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(play,), name=name, daemon=True)
        self.thread.start()

    def _run(self, play: dict[str, Any]) -> None:
        try:
            run_fault_play(**play)
        except BaseException as exc:  # re-raised by wait() in the caller's thread
            self.error = exc
        finally:
            for stage in self.result.stages():
                stage.known.set()

    def wait(self) -> PlayResult:
        self.result.known.wait()
        if self.error is not None:
            raise self.error
        return self.result


class Finishing:
    """The plays of one run whose result is known and whose process may still be ending."""

    def __init__(self) -> None:
        self._plays: list[Background] = []
        self._lock = threading.Lock()

    def add(self, play: Background) -> Background:
        with self._lock:
            self._plays.append(play)
        return play

    def wait(self, timeout: float) -> list[Background]:
        """Wait for every play's process to end (`timeout` in all); those still running."""
        deadline = time.monotonic() + timeout
        with self._lock:
            plays = list(self._plays)
        for play in plays:
            play.thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._plays = [p for p in self._plays if p.thread.is_alive()]
            return list(self._plays)


def fault_playbook() -> Path:
    return paths.fault_playbook()


# fault.yml runs each entry point as a play of its own, in this order (and verify again
# in its last play, the one stage that may follow).
ENTRY_POINT_ORDER = ("rollback", "inject", "verify")


def check_entry_points(entry_points: Sequence[str], then: Sequence[str] = ()) -> None:
    """Refuse what fault.yml cannot run: entry points out of ENTRY_POINT_ORDER, or a stage
    to follow that is not verify alone (a bug of the caller, never of the user)."""
    ordered = [e for e in ENTRY_POINT_ORDER if e in entry_points]
    if list(entry_points) != ordered or list(then) not in ([], ["verify"]):
        raise ValueError(f"fault.yml cannot run {list(entry_points)} then {list(then)}")


PLAYBOOK_MAIN = "chaosrun.hosts.playbook_main"


def fault_playbook_command(cmdline: str) -> dict[str, str]:
    """ansible_runner.run's arguments that start fault.yml: Ansible's ansible-playbook run
    by chaosrun.hosts.playbook_main, which keeps compiled templates across the play's
    workers; plain ansible-playbook when CHAOSRUN_TEMPLATE_CACHE=0."""
    playbook = str(fault_playbook())
    if os.environ.get("CHAOSRUN_TEMPLATE_CACHE", "1") == "0":
        return {"cmdline": cmdline, "playbook": playbook}
    # With `binary`, ansible-runner runs that program with the cmdline as given (its "raw"
    # mode) and adds the inventory and extra arguments, not the playbook.
    main = f"-m {PLAYBOOK_MAIN} {cmdline} {shlex.quote(playbook)}"
    return {"binary": sys.executable, "cmdline": main, "playbook": playbook}


def runner_env() -> dict[str, str]:
    """What ansible-playbook needs from the engine, added to the user's own setup: the
    collection roots are the user's plus the bundled copy's, this venv's tools. The
    ansible.cfg is the one Ansible picks from where chaosrun runs (ansible-runner starts
    ansible-playbook in the run's directory, where Ansible would find none), and host key
    checking is the user's (ansible-runner would turn it off)."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    env = {
        "ANSIBLE_COLLECTIONS_PATH": collection.ansible_paths(),
        "ANSIBLE_HOST_KEY_CHECKING": str(bool(ansiblecfg.setting("HOST_KEY_CHECKING"))),
        "PATH": path if path.startswith(bin_dir) else f"{bin_dir}:{path}",
        "ANSIBLE_NOCOLOR": "1",
    }
    cfg = ansiblecfg.config_file()
    if cfg is not None:
        env["ANSIBLE_CONFIG"] = str(cfg)
    return env


def ansible_cwd() -> str:
    """Where ansible-playbook runs: where chaosrun was started, as plain Ansible would from
    the team's repository (ansible-runner's default, the run's directory, breaks relative
    paths the ssh client reads, such as `-F ssh_config` in ssh_args). ansible-runner
    honours it for playbooks only, so command probes run a play too."""
    return os.getcwd()


def playbook_args(*args: str) -> str:
    """ansible-playbook's extra arguments, with the vault ids the user gave chaosrun."""
    return shlex.join([*args, *secrets.vault_args()])


def forks_args(hosts: int) -> list[str]:
    """Every selected host at once (a fault lands on all of them together), unless the
    user's Ansible configuration sets forks: then theirs holds."""
    return [] if ansiblecfg.is_set("DEFAULT_FORKS") else ["--forks", str(forks(hosts))]


def forks(hosts: int) -> int:
    """How many of `hosts` a fault play runs a task on at once (forks_args)."""
    if ansiblecfg.is_set("DEFAULT_FORKS"):
        return max(1, int(ansiblecfg.setting("DEFAULT_FORKS") or 1))
    return max(5, hosts)


def _vault_representer(dumper: yaml.SafeDumper, value: VaultValue) -> yaml.Node:
    return dumper.represent_scalar("!vault", value.ciphertext, style="|")


class _VarsDumper(UnsafeDumper):
    """Every string the engine hands to the role is data (chaosrun.base.usertext)."""


_VarsDumper.add_representer(VaultValue, _vault_representer)


@contextlib.contextmanager
def play_inputs(
    work_dir: Path,
    extra: Mapping[str, Any],
    *,
    prefix: str,
    local_tmp: Path | None = None,
    args: Sequence[str] = (),
    needs: Collection[str] = (),
) -> Iterator[tuple[str, dict[str, Any]]]:
    """What every play chaosrun starts has in common: its extra vars in a private file of
    the run's directory (gone when the play ended, if not before), ansible-playbook started
    where chaosrun was (ansible_cwd) with the project's settings (runner_env), the user's
    vault ids and `args`, quiet, and without the variables that hold the project's secrets
    (secrets.secret_env), but for those it `needs` (a drill step's probe modules read the
    Prometheus password on the controller). Yields that file's path and ansible_runner.run's
    arguments; on the way out, the environment record ansible-runner kept is cut to the
    play's own."""
    envvars = runner_env()
    if local_tmp is not None:
        envvars["ANSIBLE_LOCAL_TEMP"] = str(local_tmp)
    fd, vars_path = tempfile.mkstemp(prefix=prefix, suffix=VARS_SUFFIX, dir=work_dir)
    try:
        with os.fdopen(fd, "w") as fh:
            yaml.dump(dict(extra), fh, Dumper=_VarsDumper)
        yield (
            vars_path,
            {
                "private_data_dir": str(work_dir),
                "project_dir": ansible_cwd(),
                "cmdline": playbook_args("-e", f"@{vars_path}", *args),
                "envvars": envvars,
                "status_handler": without_env(secrets.secret_env() - set(needs)),
                "quiet": True,
                "suppress_env_files": True,
            },
        )
    finally:
        _unlink(vars_path)
        # A started-ahead play's role vars (chaosrun.run.prestart) go with its extra vars.
        if extra.get("chaos_release_vars"):
            _unlink(str(extra["chaos_release_vars"]))
        artifacts.keep_own_env(work_dir, envvars)


# Every play's extra vars file ends so: chaosrun.hosts.artifacts finds those a killed
# controller left behind.
VARS_SUFFIX = artifacts.VARS_SUFFIX


def write_vars(path: Path, variables: Mapping[str, Any]) -> None:
    """`variables` as a private vars file at `path` (a started-ahead play's release: its
    plays read it when they start; gone when the play ended, as its extra vars are)."""
    tmp = path.with_name(f".new-{path.name}")  # a sweep finds it too (VARS_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.dump(dict(variables), fh, Dumper=_VarsDumper)
    os.replace(tmp, path)


def without_env(names: Collection[str]) -> Callable[..., None]:
    """ansible-runner's status handler that takes `names` out of the play's environment.
    ansible-runner copies the whole of chaosrun's into its config and calls this with that
    config at `starting`, before it records the environment and starts ansible-playbook."""

    def handler(status: Mapping[str, Any], runner_config: Any = None) -> None:
        if status.get("status") == "starting" and runner_config is not None:
            for name in names:
                runner_config.env.pop(name, None)

    return handler


def run_entry_points(
    *,
    role: str,
    entry_points: list[str],
    hosts: list[str],
    variables: dict[str, Any],
    inventory: Path,
    work_dir: Path,
    on_event: EventSink | None = None,
    cancel: threading.Event | None = None,
    finishing: Finishing | None = None,
) -> PlayResult:
    """Run `entry_points` of `role` on `hosts` in one ansible-playbook process; returns
    once the result is known. With `finishing`, the process's end is left to it."""
    check_entry_points(entry_points)
    result = PlayResult(status="unknown", rc=-1, hosts=dict.fromkeys(hosts, "not run"))
    extra = {"chaos_hosts": ",".join(hosts), "chaos_entry_points": entry_points}
    play = fault_play(
        role=role,
        variables={**variables, **extra},
        result=result,
        forks=len(hosts),
        inventory=inventory,
        work_dir=work_dir,
        on_event=on_event,
        canceled=cancel.is_set if cancel is not None else None,
    )
    if finishing is None:
        return run_fault_play(**play)
    return finishing.add(Background(f"play-{work_dir.name}", play)).wait()


def fault_play(role: str, variables: dict[str, Any], **play: Any) -> dict[str, Any]:
    """The arguments of `run_fault_play` (and of a `Background` one) for `role`'s play:
    `variables` with the role named in them, and the rest of its arguments as given."""
    return {"extra": {**variables, "chaos_role": role}, **play}


def run_fault_play(
    *,
    extra: dict[str, Any],
    result: PlayResult,
    forks: int,
    inventory: Path,
    work_dir: Path,
    on_event: EventSink | None = None,
    canceled: Callable[[], bool] | None = None,
    spawning: threading.Event | None = None,
) -> PlayResult:
    """Run playbooks/fault.yml with `extra` vars; events of the hosts in `result.hosts`
    (read at each event: chaosrun.run.prestart fills them in when it releases the play).
    `spawning` is set once ansible-runner starts the process (or gave up before).
    Returns when the process ended; `result.known` is set from the stats event on, or from
    the start of the next stage's play when `result.then` names one."""
    import ansible_runner

    filemodes.group_dirs(work_dir)
    local_tmp = work_dir / "tmp"
    local_tmp.mkdir(mode=0o700, exist_ok=True)
    inputs = play_inputs(
        work_dir, extra, prefix="fault-", local_tmp=local_tmp, args=forks_args(forks)
    )
    released = extra.get("chaos_release_vars")  # written at the release (prestart)
    with inputs as (vars_path, play):
        stages = _Stages(result)
        last = result.stages()[-1]

        def handle(event: dict[str, Any]) -> bool:
            # Read at the start; gone before the caller has the result (the exit may be cut).
            if event.get("event") == "playbook_on_stats":
                _unlink(vars_path)
                if released:
                    _unlink(released)
            stages.record(event, on_event)
            return True

        _fast_cancel(work_dir)
        if spawning is not None:
            play["status_handler"] = _telling(play["status_handler"], spawning)
        run = ansible_runner.run(
            **{**play, **fault_playbook_command(play["cmdline"])},
            inventory=str(inventory),
            event_handler=handle,
            # A play whose result is known is only exiting: nothing left to cancel.
            cancel_callback=(
                (lambda: not last.known.is_set() and _canceled(canceled, vars_path))
                if canceled
                else None
            ),
            omit_event_data=False,
        )
    result.exit(run.status, run.rc if run.rc is not None else -1)
    return result


def _telling(handler: Callable[..., None], spawning: threading.Event) -> Callable[..., None]:
    """`handler`, and `spawning` set when ansible-runner says it runs the process (it
    spawns it next) or that the run is over."""

    def status(status: Mapping[str, Any], runner_config: Any = None) -> None:
        handler(status, runner_config)
        if status.get("status") != "starting":
            spawning.set()

    return status


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# ansible-runner looks at the cancel callback only when its wait for output times out
# (default every 5 s), so an abort during inject would wait up to 5 s before the play is
# killed and the revert scripts run. A 50 ms poll costs next to no CPU.
CANCEL_POLL_S = 0.05


def _fast_cancel(work_dir: Path) -> None:
    """Set the runner's poll through env/settings in its private data dir: ansible-runner
    2.4 drops a `settings` argument when that file is missing."""
    env = work_dir / "env"
    env.mkdir(parents=True, exist_ok=True)
    (env / "settings").write_text(yaml.safe_dump({"pexpect_timeout": CANCEL_POLL_S}))


def _canceled(canceled: Callable[[], bool], marker: str) -> bool:
    """ansible-runner kills the process group of ansible-playbook on cancel, but Ansible's
    workers each start a session of their own: they would go on with their task (an
    inject half-applied after the revert ran) and linger. Kill them first."""
    if not canceled():
        return False
    for main in _children(os.getpid(), marker):
        for worker in _children(main):
            with contextlib.suppress(OSError):
                group = os.getpgid(worker)
                if group != os.getpgrp():
                    os.killpg(group, signal.SIGKILL)  # the worker and its ssh client
    return True


def _children(parent: int, marker: str = "") -> list[int]:
    """Pids whose parent is `parent` (and whose command line holds `marker`): the kernel's
    per-thread child lists, cheap even when the machine runs thousands of processes."""
    found = []
    with contextlib.suppress(OSError):
        for task in os.scandir(f"/proc/{parent}/task"):
            with contextlib.suppress(OSError), open(f"{task.path}/children") as fh:
                found += [int(pid) for pid in fh.read().split()]
    if marker:
        found = [pid for pid in found if marker.encode() in _cmdline(pid)]
    return found


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


class _Stages:
    """Routes a play's events to the result of the stage they belong to: the first until
    the next stage's play starts (NEXT_STAGE_PLAY), then that one's."""

    def __init__(self, first: PlayResult) -> None:
        self.current = first

    def record(self, event: dict[str, Any], on_event: EventSink | None) -> None:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        stage = self.current
        if kind == "playbook_on_play_start" and stage.then is not None:
            if data.get("play") == NEXT_STAGE_PLAY and not stage.known.is_set():
                self.current = stage.end_stage()
            return
        if kind == "playbook_on_stats":
            stage.conclude(data)
            for later in stage.stages()[1:]:  # never started: every host failed before
                later.status, later.rc = "not run", -1
                later.known.set()
            return
        _record(event, stage, stage.on_event or on_event)


def _record(event: dict[str, Any], result: PlayResult, on_event: EventSink | None) -> None:
    kind = event.get("event", "")
    data = event.get("event_data") or {}
    host = data.get("host")
    if not host or host not in result.hosts:
        return
    task = str(data.get("task") or "")
    if kind == "runner_on_start":
        result.busy[host] = task
        return
    if kind in TASK_ENDS:
        result.busy.pop(host, None)
    if kind in FAILED and not data.get("ignore_errors"):
        result.hosts[host] = "unreachable" if kind == "runner_on_unreachable" else "failed"
        res = data.get("res") or {}
        msg = res.get("msg") or res.get("stderr") or res.get("stdout") or kind
        if msg == "non-zero return code" and res.get("stderr"):
            msg = res["stderr"]  # a script's own message (a refusal, a failed apply) says more
        result.messages[host] = f"{task}: {str(msg).strip()[:300]}"
    elif kind in ("runner_on_ok", "runner_on_skipped") and result.hosts[host] == "not run":
        result.hosts[host] = "running"
    else:
        return
    if on_event is not None:
        on_event(host, result.hosts[host], task)


def run_command(
    *, pattern: str, command: str, inventory: Path, work_dir: Path, timeout: float
) -> dict[str, tuple[int, str]]:
    """Run a shell command on a host pattern; host -> (rc, stdout). rc -1: no answer."""
    import ansible_runner

    work_dir.mkdir(parents=True, exist_ok=True)
    answers: dict[str, tuple[int, str]] = {}

    def handle(event: dict[str, Any]) -> bool:
        data = event.get("event_data") or {}
        host, res = data.get("host"), data.get("res") or {}
        if host and event.get("event") in ("runner_on_ok", "runner_on_failed"):
            answers[host] = (int(res.get("rc", 1)), str(res.get("stdout", "")))
        elif host and event.get("event") == "runner_on_unreachable":
            answers[host] = (-1, str(res.get("msg", "unreachable")))
        return True

    # The command and the pattern are text the user typed: they reach the play through
    # unsafe variables, so Jinja in them is never evaluated on the controller. A play, not
    # an ad hoc run: ansible-runner starts a play where chaosrun was started (ansible_cwd),
    # an ad hoc run in its own directory.
    extra = {"chaosrun_probe_command": command, "chaosrun_probe_hosts": pattern}
    with play_inputs(work_dir, extra, prefix="command-", local_tmp=work_dir / "tmp") as (_, play):
        ansible_runner.run(
            **play,
            playbook=str(paths.command_playbook()),
            inventory=str(inventory),
            event_handler=handle,
            timeout=int(max(5, timeout)),
        )
    return answers
