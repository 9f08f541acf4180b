"""chaosrun as a team installs it: a wheel in a fresh venv, run from the team's own repo.

The wheel is built from a copy of the checkout and installed, not editable, into a new
venv outside the checkout (dependencies from the same package index as the project's
venv). From a project made by `chaosrun init`, with the lab's inventory copied in and a
minimal environment (no ANSIBLE_CONFIG, no CHAOSRUN_* variables, another HOME), the
installed command validates, plans and runs the example experiment on the lab, renders
its report and the history. The run used the installed package's collection, and the
checkout was not touched. A second project carries its own ansible.cfg: host key
checking against its own known_hosts and a log file, both in effect during the run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.e2e]

PROJECT = Path(__file__).resolve().parents[2]
EXPERIMENT = "experiments/one-busy-core.yml"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Installed:
    """A venv with the chaosrun wheel installed, and how to run its command."""

    def __init__(self, venv: Path, home: Path) -> None:
        self.venv, self.home = venv, home
        self.site = next((venv / "lib").glob("python3*/site-packages"))

    def with_home(self, home: Path) -> Installed:
        """The same install for another user's HOME (its own ssh control sockets)."""
        home.mkdir(exist_ok=True)
        return Installed(self.venv, home)

    def env(self) -> dict[str, str]:
        # What cron or a fresh login shell gives: no variable of the checkout's tooling.
        return {
            "PATH": f"{self.venv / 'bin'}:{SYSTEM_PATH}",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
        }

    def run(self, cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.venv / "bin" / "chaosrun"), *args],
            cwd=cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _copy_checkout(dest: Path) -> None:
    """The files git would commit (tracked and new, not ignored), as a release is built."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=PROJECT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        src = PROJECT / os.fsdecode(name)
        if src.is_file():
            target = dest / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("installed")
    src, dist, venv, home = base / "src", base / "dist", base / "venv", base / "home"
    home.mkdir()
    _copy_checkout(src)
    pip = [sys.executable, "-m", "pip"]
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [*pip, "wheel", "-q", "--no-deps", str(src), "-w", str(dist)],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("chaosrun-*.whl"))
    subprocess.run(
        [*pip, "--python", str(venv / "bin" / "python"), "install", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    print(f"built and installed the wheel in {time.monotonic() - started:.0f} s")
    return Installed(venv, home)


def _checkout_state() -> tuple[str, list[tuple[str, int]]]:
    """git's view of the checkout and every file under its .chaosrun/ with its mtime."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    state = PROJECT / ".chaosrun"
    files = (
        sorted((str(p), p.stat().st_mtime_ns) for p in state.rglob("*")) if state.exists() else []
    )
    return status, files


def _project(installed: Installed, lab, where: Path) -> Path:
    made = installed.run(where.parent, "init", where.name)
    assert made.returncode == 0, made.stderr
    (where / "inventory").mkdir()
    shutil.copy(lab.inventory, where / "inventory" / "hosts")
    return where


def _journal(project: Path) -> dict:
    (journal,) = (project / ".chaosrun" / "runs").glob("*/journal.json")
    return json.loads(journal.read_text())


def test_installed_wheel_runs_from_the_teams_repo(
    installed: Installed, lab, tmp_path: Path
) -> None:
    before = _checkout_state()
    version = installed.run(tmp_path, "--version")
    bundled = installed.site / "chaosrun" / "_data" / "collections"
    assert version.returncode == 0 and f"bundled with chaosrun: {bundled}" in version.stdout

    repo = _project(installed, lab, tmp_path / "ops")
    sub = repo / "experiments"  # any directory of the repository finds the project
    checked = installed.run(sub, "validate", "one-busy-core.yml")
    assert checked.returncode == 0, checked.stderr
    planned = installed.run(repo, "plan", EXPERIMENT, "--json")
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["fault"]["role_path"].startswith(str(bundled))

    ran = installed.run(repo, "run", EXPERIMENT)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    journal = _journal(repo)
    assert journal["status"] == "passed"
    assert journal["fault"]["role_path"].startswith(str(bundled))
    # Ansible itself ran the bundled copy's tasks (runner's events name the task files).
    events = (repo / ".chaosrun" / "runs" / journal["run_id"]).rglob("job_events/*.json")
    # A line Ansible prints outside an event (a Python warning) is a verbose event, without
    # event_data.
    paths = {json.loads(e.read_text()).get("event_data", {}).get("task_path", "") for e in events}
    # cpu_stress's entry points are the hog and fault roles' shared steps: every role task
    # that ran is the bundled copy's.
    role_tasks = {p for p in paths if "/roles/" in p}
    assert role_tasks and all(p.startswith(str(bundled)) for p in role_tasks), paths
    assert not any(str(PROJECT) in p for p in paths)
    assert (repo / ".chaosrun" / "audit.jsonl").is_file()

    report = installed.run(sub, "report", journal["run_id"], "--format", "md")
    assert report.returncode == 0 and "One busy core" in report.stdout, report.stderr
    history = installed.run(sub, "history", "--format", "json")
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout)["total"] == 1

    doctor = installed.run(repo, "doctor", "-i", "inventory/hosts")
    assert doctor.returncode == 0, doctor.stdout[-2000:] + doctor.stderr[-2000:]
    _scheduled_slot_runs_as_cron_would(installed, repo, tmp_path)
    assert _checkout_state() == before


def _scheduled_slot_runs_as_cron_would(installed: Installed, repo: Path, tmp_path: Path) -> None:
    """`schedule install` for cron, then the entry's command run by hand the way cron runs
    it: a bare environment, another working directory. The slot completes an experiment."""
    (repo / "chaosrun-schedules.yml").write_text(
        "schedules:\n"
        "  - name: busy-core\n"
        f"    experiment: {EXPERIMENT}\n"
        "    inventory: inventory/hosts\n"
        "    cron: '@daily'\n"
    )
    cron_file = tmp_path / "cron.d" / "chaosrun"
    done = installed.run(
        repo, "schedule", "install", "--backend", "cron", "--cron-file", str(cron_file)
    )
    assert done.returncode == 0, done.stderr
    [line] = [x for x in cron_file.read_text().splitlines() if x.startswith("@daily root ")]
    command = line.removeprefix("@daily root ").replace("\\%", "%")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bare = [
        "env",
        "-i",
        f"HOME={installed.home}",
        "LOGNAME=root",
        "SHELL=/bin/sh",
        "PATH=/usr/bin:/bin",
    ]
    subprocess.run([*bare, "/bin/sh", "-c", command], cwd=elsewhere, timeout=600)
    journals = sorted((repo / ".chaosrun" / "runs").glob("*/journal.json"))
    assert len(journals) == 2, (repo / ".chaosrun" / "schedules" / "busy-core.log").read_text()
    slot = max((json.loads(j.read_text()) for j in journals), key=lambda j: j["started_at"])
    assert slot["status"] == "passed", slot.get("abort")
    removed = installed.run(repo, "schedule", "uninstall")
    assert removed.returncode == 0 and not cron_file.exists(), removed.stderr


def test_the_teams_ansible_cfg_is_in_effect(installed: Installed, lab, tmp_path: Path) -> None:
    # A HOME of its own: no ssh connection of the first test is reused past the host keys.
    installed = installed.with_home(tmp_path / "home")
    repo = _project(installed, lab, tmp_path / "ops")
    known = repo / "known_hosts"
    known.write_text("")
    (repo / "ansible.cfg").write_text(
        "[defaults]\n"
        "host_key_checking = True\n"
        "log_path = ./ansible.log\n"
        "forks = 7\n"
        "[ssh_connection]\n"
        f"ssh_args = -o UserKnownHostsFile={known} -o ControlMaster=auto -o ControlPersist=30s\n"
    )
    # Its known_hosts knows no lab host: the run is refused before any fault (the lab
    # inventory's own known_hosts would have let it through).
    refused = installed.run(repo, "run", EXPERIMENT)
    assert refused.returncode == 4, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "host key" in (refused.stdout + refused.stderr).lower()

    shutil.copy(lab.paths.known_hosts, known)
    ran = installed.run(repo, "run", EXPERIMENT)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    log = (repo / "ansible.log").read_text()
    # The project's log_path: Ansible read this ansible.cfg, and the fault's arm step is there.
    assert "chaosrun.chaos.fault : Claim the host" in log, log[-2000:]
    journal = [j for j in (repo / ".chaosrun" / "runs").glob("*/journal.json")]
    run_dir = max(journal, key=lambda p: p.stat().st_mtime).parent
    commands = [c.read_text() for c in run_dir.rglob("artifacts/*/command")]
    assert commands and not any("--forks" in c for c in commands)  # forks = 7 holds
