"""The directory of a user's ssh ControlMaster sockets is the user's own, or nothing runs:
a listener of someone else's in place of a socket would be handed the run's commands."""

from __future__ import annotations

import configparser
import os
import stat
from pathlib import Path

import pytest

from chaosrun.base.errors import Refused
from chaosrun.hosts import hostshell


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(hostshell, "CONTROL_ROOT", str(tmp_path / "cp-{uid}"))
    return tmp_path / f"cp-{os.geteuid()}"


def test_it_is_made_private_and_holds_each_runs_directory(root: Path) -> None:
    assert hostshell.control_root() == root
    assert stat.S_IMODE(os.lstat(root).st_mode) == 0o700
    run = hostshell.run_control_dir("20261206T222742-kill-one-order-9db6")
    assert run.parent == root and len(str(run)) < len(str(root)) + 16
    shell = hostshell.HostShell([])
    assert shell.control_dir == root


def test_one_open_to_others_is_refused(root: Path) -> None:
    root.mkdir(mode=0o700)
    root.chmod(0o777)
    with pytest.raises(Refused, match=r"not a private directory of this user .*drwxrwxrwx"):
        hostshell.control_root()
    with pytest.raises(Refused):
        hostshell.run_control_dir("r1")


def test_a_link_is_refused_even_to_a_private_directory(root: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    root.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(Refused, match="not a private directory"):
        hostshell.control_root()


@pytest.mark.skipif(os.geteuid() != 0, reason="making another user's directory needs root")
def test_another_users_directory_is_refused(root: Path) -> None:
    root.mkdir(mode=0o700)
    os.chown(root, 65534, 65534)
    with pytest.raises(Refused, match="owner uid 65534"):
        hostshell.control_root()


def test_the_projects_ansible_cfg_keeps_each_users_sockets_apart() -> None:
    """Plays outside a run (the lab's site playbooks) use Ansible's control_path_dir: one
    named in /tmp would be one directory for every user of the machine."""
    cfg = configparser.ConfigParser()
    cfg.read(Path(__file__).resolve().parents[2] / "ansible.cfg")
    where = cfg.get("ssh_connection", "control_path_dir", fallback="~/.ansible/cp")
    assert where.startswith("~/")
