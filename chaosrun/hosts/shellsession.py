"""A shell kept open on a host (over SSH), so a command costs one round trip on a live
connection: no ssh client to start, no SSH session to open, no login shell.

Starting an `ssh` client per command, even on an open ControlMaster connection, costs a
process on the controller and a new session on the host; with 50 hosts on a busy
2-core controller that is most of an abort. Commands go to the shell's stdin framed by
a random end marker that carries their exit code; each runs as `/bin/sh -c` with stdin
from /dev/null, so it cannot read the stream that carries the next command.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import shlex
import subprocess
import tempfile
import threading
import time
from typing import IO


class ShellSession:
    """One long-lived shell; `run` answers (rc, output), or None when the session cannot
    take the command now (busy with another one, or dead): the caller then uses a
    one-shot command instead."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._answered = False  # the current shell answered a command: it was up
        self._lock = threading.Lock()

    def run(self, script: str, timeout: float) -> tuple[int, str] | None:
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return self._run(script, timeout)
        finally:
            self._lock.release()

    def _run(self, script: str, timeout: float) -> tuple[int, str] | None:
        proc = self._ensure()
        if proc is None or proc.stdin is None or proc.stdout is None:
            return None
        token = secrets.token_hex(8)
        command = (
            f"/bin/sh -c {shlex.quote(script)} </dev/null 2>&1; "
            f'__rc=$?; echo; echo "{token} $__rc"\n'
        )
        try:
            proc.stdin.write(command.encode())
            proc.stdin.flush()
        except OSError:  # the shell or its connection is gone
            return self._ended(proc)
        return self._read(proc, token, time.monotonic() + timeout, timeout)

    def _read(
        self, proc: subprocess.Popen[bytes], token: str, deadline: float, timeout: float
    ) -> tuple[int, str] | None:
        assert proc.stdout is not None
        fd, buf, marker = proc.stdout.fileno(), b"", f"\n{token} ".encode()
        while True:
            at = buf.find(marker)
            end = buf.find(b"\n", at + len(marker)) if at >= 0 else -1
            if end >= 0:
                self._answered = True
                rc = int(buf[at + len(marker) : end] or b"-1")
                return rc, buf[:at].decode(errors="replace").strip()
            left = deadline - time.monotonic()
            if left <= 0:
                self._drop()  # its answer would arrive as the next command's output
                return -1, f"no answer within {timeout:g}s"
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return self._ended(proc)
                buf += chunk

    def _ended(self, proc: subprocess.Popen[bytes]) -> tuple[int, str] | None:
        """The shell ended before answering. One that had answered before lost its connection:
        None, so the caller retries one-shot. One that never came up (no route, refused
        key) would fail the same way again: its exit code is the answer."""
        answered = self._answered
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)
        self._drop()
        if answered:
            return None
        rc = proc.returncode if proc.returncode is not None else -1
        why = self._why()
        return rc, f"could not open a shell: {why}" if why else "could not open a shell"

    def _why(self) -> str:
        """The last line the shell's ssh (or sudo) wrote to stderr: why it never came up."""
        if self._stderr is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            self._stderr.seek(0)
            lines = self._stderr.read()[-4096:].decode(errors="replace").strip().splitlines()
            return " ".join(line.strip() for line in lines[-3:] if line.strip())
        return ""

    def _ensure(self) -> subprocess.Popen[bytes] | None:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._answered = False
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        try:
            # A file, not a pipe nobody reads: kept only to say why a shell did not come up.
            self._stderr = tempfile.TemporaryFile(prefix="chaosrun-shell-")  # noqa: SIM115
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                start_new_session=True,  # a Ctrl-C on the terminal must not end it
                bufsize=0,
            )
        except OSError:  # no descriptor or process left: the caller goes one-shot
            self._proc = None
        return self._proc

    def _drop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)

    def close(self) -> None:
        with self._lock:
            proc = self._proc
            if proc is not None and proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # the shell ends at end of input
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=2)
            self._drop()
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None
