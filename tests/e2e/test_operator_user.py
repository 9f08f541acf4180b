"""chaosrun run by an ordinary user of the controller, as a team's operators run it.

The lab's other tests run chaosrun as root. Here a user made for the test, with a project,
an ssh key and known_hosts of their own in their home, runs an experiment on the lab after
root's runs on the same machine (with the system's python3 and this checkout's packages:
the venv's interpreter may be where only root reads): files of root's that an inventory
names are one clear error, the run passes, and what it keeps outside the project (its ssh
connections' directory) is the user's own.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from safety_support import Lab, Project, project_fixture, safety_lab_fixture, stop_one_order  # noqa: F401

from chaosrun.hosts import hostshell
from chaosrun.lab.state import LabPaths

pytestmark = [
    pytest.mark.lab,
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="making a user of the controller needs root"),
]
PROJECT = Path(__file__).resolve().parents[2]
OPERATOR = "chaosrun-op"
UNIT = "order-service.service"


@pytest.fixture
def operator() -> Iterator[pwd.struct_passwd]:
    """An ordinary user of this machine, made for the test and removed with their home."""
    subprocess.run(["userdel", "--remove", OPERATOR], capture_output=True, check=False)
    subprocess.run(
        ["useradd", "--create-home", "--shell", "/bin/sh", OPERATOR], check=True, timeout=60
    )
    user = pwd.getpwnam(OPERATOR)
    try:
        yield user
    finally:
        subprocess.run(["pkill", "-KILL", "-u", OPERATOR], capture_output=True, check=False)
        subprocess.run(["userdel", "--remove", OPERATOR], capture_output=True, check=False)
        shutil.rmtree(hostshell.CONTROL_ROOT.format(uid=user.pw_uid), ignore_errors=True)


def _own(user: pwd.struct_passwd, path: Path, mode: int) -> None:
    os.chown(path, user.pw_uid, user.pw_gid)
    path.chmod(mode)


def _project(lab: Lab, user: pwd.struct_passwd) -> tuple[Path, Path, Path]:
    """The user's project (config, experiment, inventory), ssh key, known_hosts and the lab
    Prometheus's CA and password, in their home."""
    home = Path(user.pw_dir)
    ssh, tls, project = home / ".ssh", home / "tls", home / "project"
    for path in (ssh, tls, project):
        path.mkdir(mode=0o700)
        _own(user, path, 0o700)
    paths = LabPaths.of(lab.config)
    copies = {
        paths.key: ssh / "id_ed25519",
        paths.known_hosts: ssh / "known_hosts",
        paths.root / "tls" / "ca.pem": tls / "ca.pem",
        paths.root / "tls" / "password": tls / "password",
    }
    text = lab.inventory.read_text()
    for source, copy in copies.items():
        shutil.copyfile(source, copy)
        text = text.replace(str(source), str(copy))
    inventory = project / "hosts"
    inventory.write_text(text)
    config = project / "chaosrun.yml"
    config.write_text(yaml.safe_dump({"lease": {"ttl": "15s", "renew_every": "3s"}}))
    experiment = project / "stop-one.yml"
    experiment.write_text(stop_one_order(duration="3s"))
    for path in (*copies.values(), inventory, config, experiment):
        _own(user, path, 0o600)
    return project, inventory, experiment


def _interpreter(user: pwd.struct_passwd) -> tuple[str, str]:
    """A Python the user may run, and the PYTHONPATH that gives it this checkout and the
    project venv's packages (the venv's own interpreter may live where only root reads);
    skips where the user can read neither."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    found = subprocess.run(
        [python or "python3", "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if python is None or found.stdout.strip() != str(sys.version_info[:2]):
        pytest.skip("no system python3 of the venv's version for another user")
    path = f"{PROJECT}:{sysconfig.get_paths()['purelib']}"
    probe = [python, "-c", "import chaosrun.cli, ansible_runner"]
    readable = subprocess.run(
        ["runuser", "-u", user.pw_name, "--", "env", f"PYTHONPATH={path}", *probe],
        capture_output=True, text=True, check=False, cwd="/", timeout=60,
    )  # fmt: skip
    if readable.returncode != 0:
        pytest.skip(f"the checkout is not readable by another user here: {readable.stderr[-300:]}")
    return python, path


def test_an_ordinary_user_runs_an_experiment_after_root_did(
    project: Project, operator: pwd.struct_passwd
) -> None:
    lab = project.lab
    project.status()  # root reads the fleet first: its own ssh connections' directory exists
    assert hostshell.control_root().stat().st_uid == 0
    home, (workdir, inventory, experiment) = Path(operator.pw_dir), _project(lab, operator)
    python, pythonpath = _interpreter(operator)
    env = {
        "PYTHONPATH": pythonpath,
        "HOME": str(home),
        "USER": OPERATOR,
        "LOGNAME": OPERATOR,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
    }
    as_operator = ["runuser", "-u", OPERATOR, "--", "env", "-i"]
    as_operator += [f"{k}={v}" for k, v in env.items()]
    # The lab's own inventory names root's files (its Prometheus CA): one clear error.
    plan = [python, "-m", "chaosrun", "plan", str(experiment), "-i", str(lab.inventory)]
    done = subprocess.run(
        [*as_operator, *plan], cwd=workdir, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "ca.pem is not a readable file" in done.stderr, done.stderr[-2000:]
    argv = [python, "-m", "chaosrun", "run", str(experiment), "-i", str(inventory), "--json"]
    done = subprocess.run(
        [*as_operator, *argv], cwd=workdir, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    journal_path = Path(json.loads(done.stdout)["journal"])
    assert journal_path.is_relative_to(workdir) and journal_path.stat().st_uid == operator.pw_uid
    journal = json.loads(journal_path.read_text())
    (host,) = journal["targets"]["selected"]
    assert journal["status"] == "passed" and journal["rollback"]["revert_scripts"] == {host: "ok"}
    assert lab.unit_active(host, UNIT) and lab.active_dirs(host) == []
    own = Path(hostshell.CONTROL_ROOT.format(uid=operator.pw_uid))
    assert own.stat().st_uid == operator.pw_uid and own.stat().st_mode & 0o077 == 0
