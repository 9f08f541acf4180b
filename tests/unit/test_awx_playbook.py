"""playbooks/experiment.yml without a lab: the job's inputs reach `chaosrun run` as argv
elements (never through a shell), the job's result follows the exit code, and set_stats
and the run directory land where AWX looks (the job's artifacts).

A stand-in `chaosrun` records what it was given and answers as `run --json` does; the
real engine behind this playbook is exercised on the lab (tests/e2e)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import ansible_runner
import pytest

ROOT = Path(__file__).resolve().parents[2]

FAKE = """#!{python}
import json, os, sys
Path = __import__("pathlib").Path
Path({record!r}).write_text(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd(),
    "env": {{k: os.environ.get(k) for k in ("CHAOSRUN_PROJECT", "ANSIBLE_REMOTE_USER",
    "ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_HOST_KEY_CHECKING")}}}}))
rc = int(os.environ.get("FAKE_RC", "0"))
status = {{0: "passed", 3: "aborted", 4: "refused"}}[rc]
print("progress line", file=sys.stderr)
print(json.dumps({{"run_id": "r-1", "status": status, "exit_code": rc,
    "journal": "/x/r-1/journal.json", "reason": "guardrail g breached" if rc else ""}}))
sys.exit(rc)
"""


def job(tmp_path: Path, survey: dict[str, Any], rc: int = 0, cmdline: str = "") -> Any:
    record = tmp_path / "argv.json"
    fake = tmp_path / "chaosrun"
    fake.write_text(FAKE.format(python=sys.executable, record=str(record)))
    fake.chmod(0o755)
    (tmp_path / "job").mkdir(exist_ok=True)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    web-1: {ansible_host: 127.0.0.1}\n")
    result = ansible_runner.run(
        private_data_dir=str(tmp_path / "job"),
        project_dir=str(ROOT),
        playbook="playbooks/experiment.yml",
        inventory=str(inventory),
        extravars={"chaosrun_command": str(fake), **survey},
        envvars={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "FAKE_RC": str(rc)},
        cmdline=cmdline or None,
        quiet=True,
        timeout=120,
    )
    result.record = json.loads(record.read_text()) if record.exists() else None
    result.inventory_path = str(inventory)
    return result


def artifacts(result: Any) -> dict[str, Any]:
    stats = next(e["event_data"] for e in result.events if e.get("event") == "playbook_on_stats")
    return stats.get("artifact_data") or {}


def test_survey_answers_become_argv_elements(tmp_path: Path) -> None:
    nasty = "order_service:!db; touch /tmp/pwned $(id)"
    result = job(
        tmp_path,
        {
            "chaosrun_experiment": "experiments/kill-one-order.yml",
            "chaosrun_targets": nasty,
            "chaosrun_count": "2",
            "chaosrun_duration": "5s",
            "chaosrun_seed": 7,
            "chaosrun_set": "guardrails.interval=1s\n\n lease_ttl=20s \n",
            "chaosrun_schedule": "",
        },
        cmdline="-u alice",
    )
    assert result.status == "successful", result.stdout.read()[-3000:]
    argv = result.record["argv"]
    run_dir = str(Path(result.config.artifact_dir) / "chaosrun")
    assert argv == [
        "run", "--json", "--inventory", result.inventory_path, "--seed", "7",
        "--runs-dir", run_dir,
        f"--set=targets.hosts={json.dumps(nasty)}", '--set=targets.select={"count": 2}',
        "--set=duration=5s", "--set=guardrails.interval=1s", "--set=lease_ttl=20s",
        "--", "experiments/kill-one-order.yml",
    ]  # fmt: skip
    assert result.record["cwd"] == str(ROOT)
    assert result.record["env"] == {
        "CHAOSRUN_PROJECT": str(ROOT),
        "ANSIBLE_REMOTE_USER": "alice",
        # not the job's awx_display: the inner ansible-runner would wrap it in itself
        "ANSIBLE_STDOUT_CALLBACK": "default",
        # ansible-runner exports False to every job; the inner run checks host keys
        "ANSIBLE_HOST_KEY_CHECKING": "True",
    }
    assert artifacts(result) == {
        "chaosrun_run_id": "r-1",
        "chaosrun_status": "passed",
        "chaosrun_exit_code": 0,
        "chaosrun_reason": "",
        "chaosrun_journal": "/x/r-1/journal.json",
    }


def test_schedule_slot_is_passed_on(tmp_path: Path) -> None:
    result = job(
        tmp_path, {"chaosrun_experiment": "experiments/a.yml", "chaosrun_schedule": "nightly"}
    )
    assert result.status == "successful", result.stdout.read()[-3000:]
    argv = result.record["argv"]
    assert argv[argv.index("--scheduled") + 1] == "nightly"
    assert "--seed" not in argv and not [a for a in argv if a.startswith("--set")]
    assert result.record["env"]["ANSIBLE_REMOTE_USER"] is None


@pytest.mark.parametrize(("rc", "status"), [(3, "aborted"), (4, "refused")])
def test_job_fails_unless_the_run_passed(tmp_path: Path, rc: int, status: str) -> None:
    result = job(tmp_path, {"chaosrun_experiment": "experiments/a.yml"}, rc=rc)
    assert result.status == "failed"
    stats = artifacts(result)
    assert stats["chaosrun_status"] == status and stats["chaosrun_exit_code"] == rc
    assert "guardrail g breached" in stats["chaosrun_reason"]


def test_missing_experiment_fails_before_running(tmp_path: Path) -> None:
    result = job(tmp_path, {})
    assert result.status == "failed" and result.record is None
