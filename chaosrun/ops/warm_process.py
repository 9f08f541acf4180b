"""Start and stop the user's warm chaosrun process for this directory and environment.

The process itself is chaosrun.warm.server; it is found by its socket, whose name holds
the key of what it loaded (chaosrun.base.warm_key). Starting it is a `python -m` of it in
a session of its own, with the environment and directory the command started with, and
waiting until its socket answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from chaosrun.base import privatedir, warm_key
from chaosrun.base.errors import ChaosrunError

READY_WAIT_S = 30.0
# The server, with the module path `chaosrun` has: the interpreter's directory first, not
# the one it starts in (a module of the project's named like Ansible's must not shadow it).
SERVER = (
    "import os, sys; sys.path[0] = os.path.dirname(sys.executable); "
    "from chaosrun.warm.server import main; main()"
)


@dataclass(frozen=True)
class Warm:
    pid: int | None  # None: it was already running
    socket: Path


def _here() -> tuple[dict[str, str], str, Path]:
    env, cwd = warm_key.started_with()
    return env, cwd, warm_key.socket_path(warm_key.key(env, cwd))


def _answers(path: Path, message: dict | None = None) -> dict | None:
    """The process's reply to `message` (None: only whether it accepts a connection); only
    in the user's private directory."""
    if not privatedir.is_private(path.parent):
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    conn.settimeout(5.0)
    try:
        conn.connect(str(path))
        if message is None:
            return {}
        conn.send(json.dumps(message).encode())
        return json.loads(conn.recv(65536) or b"{}")
    except (OSError, ValueError):
        return None
    finally:
        conn.close()


def log_path(path: Path) -> Path:
    """Where the warm process of the socket `path` writes what goes wrong."""
    return path.with_name(path.name + ".log")


def start(idle_s: float) -> Warm:
    env, cwd, path = _here()
    _prune(warm_key.socket_dir())
    if _answers(path) is not None:
        return Warm(None, path)
    log = log_path(path)
    with open(log, "wb") as errors:
        os.chmod(log, 0o600)
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, "--idle", str(idle_s)],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )
    deadline = time.monotonic() + READY_WAIT_S
    while time.monotonic() < deadline:
        if _answers(path) is not None:
            return Warm(proc.pid, path)
        if proc.poll() is not None:
            detail = log.read_text(errors="replace").strip()[-500:]
            raise ChaosrunError(f"the warm process ended as it started ({log}): {detail}")
        time.sleep(0.05)
    proc.kill()
    raise ChaosrunError(f"the warm process did not listen within {READY_WAIT_S:g}s ({log})")


def _prune(directory: Path) -> None:
    """Remove the sockets no process listens on any more (one killed, or the machine
    restarted under a persistent /tmp)."""
    for entry in directory.glob("w-*"):
        if entry.suffix == ".log":
            continue
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            conn.connect(str(entry))
        except ConnectionRefusedError:
            with contextlib.suppress(OSError):
                entry.unlink()
            with contextlib.suppress(OSError):
                log_path(entry).unlink()
        except OSError:
            pass
        finally:
            conn.close()


def stop() -> dict | None:
    """Ask this directory and environment's warm process to end (after the commands it
    runs); its status, None when there is none."""
    _, _, path = _here()
    return _answers(path, {"op": "stop"}) if os.path.exists(path) else None


def status() -> dict | None:
    """This directory and environment's warm process: its pid, when it started, the
    commands it ran and runs, its idle limit; None when there is none."""
    _, _, path = _here()
    return _answers(path, {"op": "status"}) if os.path.exists(path) else None
