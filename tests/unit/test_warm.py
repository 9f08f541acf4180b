"""A warm process runs a command as the command itself would, or not at all.

Real processes throughout: `chaosrun warm` starts the process, `python -m chaosrun` is the
command (its stdout and stderr pipes are what the fork writes to), and its status says
what it ran. Each test has an environment of its own (a marker variable), so no other
test's command ever finds its warm process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaosrun.base import warm_key
from chaosrun.warm import client

CHAOSRUN = [sys.executable, "-m", "chaosrun"]
SLEEPY_SSH = "#!/bin/sh\nexec sleep 5\n"  # longer than the signal takes to come


class Shell:
    """One operator's shell: a directory and an environment."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.env = {**os.environ, "CHAOSRUN_WARM_TEST": uuid.uuid4().hex}
        self.env.pop("CHAOSRUN_WARM", None)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CHAOSRUN, *args], capture_output=True, text=True, timeout=120,
            env={**self.env, **env}, cwd=self.cwd,
        )  # fmt: skip

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*CHAOSRUN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**self.env, **env}, cwd=self.cwd, start_new_session=True,
        )  # fmt: skip

    def status(self) -> dict | None:
        done = self.run("warm", "--status", "--json")
        return json.loads(done.stdout)

    def socket(self) -> Path | None:
        """The socket of the warm process this shell's commands find, if any."""
        found = self.status()
        return Path(found["socket"]) if found else None


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    here = Shell(tmp_path)
    started = here.run("warm", "--idle", "2m")
    assert started.returncode == 0, started.stderr
    assert "ready" in started.stderr
    found = here.socket()
    yield here
    if found is not None and found.exists():  # its own, even when the test changed its key
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            conn.connect(str(found))
            conn.send(json.dumps({"op": "stop"}).encode())
            conn.recv(65536)


def test_a_command_runs_in_the_fork_on_its_own_streams_with_its_exit_code(shell: Shell) -> None:
    (shell.cwd / "bad.yml").write_text("title: [unclosed\n")
    warm = shell.run("validate", "bad.yml")
    cold = shell.run("validate", "bad.yml", CHAOSRUN_WARM="0")
    assert warm.returncode == cold.returncode == 2
    assert "bad.yml" in warm.stderr and warm.stderr == cold.stderr
    assert shell.status()["served"] == 1  # the cold one was not handed over


def test_another_environment_runs_the_command_cold(shell: Shell) -> None:
    done = shell.run("validate", "missing.yml", SOME_SETTING="1")
    assert done.returncode == 2 and "missing.yml" in done.stderr
    assert shell.status()["served"] == 0


def test_a_changed_ansible_cfg_sends_commands_cold_and_the_process_away(shell: Shell) -> None:
    before = shell.socket()
    assert before is not None and before.exists()
    (shell.cwd / "ansible.cfg").write_text("[defaults]\nforks = 3\n")
    assert shell.socket() is None  # the command's key is another: nothing matches it
    assert shell.run("validate", "missing.yml").returncode == 2
    deadline = time.monotonic() + 10
    while before.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not before.exists()  # it saw the change and stopped listening
    log = before.with_name(before.name + ".log").read_text()
    assert "stops listening, changed: " in log and "ansible.cfg" in log


def test_a_request_with_another_key_forks_nothing(shell: Shell) -> None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    conn.connect(str(shell.socket()))
    request = {"op": "run", "key": "0" * 64, "argv": ["validate", "x.yml"], "cwd": "/"}
    socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
    reply = json.loads(conn.recv(65536))
    conn.close()
    assert reply == {"refused": "not the same code, settings or environment"}
    assert shell.status()["served"] == 0


def _blocked_status(shell: Shell) -> subprocess.Popen[str]:
    """`chaosrun status` on a host whose ssh answers nothing for 5 s."""
    ssh = shell.cwd / "ssh"
    ssh.write_text(SLEEPY_SSH)
    ssh.chmod(0o755)
    inventory = shell.cwd / "hosts.yml"
    inventory.write_text(f"all:\n  hosts:\n    web-1: {{ansible_ssh_executable: {ssh}}}\n")
    return shell.start("status", "-i", str(inventory))


def _running(shell: Shell, count: int, within: float = 30) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if shell.status()["running"] == count:
            return True
        time.sleep(0.2)
    return False


def test_ctrl_c_reaches_the_command_in_the_fork(shell: Shell) -> None:
    proc = _blocked_status(shell)
    assert _running(shell, 1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert _running(shell, 0, 5)


def test_a_command_killed_hangs_up_its_fork(shell: Shell) -> None:
    proc = _blocked_status(shell)
    assert _running(shell, 1)
    proc.kill()
    proc.wait(timeout=10)
    assert _running(shell, 0, 30)  # SIGHUP, as when the operator's terminal closes


def test_what_changed_under_a_warm_process_is_said_by_name_never_by_value() -> None:
    before = warm_key.facts({"TOKEN": "s3cr3t", "HOME": "/root"}, "/srv/ops")
    after = warm_key.facts({"TOKEN": "other", "HOME": "/root", "NEW": "x"}, "/srv/ops")
    said = warm_key.changes(before, after)
    assert said == "environment NEW, TOKEN"
    assert "s3cr3t" not in said and "other" not in said
    assert warm_key.changes(before, before) == "nothing"


def test_a_socket_in_a_directory_others_may_enter_is_never_handed_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(warm_key, "SOCKET_ROOT", str(tmp_path / "warm-{uid}"))
    env, cwd = warm_key.started_with()
    path = warm_key.socket_path(warm_key.key(env, cwd))
    path.parent.mkdir(mode=0o700)
    path.parent.chmod(0o777)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(path))
    listener.listen(1)
    listener.settimeout(5)
    assert client.hand_over(["validate", "x.yml"]) is None
    listener.setblocking(False)
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody connected
    # The same listener in a private directory is asked (and refuses: the command runs here).
    path.parent.chmod(0o700)
    listener.settimeout(5)

    def refuse() -> None:
        conn, _ = listener.accept()
        for fd in socket.recv_fds(conn, 65536, 3)[1]:
            os.close(fd)
        conn.send(json.dumps({"refused": "test"}).encode())
        conn.close()

    answering = threading.Thread(target=refuse)
    answering.start()
    assert client.hand_over(["validate", "x.yml"]) is None
    answering.join(10)
    assert not answering.is_alive()
    listener.close()


def test_a_warm_process_gone_after_taking_the_command_never_has_it_run_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Gone between its fork and its answer, it may have started the command: the command
    is not run here as well (exit 1, said why), unlike an explicit refusal."""
    monkeypatch.setattr(warm_key, "SOCKET_ROOT", str(tmp_path / "warm-{uid}"))
    env, cwd = warm_key.started_with()
    path = warm_key.socket_path(warm_key.key(env, cwd))
    path.parent.mkdir(mode=0o700)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(path))
    listener.listen(1)
    listener.settimeout(5)

    def vanish() -> None:
        conn, _ = listener.accept()
        for fd in socket.recv_fds(conn, 65536, 3)[1]:
            os.close(fd)
        conn.close()

    gone = threading.Thread(target=vanish)
    gone.start()
    assert client.hand_over(["run", "x.yml"]) == 1
    gone.join(10)
    listener.close()
    assert "not run here, so that it never runs twice" in capfd.readouterr().err
