"""A command handed to a warm chaosrun process (chaosrun.warm.server), when one matches.

Only the commands in WARM_COMMANDS, named first on the command line, and only when a warm
process with this command's key (chaosrun.base.warm_key) listens: the command sends its
arguments, directory and shell variables, and its stdin, stdout and stderr; the fork runs
it on them. No process, a failure before the command is sent, or a refusal is None: the
command then runs here, as it would without one. A warm process that goes away without
an answer once it has the command may have forked: the command is not run again (exit 1).
Once forked, this process passes on the signals it receives and ends with the fork's exit
status.
`CHAOSRUN_WARM=0` never hands a command over.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import sys
from collections.abc import Sequence

from chaosrun.base import privatedir, warm_key

ENV_SWITCH = "CHAOSRUN_WARM"
# Commands that read the project and the fleet and gain from Ansible already loaded.
WARM_COMMANDS = ("run", "validate", "plan", "status")
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
MAX_MESSAGE = 65536
UNANSWERED = (
    "the warm process took the command and went away without a word: not run here, "
    "so that it never runs twice; `chaosrun status` shows whether it started, run it again "
    "(CHAOSRUN_WARM=0 runs it without a warm process)"
)


def hand_over(argv: Sequence[str]) -> int | None:
    """The command's exit status when a warm process ran it; None to run it here."""
    if os.environ.get(ENV_SWITCH) == "0" or not argv or argv[0] not in WARM_COMMANDS:
        return None
    # Only the user's own process, in the user's own directory: whatever listens there is
    # handed the terminal and the command. No such directory (no `chaosrun warm` yet): no
    # key to read either (the stat of every module file, on every cold command's start).
    if not privatedir.is_private(warm_key.socket_root()):
        return None
    env, cwd = warm_key.started_with()
    key = warm_key.key(env, cwd)
    path = warm_key.socket_path(key)
    if not os.path.exists(path):
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(str(path))
        if peer_uid(conn) != os.geteuid():
            conn.close()
            return None
        request = {"op": "run", "key": key, "argv": list(argv), "cwd": cwd}
        request["shell"] = warm_key.shell_vars(env)
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
    except OSError:  # nothing was handed over
        conn.close()
        return None
    reply = receive(conn)
    if reply is not None and "refused" in reply:
        conn.close()
        return None
    if reply is None or "pid" not in reply:
        # It may have forked before it went away: running the command here too could run
        # it twice (two faults, two rollbacks). Say so and let the operator run it again.
        conn.close()
        print(f"chaosrun: error: {UNANSWERED}", file=sys.stderr)
        return 1
    return _wait(conn)


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end of a unix socket (the kernel's word)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _wait(conn: socket.socket) -> int:
    """Pass the signals on until the fork's exit status arrives."""

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            conn.send(json.dumps({"signal": signum}).encode())

    for sig in FORWARDED:
        signal.signal(sig, forward)
    while True:
        message = receive(conn)
        if message is None:
            print("chaosrun: error: the warm process ended before the command did", file=sys.stderr)
            return 1
        if isinstance(message.get("exit"), int):
            return message["exit"]


def receive(conn: socket.socket) -> dict | None:
    """The next message on the socket (one JSON object); None once the other end is gone."""
    while True:
        try:
            data = conn.recv(MAX_MESSAGE)
        except OSError:
            return None
        if not data:
            return None
        try:
            message = json.loads(data)
        except ValueError:
            continue
        if isinstance(message, dict):
            return message
