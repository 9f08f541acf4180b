"""The execution environment, built by `make ee` and run the way AWX's execution nodes run a
job: ansible-runner with the EE image and podman as the process isolation executable, the
project copied into the job's private data directory, the inventory and the machine
credential's SSH key handed over as AWX hands them (the key through ssh-agent), host
networking so the lab's hosts and its Prometheus are reachable.

One job with a guardrail that breaches: the fault is injected (systemd on the host says
the unit went down), rolled back (up again, nothing left on any host), the job fails because the
experiment was aborted, and the journal is among the job's artifacts. The image is
cached by hash, so only the first run on a machine builds it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import yaml
from awxjob import PLAYBOOK, job_journals, job_stats
from safety_support import (  # noqa: F401  (fixtures)
    PROJECT,
    Project,
    project_fixture,
    safety_lab_fixture,
)

from chaosrun.lab import wait

pytestmark = [pytest.mark.lab, pytest.mark.e2e]

UNIT = "order-service.service"
EXPERIMENT = "tests/e2e/experiments/stop-one-order-breach.yml"


@pytest.fixture(scope="session")
def ee_image() -> str:
    """`make ee`: the image reference is its last line (built once, then cached)."""
    done = subprocess.run(
        ["make", "-s", "ee"], cwd=PROJECT, capture_output=True, text=True, timeout=3600
    )
    if done.returncode != 0:
        pytest.fail(f"make ee failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done.stdout.strip().splitlines()[-1]


def copy_project(dest: Path) -> None:
    """What AWX's project update puts in the job's private data dir: the repository's files
    (as in this working tree, so uncommitted changes are what is tested)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT, capture_output=True, check=True, timeout=60,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        src = PROJECT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def job_inventory(lab_inventory: Path, private: Path) -> str:
    """The lab inventory as AWX would hold it: no key file (the key comes from the machine
    credential, through ssh-agent) and a known_hosts file inside the job."""
    data = yaml.safe_load(lab_inventory.read_text())
    lab_vars = data["all"]["children"]["lab"]["vars"]
    key = Path(lab_vars.pop("ansible_ssh_private_key_file"))
    shutil.copy(key.parent / "known_hosts", private / "known_hosts")
    lab_vars["ansible_ssh_common_args"] = lab_vars["ansible_ssh_common_args"].replace(
        str(key.parent / "known_hosts"), "/runner/known_hosts"
    )
    for kind in ("prometheus", "alertmanager"):
        access = lab_vars.get(f"lab_{kind}_access")
        if access:
            _files_into_job(access, private)
    return yaml.safe_dump(data, sort_keys=False)


def _files_into_job(access: dict[str, Any], private: Path) -> None:
    """The CA and password files the lab's Prometheus needs, inside the job (as an AWX
    credential would inject them), the access block pointing there."""
    for holder, key in ((access, "ca_file"), (access.get("basic_auth") or {}, "password_file")):
        if key in holder:
            src = Path(holder[key])
            shutil.copy2(src, private / src.name)
            holder[key] = f"/runner/{src.name}"


def job_config(project: Project, private: Path) -> None:
    """The test's chaosrun.yml (Prometheus, lease), its state paths inside the job."""
    data = yaml.safe_load(project.config_file.read_text())
    data.update(
        audit={"path": "/runner/state/audit.jsonl"},
        run_dir="/runner/state/runs",
        freeze_file="/runner/state/freeze.json",
    )
    (private / "chaosrun.yml").write_text(yaml.safe_dump(data, sort_keys=False))


def run_in_ee(project: Project, private: Path, image: str, survey: dict[str, Any]) -> Any:
    private.mkdir(parents=True)
    copy_project(private / "project")
    job_config(project, private)
    key = yaml.safe_load(project.lab.inventory.read_text())["all"]["children"]["lab"]["vars"][
        "ansible_ssh_private_key_file"
    ]
    return ansible_runner.run(
        private_data_dir=str(private),
        playbook=PLAYBOOK,
        inventory=job_inventory(project.lab.inventory, private),
        extravars=survey,
        # AWX's job environment; ansible-runner would turn host key checking off otherwise.
        envvars={"CHAOSRUN_CONFIG": "/runner/chaosrun.yml", "ANSIBLE_HOST_KEY_CHECKING": "True"},
        ssh_key=Path(key).read_text(),
        process_isolation=True,
        process_isolation_executable="podman",
        container_image=image,
        # Rootful podman here: root in the container owns the job's directories, as the
        # job's user does under AWX's rootless podman.
        container_options=["--network=host", "--user=root"],
        quiet=True,
        timeout=900,
    )


def test_aborted_job_in_the_ee_rolls_back_and_fails(
    project: Project, tmp_path: Path, ee_image: str
) -> None:
    # the experiment's steady state is every order-service instance scraped as up
    wait.targets_up(project.lab.config, ["order_service"], 180)
    hosts = [f"order-{i}" for i in range(1, project.lab.config.order_hosts + 1)]
    before = {h: unit_times(project, h) for h in hosts}
    job = run_in_ee(project, tmp_path / "job", ee_image, {"chaosrun_experiment": EXPERIMENT})
    output = job.stdout.read()
    assert job.status == "failed", output[-4000:]
    stats = job_stats(job)
    assert stats.get("chaosrun_status") == "aborted", output[-4000:]
    assert stats["chaosrun_exit_code"] == 3
    # the journal and reports are among the job's artifacts
    [path] = job_journals(job)
    assert (path.parent / "report.html").is_file()
    journal = json.loads(path.read_text())
    assert stats["chaosrun_run_id"] == journal["run_id"]
    assert journal["status"] == "aborted" and journal["rollback"]["ok"] is True
    [victim] = journal["targets"]["selected"]
    # the fault was there (systemd on the victim saw the unit stop, and only there), and
    # the breach ended it long before its 60 s
    after = {h: unit_times(project, h) for h in hosts}
    assert [h for h in hosts if after[h] != before[h]] == [victim], (before, after)
    inactive_at, active_at = after[victim]
    assert 0 < active_at - inactive_at < 55, after[victim]
    assert project.lab.unit_active(victim, UNIT)
    project.assert_no_active_fault()


def unit_times(project: Project, host: str) -> tuple[float, float]:
    """When the unit last stopped and last started, on the host's monotonic clock (s)."""
    out = project.lab.on_host(
        host,
        "systemctl show -p InactiveEnterTimestampMonotonic"
        f" -p ActiveEnterTimestampMonotonic {UNIT}",
    )
    props = dict(line.split("=", 1) for line in out.splitlines())
    return (
        int(props["InactiveEnterTimestampMonotonic"]) / 1e6,
        int(props["ActiveEnterTimestampMonotonic"]) / 1e6,
    )
