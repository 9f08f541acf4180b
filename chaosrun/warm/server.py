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

import ansible_runner  # noqa: F401  (loaded here so that every fork finds it loaded)
from ansible.inventory.manager import InventoryManager  # noqa: F401
from ansible.parsing.dataloader import DataLoader  # noqa: F401
from ansible.vars.manager import VariableManager  # noqa: F401

from chaosrun import cli
from chaosrun.base import output, warm_key
from chaosrun.plan import planning  # noqa: F401
from chaosrun.run import early, engine  # noqa: F401
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
        while self.listening or self.children:
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
        try:
            pid = os.fork()
        except OSError as exc:  # out of processes or memory: the command runs cold
            _answer(conn, fds, {"refused": f"cannot fork: {exc}"})
            return
        if pid == 0:
            signal.set_wakeup_fd(-1)
            # Only its own command's connection: another's end must close with its fork.
            for other in [listener, self.wake_r, self.wake_w, *self.children.values()]:
                other.close()
            _child(conn, fds, request)  # never returns
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        self.served += 1
        send(conn, {"pid": pid})

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
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is not None:
                send(conn, {"exit": os.waitstatus_to_exitcode(status)})
                conn.close()
                self.last = time.monotonic()


def _answer(conn: socket.socket, fds: list[int], message: dict) -> None:
    """Reply and hang up, keeping none of the descriptors the command sent."""
    send(conn, message)
    for fd in fds:
        os.close(fd)
    conn.close()


def _child(conn: socket.socket, fds: list[int], request: dict) -> None:
    """The fork: the command's descriptors, directory and shell variables, then its
    command line, then the interpreter's exit work, and the end of the process."""
    code = 1
    try:
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
    the exit handlers, the last flush), then end without unwinding into the server."""
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
    gc.freeze()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    server = Server(args.idle)
    listener = server.bind()
    server.serve(listener)


if __name__ == "__main__":
    main()
