"""The warm process: chaosrun, ansible-core and ansible-runner loaded once, a fork per command.

`chaosrun warm` starts it in the background (chaosrun.ops.warm_process),
with the environment and directory of the shell that asked. It listens on a unix socket
named by its key (chaosrun.base.warm_key) in the user's private socket directory, and
serves only the user's own processes (the peer's uid, read from the socket), whose key is
its own, read again before each fork: chaosrun or Ansible upgraded, or an ansible.cfg
changed, and it refuses and ends (the command then starts cold, as without it).

A command (chaosrun.warm.client) sends its arguments, its directory and shell variables,
and its stdin, stdout and stderr as descriptors. The fork takes them as its own, becomes
a process group of its own (nothing aimed at the warm process's group reaches a run), and
runs chaosrun's command line as a fresh process would, then the interpreter's exit work,
and ends. The signals the command receives (Ctrl-C, TERM, HUP) are sent over the socket
and raised in the fork; a command that goes away (its terminal closed, or killed) is a
hangup, which stops a run as SIGHUP does: rolled back, never left on. This process reaps
the fork and sends the command its exit status. It ends when it has served no command for
`--idle` seconds, or on `chaosrun warm --stop`, after the forks still running are done.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import ansible_runner  # noqa: F401  (loaded here so that every fork finds it loaded)
from ansible.inventory.manager import InventoryManager  # noqa: F401
from ansible.parsing.dataloader import DataLoader  # noqa: F401
from ansible.vars.manager import VariableManager  # noqa: F401

from chaosrun import cli
from chaosrun.base import output, warm_key
from chaosrun.plan import planning  # noqa: F401
from chaosrun.run import early, engine, spare  # noqa: F401
from chaosrun.warm import client

MAX_MESSAGE = client.MAX_MESSAGE
POLL_S = 0.2
KEY_CHECK_S = 5.0
REQUEST_WAIT_S = 2.0


def send(conn: socket.socket, message: dict) -> None:
    with contextlib.suppress(OSError):
        conn.send(json.dumps(message).encode())


class Server:
    def __init__(self, idle_s: float) -> None:
        self.facts = warm_key.facts(os.environ, os.getcwd())
        self.key = warm_key.digest(self.facts)
        self.idle_s = idle_s
        self.path = warm_key.socket_path(self.key)
        self.children: dict[int, socket.socket] = {}
        self.last = time.monotonic()
        self.listening = True
        self.inode = 0
        self.checked = time.monotonic()
        self.served = 0
        self.started = time.time()
        # A fork's end wakes the loop at once (SIGCHLD written to the pair): its command
        # waits for the exit status.
        self.wake_r, self.wake_w = socket.socketpair()
        # What the last run started (early.HINTS), read from each fork's pipe once it ended,
        # and the fork that has inject's playbook for the next one ready (chaosrun.run.spare).
        self.hints: dict[int, int] = {}
        self.hint: dict[str, str] | None = None
        self.spare: tuple[int, socket.socket] | None = None
        self.ending: set[int] = set()  # spares told to end, not yet reaped
        self.listener: socket.socket | None = None

    def bind(self) -> socket.socket:
        """Listen at the key's path; the name appears only once it accepts (a rename)."""
        warm_key.socket_dir()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        staging = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        listener.bind(str(staging))
        listener.listen(16)
        os.replace(staging, self.path)
        self.inode = os.stat(self.path).st_ino
        self.listener = listener
        return listener

    def serve(self, listener: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(listener, selectors.EVENT_READ)
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        signal.set_wakeup_fd(self.wake_w.fileno())
        signal.signal(signal.SIGCHLD, lambda *_: None)
        # Asked to end (a shutdown, `kill`): as `chaosrun warm --stop`, after its forks.
        signal.signal(signal.SIGTERM, self._stop)
        selector.register(self.wake_r, selectors.EVENT_READ)
        while self.listening or self.children or self.ending:
            for key, _ in selector.select(POLL_S):
                if key.fileobj is self.wake_r:
                    with contextlib.suppress(OSError):
                        self.wake_r.recv(4096)
                elif self.listening:
                    conn, _ = listener.accept()
                    self.last = time.monotonic()
                    self.handle(conn, listener)
            self.reap()
            self.check_key()
            if self.listening and not self.children and time.monotonic() - self.last > self.idle_s:
                self.listening = False
            if not self.listening and listener.fileno() >= 0:
                selector.unregister(listener)
                self.unlink(listener)
                self.drop_spare()
            elif self.listening and not self.children and self.spare is None and self.hint:
                self.make_spare()

    def _stop(self, _signum: int, _frame: object) -> None:
        self.listening = False

    def status(self) -> dict:
        return {
            "pid": os.getpid(),
            "socket": str(self.path),
            "started": self.started,
            "served": self.served,
            "running": len(self.children),
            "idle_s": self.idle_s,
            "listening": self.listening,
        }

    def check_key(self) -> None:
        """Stop listening once chaosrun, Ansible or a setting changed under this process
        (it would refuse every command): checked every few seconds."""
        if time.monotonic() - self.checked < KEY_CHECK_S:
            return
        self.checked = time.monotonic()
        now = warm_key.facts(os.environ, os.getcwd())
        if warm_key.digest(now) != self.key:
            self.listening = False
            changed = warm_key.changes(self.facts, now)
            print(f"chaosrun warm: stops listening, changed: {changed}", file=sys.stderr)

    def unlink(self, listener: socket.socket) -> None:
        """Stop being found: the socket's name goes first (if it is still ours), then the
        commands already queued are told to run on their own (closed unanswered, they
        could not know whether they ran)."""
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self.inode:
                self.path.unlink()
        listener.setblocking(False)
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                break
            conn.settimeout(REQUEST_WAIT_S)
            try:
                fds = socket.recv_fds(conn, MAX_MESSAGE, 3)[1]
            except OSError:
                fds = []
            _answer(conn, fds, {"refused": "stopping"})
        listener.close()

    def handle(self, conn: socket.socket, listener: socket.socket) -> None:
        # A peer that connects and says nothing must not hold up everyone else's commands.
        conn.settimeout(REQUEST_WAIT_S)
        try:
            data, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 3)
            request = json.loads(data or b"{}")
        except (OSError, ValueError):
            conn.close()
            return
        conn.settimeout(None)
        if client.peer_uid(conn) == os.geteuid() and request.get("op") in ("stop", "status"):
            if request["op"] == "stop":
                self.listening = False
            _answer(conn, fds, self.status())
            return
        refusal = self.refusal(conn, request, fds)
        if refusal is not None:
            _answer(conn, fds, {"refused": refusal})
            return
        pid = self.give_spare(conn, fds, request) if request["argv"][:1] == ["run"] else None
        if pid is None:
            hint_r, hint_w = os.pipe()
            try:
                pid = os.fork()
            except OSError as exc:  # out of processes or memory: the command runs cold
                os.close(hint_r)
                os.close(hint_w)
                _answer(conn, fds, {"refused": f"cannot fork: {exc}"})
                return
            if pid == 0:
                os.close(hint_r)
                self.detach(keep=conn)
                _child(conn, fds, request, hint_w)  # never returns
            os.close(hint_w)
            self.hints[pid] = hint_r
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        self.served += 1
        send(conn, {"pid": pid})

    def detach(self, keep: socket.socket | None = None) -> None:
        """In a fork: none of the server's sockets and pipes but `keep` (another command's
        end must close with its own fork)."""
        signal.set_wakeup_fd(-1)
        spare_end = [self.spare[1]] if self.spare else []
        for other in [self.listener, self.wake_r, self.wake_w, *self.children.values(), *spare_end]:
            if other is not None and other is not keep:
                other.close()
        for fd in self.hints.values():
            os.close(fd)

    def make_spare(self) -> None:
        """Fork the process that readies inject's playbook for the next run like the last."""
        hint = self.hint or {}
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        hint_r, hint_w = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            for fd in (hint_r, hint_w):
                os.close(fd)
            ours.close()
            theirs.close()
            self.hint = None
            return
        if pid == 0:
            os.close(hint_r)
            ours.close()
            self.detach()
            _spare(theirs, hint, hint_w)  # never returns
        theirs.close()
        os.close(hint_w)
        self.hints[pid] = hint_r
        self.spare = (pid, ours)

    def give_spare(self, conn: socket.socket, fds: list[int], request: dict) -> int | None:
        """Hand a run to the spare (its pid), or None when there is none to take it."""
        if self.spare is None:
            return None
        pid, ours = self.spare
        self.spare = None
        try:
            socket.send_fds(ours, [json.dumps(request).encode()], [*fds, conn.fileno()])
        except OSError:  # it ended meanwhile
            return None
        finally:
            ours.close()
        return pid

    def drop_spare(self) -> None:
        """No more commands: the spare ends its playbook (it touched no host) and itself."""
        if self.spare is not None:
            self.spare[1].close()
            self.ending.add(self.spare[0])
            self.spare = None

    def refusal(self, conn: socket.socket, request: dict, fds: list[int]) -> str | None:
        if client.peer_uid(conn) != os.geteuid():
            return "another user's command"
        if request.get("op") != "run" or len(fds) != 3:
            return "not a command"
        if not self.listening:
            return "stopping"
        now = warm_key.key(os.environ, os.getcwd())
        if request.get("key") != self.key or now != self.key:
            if now != self.key:  # chaosrun, Ansible or a setting changed under it
                self.listening = False
            return "not the same code, settings or environment"
        return None

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.read_hint(pid)
            self.ending.discard(pid)
            if self.spare is not None and self.spare[0] == pid:  # ended unused
                self.spare[1].close()
                self.spare = None
                self.hint = None  # it could not start one: no other until a run says so
            conn = self.children.pop(pid, None)
            if conn is not None:
                send(conn, {"exit": os.waitstatus_to_exitcode(status)})
                conn.close()
                self.last = time.monotonic()

    def read_hint(self, pid: int) -> None:
        """The last thing an ended fork said a spare for the next run would start."""
        fd = self.hints.pop(pid, None)
        if fd is None:
            return
        try:
            lines = os.read(fd, 65536).decode(errors="replace").splitlines()
        finally:
            os.close(fd)
        for line in reversed(lines):
            with contextlib.suppress(ValueError):
                self.hint = dict(json.loads(line))
                return


def _answer(conn: socket.socket, fds: list[int], message: dict) -> None:
    """Reply and hang up, keeping none of the descriptors the command sent."""
    send(conn, message)
    for fd in fds:
        os.close(fd)
    conn.close()


def _child(conn: socket.socket, fds: list[int], request: dict, hint_fd: int) -> None:
    """The fork: the command's descriptors, directory and shell variables, then its
    command line, then the interpreter's exit work, and the end of the process."""
    code = 1
    try:
        early.HINTS = _hint_writer(hint_fd)
        if os.getpgid(0) != os.getpid():
            os.setpgid(0, 0)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        atexit._clear()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=stream.isatty())
        output.reattach()
        os.chdir(request["cwd"])
        for name, value in request.get("shell", {}).items():
            if name not in warm_key.SHELL_VARS:
                continue
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        sys.argv = ["chaosrun", *request["argv"]]
        threading.Thread(target=_relay, args=(conn,), daemon=True).start()
        code = _main()
    except BaseException:  # as an interpreter would: the traceback, exit 1
        traceback.print_exc()
    finally:
        _exit(code)


def _spare(sock: socket.socket, hint: dict[str, str], hint_fd: int) -> None:
    """The spare: inject's playbook for a run like the last one, started now; then the next
    run's command, as any fork runs one (its Starter takes the playbook when nothing it read
    changed), or, when the server hangs up, the playbook's end and its own."""
    code = 0
    try:
        os.setpgid(0, 0)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        os.close(null)
        with contextlib.suppress(Exception):  # no spare: the run starts its own
            early.SPARE = spare.prepare(
                hint["role"], Path(hint["inventory"]), Path(hint["run_root"])
            )
        data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 4)
        if data and len(fds) == 4:
            conn = socket.socket(fileno=fds[3])
            sock.close()
            _child(conn, fds[:3], json.loads(data), hint_fd)  # never returns
        for fd in fds:
            os.close(fd)
    except BaseException:
        code = 1
    if early.SPARE is not None:
        early.SPARE.discard()
    os._exit(code)


def _hint_writer(fd: int) -> Callable[[dict[str, str]], None]:
    def write(hint: dict[str, str]) -> None:
        with contextlib.suppress(OSError):
            os.write(fd, json.dumps(hint).encode() + b"\n")

    return write


def _main() -> int:
    try:
        cli.main()
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        print(done.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _relay(conn: socket.socket) -> None:
    """Raise here the signals the command passes on; its going away is a hangup."""
    while True:
        message = client.receive(conn)
        if message is None:
            os.kill(os.getpid(), signal.SIGHUP)
            return
        if message.get("signal") in client.FORWARDED:
            os.kill(os.getpid(), message["signal"])


def _exit(code: int) -> None:
    """What the interpreter does as it ends (wait for the threads that are not daemons,
    the exit handlers, the last flush), then end without unwinding into the server. A
    spare the command never came to use ends with it."""
    if early.SPARE is not None:
        with contextlib.suppress(BaseException):
            early.SPARE.discard()
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    with contextlib.suppress(BaseException):
        output.flush_or_drop()
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="chaosrun-warm")
    parser.add_argument("--idle", type=float, default=900.0)
    args = parser.parse_args(argv)
    # Nothing this process loaded is garbage: keep the collector off it, in it and in the
    # forks (their copies of its pages stay shared until written).
    cli.prebuild()
    gc.freeze()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    server = Server(args.idle)
    listener = server.bind()
    server.serve(listener)


if __name__ == "__main__":
    main()
