"""The fast path reaches a host as Ansible does: settings read through ansible-core from
host vars and ansible.cfg, mapped onto one ssh command line and a sudo wrapper."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from chaosrun.hosts import hostaccess, hostshell
from chaosrun.hosts.hostaccess import HostInfo
from chaosrun.run import preflight


@pytest.fixture
def cfg(tmp_path: Path) -> str:
    path = tmp_path / "ansible.cfg"
    path.write_text(
        "[defaults]\nremote_user = ops\n"
        "[ssh_connection]\nssh_args = -o ControlPersist=30s -o Ciphers=aes256-ctr\n"
    )
    return str(path)


def test_settings_come_from_host_vars_then_ansible_cfg(cfg: str, tmp_path: Path) -> None:
    hv = {
        "ansible_host": "10.0.0.5",
        "ansible_port": "2222",
        "ansible_ssh_private_key_file": "keys/id",
        "ansible_ssh_common_args": "-o ProxyJump=bastion -o 'UserKnownHostsFile=/k h'",
        "ansible_ssh_extra_args": "-o Compression=yes",
        "ansible_become": "yes",
        "ansible_become_user": "app",
    }
    info = hostaccess.resolve("web-1", hv, tmp_path, cfg)
    assert info.address == "10.0.0.5" and info.port == 2222 and info.user == "ops"
    assert info.key_file == str(tmp_path / "keys" / "id")
    assert info.ssh_args == (
        "-o", "ControlPersist=30s", "-o", "Ciphers=aes256-ctr",
        "-o", "ProxyJump=bastion", "-o", "UserKnownHostsFile=/k h",
        "-o", "Compression=yes",
    )  # fmt: skip
    assert info.become and info.become_method == "sudo" and info.become_user == "app"
    assert info.host_key_checking and not info.become_password


def test_host_vars_override_the_config_and_passwords_are_only_noticed(
    cfg: str, tmp_path: Path
) -> None:
    hv = {"ansible_user": "chaos", "ansible_become_password": "s3cret"}
    info = hostaccess.resolve("db-1", hv, tmp_path, cfg)
    assert info.user == "chaos" and info.address == "db-1" and info.port is None
    assert not info.become and info.become_user == "root"
    assert info.become_password is True and "s3cret" not in repr(info)


def test_host_key_checking_off_is_read_but_never_turned_into_an_ssh_option(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ansible.cfg"
    path.write_text("[defaults]\nhost_key_checking = False\n")
    info = hostaccess.resolve("h", {}, tmp_path, str(path))
    assert info.host_key_checking is False
    argv = hostshell.HostShell([info]).argv("h")
    assert not any("StrictHostKeyChecking" in a or "/dev/null" in a for a in argv)


def test_argv_puts_the_fast_paths_options_first_and_the_host_last() -> None:
    info = HostInfo(
        "h", "10.1.1.1", "chaos", 2200, "/k/id",
        ssh_args=("-o", "ControlPersist=30s", "-o", "ProxyJump=j"),
    )  # fmt: skip
    argv = hostshell.HostShell([info], persist=600).argv("h", "-O", "exit")
    assert argv[0] == "ssh" and argv[-1] == "10.1.1.1"
    assert argv[-3:-1] == ["-O", "exit"]
    # ssh keeps the first value of an option: the fast path's own ControlPersist wins.
    assert argv.index("ControlPersist=600s") < argv.index("ControlPersist=30s")
    assert "ProxyJump=j" in argv and "BatchMode=yes" in argv
    assert argv[argv.index("-l") + 1] == "chaos" and argv[argv.index("-p") + 1] == "2200"
    assert argv[argv.index("-i") + 1] == "/k/id"


def test_become_wraps_commands_in_non_interactive_sudo() -> None:
    plain = HostInfo("a", "1.1.1.1", "root", None, None)
    sudo = HostInfo("b", "1.1.1.2", "chaos", None, None, become=True, become_user="app user")
    shell = hostshell.HostShell([plain, sudo])
    assert shell.remote("a", "/bin/sh") == "/bin/sh"
    assert shell.remote("b", "/bin/sh") == "sudo -n -u 'app user' -- /bin/sh"
    assert shell.sessions["b"].argv[-1] == "sudo -n -u 'app user' -- /bin/sh"


def test_preflight_refuses_what_the_fast_path_cannot_escalate_with() -> None:
    hosts = [
        HostInfo("ok", "1.1.1.1", "chaos", None, None, become=True),
        HostInfo("su", "1.1.1.2", "chaos", None, None, become=True, become_method="su"),
        HostInfo("pw", "1.1.1.3", "chaos", None, None, become=True, become_password=True),
    ]
    found = preflight.access_problems(hostshell.HostShell(hosts))
    assert set(found) == {"su", "pw"}
    assert "sudo only" in found["su"] and "NOPASSWD" in found["pw"]


def test_preflight_refuses_hosts_the_fast_path_cannot_reach_as_ansible_does() -> None:
    hosts = [
        HostInfo("ssh", "1.1.1.1", "chaos", None, None, connection="ssh"),
        HostInfo("local", "1.1.1.2", "chaos", None, None, connection="local"),
        HostInfo("docker", "1.1.1.3", None, None, None, connection="community.docker.docker"),
        HostInfo("pw", "1.1.1.4", "chaos", None, None, password=True),
    ]
    found = preflight.access_problems(hostshell.HostShell(hosts))
    assert set(found) == {"local", "docker", "pw"}
    assert "connection 'local' is not supported" in found["local"]
    assert "SSH password" in found["pw"]


def test_the_connection_and_the_ssh_and_sudo_programs_come_from_ansible(
    cfg: str, tmp_path: Path
) -> None:
    hv = {
        "ansible_connection": "ansible.builtin.ssh",
        "ansible_ssh_executable": "/opt/ssh/bin/ssh",
        "ansible_password": "s3cret",
    }
    info = hostaccess.resolve("web-1", hv, tmp_path, cfg)
    assert (info.connection, info.ssh_executable, info.password) == (
        "ssh",
        "/opt/ssh/bin/ssh",
        True,
    )
    assert hostshell.HostShell([info]).argv("web-1")[0] == "/opt/ssh/bin/ssh"
    local = hostaccess.resolve("here", {"ansible_connection": "local"}, tmp_path, cfg)
    assert local.connection == "local" and "s3cret" not in repr(info)
    dzdo = {"ansible_become": True, "ansible_become_exe": "/usr/bin/dzdo"}
    info = hostaccess.resolve("web-3", dzdo, tmp_path, cfg)
    remote = hostshell.HostShell([info]).remote("web-3", "/bin/sh")
    assert remote == "/usr/bin/dzdo -n -u root -- /bin/sh"
    plain = hostaccess.resolve("web-2", {}, tmp_path, cfg)
    assert (plain.connection, plain.ssh_executable, plain.password) == ("ssh", "ssh", False)


@pytest.mark.parametrize(
    ("out", "expected"),
    [
        ("could not open a shell: Host key verification failed.", "host key verification"),
        ("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@", "host key mismatch"),
        ("could not open a shell: sudo: a password is required", "sudo needs a password"),
        ("sudo: sorry, you must have a tty to run sudo", "sudo requires a tty"),
        ("", "no answer"),
    ],
)
def test_refusals_say_why_a_host_did_not_answer(out: str, expected: str) -> None:
    assert expected in hostshell.explain(out)


def _prerequisites(*prefix: str, env: dict[str, str] | None = None):
    import subprocess

    return subprocess.run(
        [*prefix, "/bin/sh", "-c", preflight.PREREQUISITES],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip


def test_prerequisites_pass_as_root_with_systemd_run() -> None:
    import os
    import shutil

    if os.geteuid() != 0 or not shutil.which("systemd-run"):
        pytest.skip("needs root and systemd-run on this machine")
    done = _prerequisites()
    assert (done.returncode, done.stdout) == (0, "")


def test_prerequisites_name_what_a_host_lacks() -> None:
    done = _prerequisites(env={"PATH": "/nonexistent"})
    assert done.returncode == preflight.LACKING_RC
    assert "no systemd-run" in done.stdout and "not root" in done.stdout


def _control_path(argv: list[str]) -> str:
    """The socket an ssh command line would use, as ssh itself expands it (`ssh -G`)."""
    out = subprocess.run(
        [argv[0], "-G", *argv[1:]], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return next(
        line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("controlpath ")
    )


def test_ansible_ssh_joins_the_masters_preflight_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.loader import connection_loader

    info = HostInfo("web-1", "10.0.0.5", "ops", 2222, None)
    shell = hostshell.HostShell([info], control_dir=tmp_path / "cp")
    control_path = shell.ansible_control_path()
    assert control_path is not None
    # What the run's reaper sets for the playbooks it starts.
    monkeypatch.setenv("ANSIBLE_SSH_CONTROL_PATH_DIR", str(tmp_path / "cp"))
    monkeypatch.setenv("ANSIBLE_SSH_CONTROL_PATH", control_path)
    conn = connection_loader.get("ssh", PlayContext(), None)
    conn.set_options(
        var_options={"ansible_host": "10.0.0.5", "ansible_port": 2222, "ansible_user": "ops"}
    )
    ansible = [a.decode() for a in conn._build_command("ssh", "ssh", "10.0.0.5", "true")]
    ours = _control_path(shell.argv("web-1"))
    assert ours.startswith(str(tmp_path / "cp") + "/e-")
    assert _control_path(ansible) == ours


def test_no_shared_masters_when_ansible_skips_host_key_checking(tmp_path: Path) -> None:
    checked = HostInfo("a", "10.0.0.1", "ops", None, None)
    unchecked = HostInfo("b", "10.0.0.2", "ops", None, None, host_key_checking=False)
    shell = hostshell.HostShell([checked, unchecked], control_dir=tmp_path / "cp")
    assert shell.ansible_control_path() is None
