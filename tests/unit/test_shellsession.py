"""The kept-open shell the fast paths use, on a real local /bin/sh (SSH only adds the
connection): framing, exit codes, stdin isolation, timeouts, and falling back."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from chaosrun.hosts import hostshell
from chaosrun.hosts.inventory import HostInfo
from chaosrun.hosts.shellsession import ShellSession


@pytest.fixture
def session():
    s = ShellSession(["/bin/sh"])
    yield s
    s.close()


def test_answers_output_and_exit_code_of_each_command(session: ShellSession) -> None:
    assert session.run("echo one; echo two; exit 3", 5) == (3, "one\ntwo")
    assert session.run("printf 'no newline'", 5) == (0, "no newline")
    assert session.run("echo err >&2; false", 5) == (1, "err")


def test_commands_share_one_shell(session: ShellSession) -> None:
    first = session.run("echo $PPID", 5)
    second = session.run("echo $PPID", 5)
    assert first is not None and first == second


def test_a_command_cannot_read_the_next_one(session: ShellSession) -> None:
    assert session.run("cat; echo read-nothing", 5) == (0, "read-nothing")
    assert session.run("echo still-framed", 5) == (0, "still-framed")


def test_a_slow_command_times_out_and_the_next_gets_a_fresh_shell(session: ShellSession) -> None:
    started = time.monotonic()
    assert session.run("sleep 5", 0.3) == (-1, "no answer within 0.3s")
    assert time.monotonic() - started < 2
    assert session.run("echo fresh", 5) == (0, "fresh")


def test_a_busy_shell_declines(session: ShellSession) -> None:
    slow = threading.Thread(target=session.run, args=("sleep 1", 5))
    slow.start()
    time.sleep(0.2)
    assert session.run("true", 5) is None
    slow.join()


def test_a_shell_that_never_came_up_answers_its_exit_code() -> None:
    rc, out = ShellSession(["/bin/sh", "-c", "exit 255"]).run("true", 5)
    assert (rc, out) == (255, "could not open a shell")


def test_host_shell_reuses_its_shell_and_falls_back_when_busy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # "env -- CMD" stands in for "ssh ... host -- CMD": the shell runs locally.
    monkeypatch.setattr(hostshell.HostShell, "argv", lambda self, name, *extra: ["env"])
    shell = hostshell.HostShell([HostInfo("h1", "127.0.0.1", None, None, None)])
    try:
        first = shell.run_all({"h1": "echo $PPID"})["h1"]
        again = shell.run_all({"h1": "echo $PPID"})["h1"]
        assert first.rc == 0 and first.out == again.out
        busy = threading.Thread(target=shell.sessions["h1"].run, args=("sleep 1", 5))
        busy.start()
        time.sleep(0.2)
        # The one-shot path runs `env -- "/bin/sh -c ..."`: a command env cannot find.
        assert shell.run("h1", "true").rc == 127
        busy.join()
    finally:
        shell.close()


def test_a_shell_that_never_came_up_says_why() -> None:
    session = ShellSession(["/bin/sh", "-c", "echo 'Host key verification failed.' >&2; exit 255"])
    assert session.run("true", 5) == (255, "could not open a shell: Host key verification failed.")
