"""Direct SSH to the selected hosts, for the few things that must be fast.

Aborting must not wait for an ansible-playbook start: the engine runs each fault's ONE
revert script over an already open OpenSSH ControlMaster connection, on all hosts in
parallel, then confirms with the role's verify entry point. The same connections renew
the on-host lease and read the on-host lock in preflight.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import shlex
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from chaosrun.base import hostlayout as layout
from chaosrun.base import privatedir
from chaosrun.hosts.inventory import HostInfo
from chaosrun.hosts.shellsession import ShellSession

# Short: unix socket paths are limited to 108 bytes. One per user (with its uid).
CONTROL_ROOT = "/tmp/chaosrun-cp-{uid}"


def control_root() -> Path:
    """The user's own directory of ControlMaster sockets (chaosrun.base.privatedir): a
    listener swapped in for a socket would be handed the commands (and their sudo) sent
    through it, and could answer a revert with "ok"."""
    return privatedir.ensure(Path(CONTROL_ROOT.format(uid=os.geteuid())), "its ssh connections")


# The most hosts asked at once: a fleet-wide command (status, recover, freeze -i) may name
# every host of the inventory, and each ssh at work holds a process and three descriptors.
PARALLEL = 64
# Descriptors a host's open shell holds here (its stdin, stdout and stderr file).
SHELL_FDS = 3


# The name prefix of a run's own ControlMaster sockets in its run_control_dir.
RUN_CONTROL = "e"


def run_control_dir(run_id: str) -> Path:
    """Where one run keeps its ssh ControlMaster sockets, its own and Ansible's: a run never
    joins a connection it did not open (one opened elsewhere skipped this run's host key
    check, and ends with its owner), and its guardian finds its masters by this path."""
    return control_root() / ("r" + hashlib.sha1(run_id.encode()).hexdigest()[:12])


@dataclass(frozen=True)
class Answer:
    rc: int
    out: str
    seconds: float
    via: str = "shell"  # "shell": the host's open shell; "ssh": a one-shot ssh client


class HostShell:
    def __init__(
        self,
        hosts: list[HostInfo],
        persist: int = 600,
        connect_timeout: int = 15,
        control: str = RUN_CONTROL,
        control_dir: Path | None = None,
        shells: bool = True,
    ):
        self.hosts = {h.name: h for h in hosts}
        # One shell kept open per host (a run's reverts and lease renewals: one round trip
        # each), or none (a command that sends each host a script or two: each is one ssh
        # over the host's master, so what is open is bounded by PARALLEL, not the fleet).
        self.shells = shells
        if shells:
            _allow_open_files(SHELL_FDS * len(hosts) + 4 * PARALLEL)
        # The ControlMaster sockets' directory and name prefix. A run has a directory of its
        # own (run_control_dir); a one-off command on the fleet (`freeze -i`) takes its own
        # prefix, so that its end never closes the connection of a run it is stopping.
        self.control = control
        self.control_dir = control_dir = control_dir or control_root()
        self.persist = persist
        self.connect_timeout = connect_timeout
        # One shell kept open per host: after the first command (preflight's lock check),
        # a revert or a lease renewal is one round trip on a live connection.
        self.sessions = {
            n: ShellSession([*self.argv(n), "--", self.remote(n, "/bin/sh")]) for n in self.hosts
        }
        control_dir.mkdir(mode=0o700, exist_ok=True)

    def argv(self, name: str, *extra: str) -> list[str]:
        """The ssh command line Ansible would use for the host (see chaosrun.hosts.hostaccess),
        behind the fast path's own options: ssh keeps the first value it is given for an option,
        so no prompt, its own shared connection and keepalives win; known_hosts, host key
        checking, jump hosts and the rest come from Ansible's settings. An ansible.cfg that
        turns host key checking off is not followed: host keys are always checked here."""
        h = self.hosts[name]
        args = [
            h.ssh_executable,
            "-o", "BatchMode=yes",
            "-o", "LogLevel=ERROR",
            "-o", f"ConnectTimeout={self.connect_timeout}",
            "-o", "ControlMaster=auto",
            "-o", f"ControlPath={self.control_dir}/{self.control}-%C",
            "-o", f"ControlPersist={self.persist}s",
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=2",
        ]  # fmt: skip
        if h.key_file:
            args += ["-i", h.key_file, "-o", "IdentitiesOnly=yes"]
        if h.port:
            args += ["-p", str(h.port)]
        if h.user:
            args += ["-l", h.user]
        args += [*h.ssh_args, *extra, h.address]
        return args

    def ansible_control_path(self) -> str | None:
        """Ansible's ssh control_path (ANSIBLE_SSH_CONTROL_PATH) naming these masters' sockets
        in Ansible's control_path_dir (set to `control_dir`): the playbooks then run over the
        connections preflight opened instead of each opening its own (a handshake per host
        inside the fault's first task). Ansible fills in %(directory)s and turns %% into %,
        ssh expands %C. None when Ansible skips host key checking for a host: a master it
        opened (this one gone) would then be joined here unchecked."""
        if not all(h.host_key_checking for h in self.hosts.values()):
            return None
        return self.shared_control_path(self.control)

    @staticmethod
    def shared_control_path(control: str = RUN_CONTROL) -> str:
        """ansible_control_path's value when it shares the masters of a run's shell."""
        return f"%(directory)s/{control}-%%C"

    def remote(self, name: str, command: str) -> str:
        """The command as the host runs it: under non-interactive sudo when Ansible becomes
        another user there, so a missing right fails loudly instead of running unprivileged."""
        h = self.hosts[name]
        if not h.become:
            return command
        return f"{shlex.quote(h.become_exe)} -n -u {shlex.quote(h.become_user)} -- {command}"

    def run(self, name: str, script: str, timeout: float = 30.0) -> Answer:
        """Through the host's open shell; a one-shot ssh when that shell is busy or gone."""
        started = time.monotonic()
        answer = self.sessions[name].run(script, timeout) if self.shells else None
        if answer is not None:
            return Answer(answer[0], answer[1], time.monotonic() - started)
        try:
            proc = subprocess.run(
                [*self.argv(name), "--", self.remote(name, "/bin/sh -c " + shlex.quote(script))],
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C on the terminal must not kill a revert
            )
        except subprocess.TimeoutExpired:
            return Answer(-1, f"no answer within {timeout:g}s", time.monotonic() - started, "ssh")
        except OSError as exc:
            return Answer(-1, str(exc), time.monotonic() - started, "ssh")
        out = (proc.stdout + proc.stderr).strip()
        return Answer(proc.returncode, out, time.monotonic() - started, "ssh")

    def run_all(self, scripts: dict[str, str], timeout: float = 30.0) -> dict[str, Answer]:
        """Run one script per host, up to PARALLEL hosts at once."""
        if not scripts:
            return {}
        with ThreadPoolExecutor(max_workers=min(len(scripts), PARALLEL)) as pool:
            futures = {n: pool.submit(self.run, n, s, timeout) for n, s in scripts.items()}
            return {n: f.result() for n, f in futures.items()}

    def close(self, keep_connections: bool = False) -> None:
        """Close the shells and the master connections (best effort: they expire anyway);
        `keep_connections`: leave the masters to their ControlPersist, for the next command."""
        for session in self.sessions.values():
            session.close()
        if keep_connections:
            return

        def stop(name: str) -> None:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                subprocess.run(
                    self.argv(name, "-O", "exit"), capture_output=True, timeout=10, check=False
                )

        if self.hosts:
            with ThreadPoolExecutor(max_workers=min(len(self.hosts), PARALLEL)) as pool:
                list(pool.map(stop, self.hosts))


def _allow_open_files(needed: int) -> None:
    """Raise this process's soft limit of open files toward `needed`, as far as its hard
    limit allows (the soft one is often 1024: a shell to each of 350 hosts would not fit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))


REVERT_INCOMPLETE_RC = 4  # the revert script's answer when a fault directory has no script
NOTHING_INJECTED = "CHAOSRUN_NOTHING_INJECTED"  # the revert script's line: never armed here


def run_all_twice(
    shell: HostShell, scripts: dict[str, str], timeout: float, ran: Callable[[Answer], bool]
) -> dict[str, Answer]:
    """shell.run_all, then the hosts whose answer says the script did not run there asked
    once more (a host merely slow to let us in). Only for scripts that may run twice."""
    answers = shell.run_all(scripts, timeout)
    again = {n: scripts[n] for n, a in answers.items() if not ran(a)}
    answers.update(shell.run_all(again, timeout))
    return answers


END_LOCK_WAIT_S = 120  # how long ending a run waits for the arm step's lock on the host
LOCK_WAIT_RC = 6  # the revert's answer when that wait ran out: an arm may still land


def end_run_script(state_dir: str, run_ids: list[str], by: str) -> str:
    """Mark the runs ended on the host (hostlayout.ended_marker) under the arm step's lock,
    as the fault role's rollback does: an arm that holds the lock finishes first (its revert
    script is then there to run), one that comes later finds the marker and refuses. Markers
    older than ENDED_KEEP_MINUTES go. Sets `late=1` when the wait for the lock ran out (an
    inject still holds it and may arm after this), saying so on stderr."""
    state = shlex.quote(state_dir.rstrip("/"))
    ended = shlex.quote(layout.ended_root(state_dir))
    marks = " ".join(
        f'printf "%s {by}\\n" "$t" > {shlex.quote(layout.ended_marker(state_dir, r))};'
        for r in run_ids
    )
    wait = END_LOCK_WAIT_S
    return (
        f"s={state}; e={ended}; late=; "
        # touch, not a redirection: a failed redirection of `exec` ends the shell.
        'if mkdir -p "$e" 2>/dev/null && chmod 0700 "$s" && touch "$s/lock" 2>/dev/null; then '
        'exec 9>>"$s/lock"; '
        f"if command -v flock >/dev/null 2>&1 && ! flock -w {wait} 9; then late=1; "
        f'echo "chaosrun: waited {wait} s for $s/lock: an inject on this host still holds it '
        'and may arm after this; look with chaosrun status" >&2; fi; '
        f"t=$(date -u +%Y-%m-%dT%H:%M:%SZ); {marks} "
        f'find "$e" -type f -mmin +{layout.ENDED_KEEP_MINUTES} -exec rm -f {{}} + 2>/dev/null; '
        'exec 9>&-; else echo "chaosrun: cannot write $e: a late arm is not stopped" >&2; fi; '
    )


# The line the fault role's arm, apply and verify steps carry on their command line
# (`# chaosrun-step <run id> <role>`): how a revert finds a step of its run still running.
STEP_MARK = "chaosrun-step"
STEP_ENDED = "chaosrun: ended a step of this run still running on the host"


def stop_steps_script(run_id: str) -> str:
    """Kill (SIGKILL, by session) the steps of the run's fault role still running on the host:
    a canceled play ends on the controller, not on the host, where a hung apply would hold
    the fault's locks and keep the revert waiting for them. Each step's session is its own
    (sshd's for the command: sudo, the shell, what it waits on); what the fault left running
    detached (a hog, the dead-man) has a session of its own and is not touched. The pattern
    is split in this script's text, so it never matches its own command line. Prints
    STEP_ENDED per session ended."""
    rid = shlex.quote(run_id)
    return (
        "if command -v pgrep >/dev/null 2>&1; then "
        f"p='{STEP_MARK[:9]}''{STEP_MARK[9:]} '{rid}' '; "
        "sid() { sed 's/.*) //' \"/proc/$1/stat\" 2>/dev/null | cut -d' ' -f4; }; "
        "own=$(sid $$); done_sids=' '; "
        'for pid in $(pgrep -f -- "$p"); do s=$(sid "$pid"); '
        '[ -n "$s" ] && [ "$s" -gt 1 ] && [ "$s" != "$own" ] || continue; '
        'case $done_sids in *" $s "*) continue ;; esac; done_sids="$done_sids$s "; '
        f'pkill -KILL -s "$s" && echo "{STEP_ENDED} (session $s)"; done; fi; '
    )


def revert_script(state_dir: str, run_id: str) -> str:
    """End the run's steps still running on the host (stop_steps_script: no step of the run
    may run once its rollback began), end the run on the host (end_run_script), then run
    every revert script of the run there; rc 0 when all succeeded (or none), LOCK_WAIT_RC
    when they did but the wait for the arm step's lock ran out. A fault directory without a
    revert script (an inject cut short before writing it) is left alone and answered with
    REVERT_INCOMPLETE_RC: the role's rollback entry point clears it, after the inject's last
    task on the host can no longer be running. Prints NOTHING_INJECTED when the host holds
    nothing of the run and its history records no revert of it: the run never armed a fault
    there."""
    d = shlex.quote(layout.run_dir(state_dir, run_id))
    history = shlex.quote(layout.history_file(state_dir))
    mark = shlex.quote(f'"run_id": "{run_id}"')
    return (
        stop_steps_script(run_id)
        + end_run_script(state_dir, [run_id], "rollback")
        + f'rc=0; for f in {d}/*/; do [ -d "$f" ] || continue; '
        f'if [ -f "$f/{layout.REVERT}" ]; then /bin/sh "$f/{layout.REVERT}" rollback || rc=1; '
        f"elif [ $rc -eq 0 ]; then rc={REVERT_INCOMPLETE_RC}; fi; done; "
        f"[ -d {d} ] || grep -qF {mark} {history} 2>/dev/null || echo {NOTHING_INJECTED}; "
        f'[ $rc -ne 0 ] || [ -z "$late" ] || rc={LOCK_WAIT_RC}; exit $rc'
    )


LEASE_GONE_RC = 3  # the lease script's exit code when the host holds nothing of the run
LEASE_DISARMED_RC = 5  # ... when it holds a fault of the run that nothing would revert
LEASE_FROZEN_RC = 7  # ... when the host carries the freeze marker (`chaosrun freeze -i`)


def lease_script(state_dir: str, run_id: str, seconds: float) -> str:
    """Push the run's lease expiry to now + seconds (atomic rename, as the dead-man reads it).
    Exits LEASE_GONE_RC, creating nothing, when the run holds no fault on the host (not yet
    injected, or already reverted): the renewer tells the two apart. Exits
    LEASE_DISARMED_RC, naming the fault, when a fault's dead-man is no longer armed (the
    `armed` file the role wrote: this boot, its unit or process, its boot guard), as after a
    reboot: the lease file alone would outlive the timer. Exits LEASE_FROZEN_RC, printing
    the freeze's line, when the host is frozen: checked first, since the freeze reverts the
    run's fault (which would otherwise answer as gone, as if its dead-man had fired)."""
    d = shlex.quote(layout.run_dir(state_dir, run_id))
    marker = shlex.quote(layout.frozen_marker(state_dir))
    tmp = shlex.quote(layout.lease_tmp_file(state_dir, run_id))
    lease = shlex.quote(layout.lease_file(state_dir, run_id))
    secs = int(seconds)
    return (
        f"[ ! -e {marker} ] || {{ head -n 1 {marker}; exit {LEASE_FROZEN_RC}; }}; "
        f"[ -d {d} ] || exit {LEASE_GONE_RC}; "
        "boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null); "
        f'for a in {d}/*/armed; do [ -f "$a" ] || continue; '
        'read -r b kind what guard < "$a" || continue; f=${a%/armed}; f=${f##*/}; '
        '[ "$b" = "$boot" ] || { echo "$f was armed before the host rebooted"; '
        f"exit {LEASE_DISARMED_RC}; }}; "
        "case $kind in "
        'timer) systemctl is-active --quiet "$what.timer" "$what.service" || '
        f'{{ echo "dead-man $what of $f is not running"; exit {LEASE_DISARMED_RC}; }}; '
        '[ -z "$guard" ] || [ -e "$guard" ] || '
        f'{{ echo "boot guard $guard is not enabled"; exit {LEASE_DISARMED_RC}; }} ;; '
        'process) [ -d "/proc/$what" ] || '
        f'{{ echo "dead-man process $what of $f is gone"; exit {LEASE_DISARMED_RC}; }} ;; '
        "esac; done; "
        f"echo $(( $(date +%s) + {secs} )) > {tmp} && mv -f {tmp} {lease}"
    )


def holders_script(state_dir: str) -> str:
    """Print the run ids holding active faults on a host (the on-host lock)."""
    d = shlex.quote(layout.active_root(state_dir))
    return f"[ -d {d} ] && ls -1 {d} 2>/dev/null; exit 0"


# What ssh and sudo say when a shell could not be opened, and what it means for the user.
_REASONS = (
    ("REMOTE HOST IDENTIFICATION HAS CHANGED", "host key mismatch: the host's key is not "
     "the one in known_hosts (a rebuilt host, or someone in between)"),
    ("Host key verification failed", "host key verification failed: the host's key is "
     "not in known_hosts, or differs from it"),
    ("a password is required", "sudo needs a password: chaosrun needs non-interactive "
     "sudo (NOPASSWD) for the become user"),
    ("a terminal is required", "sudo needs a password: chaosrun needs non-interactive "
     "sudo (NOPASSWD) for the become user"),
    ("you must have a tty to run sudo", "sudo requires a tty (`Defaults requiretty`): "
     "chaosrun's reverts run without one; exempt the user (`Defaults:<user> !requiretty`)"),
    ("not in the sudoers file", "the user may not use sudo"),
    ("is not allowed to", "the user may not run a shell with sudo as the become user"),
)  # fmt: skip


def explain(out: str) -> str:
    """One short reason for a host that did not answer."""
    for needle, reason in _REASONS:
        if needle in out:
            return reason
    return out[-160:] or "no answer"
