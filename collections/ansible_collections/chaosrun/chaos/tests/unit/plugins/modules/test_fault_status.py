"""The fault_status module's listing, on a state directory laid out as the roles write it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_collections.chaosrun.chaos.plugins.modules import fault_status


def arm(state: Path, run: str, role: str, since: int, ttl: int, script: bool = True) -> Path:
    fault = state / "active" / run / role
    fault.mkdir(parents=True)
    meta = {
        "run_id": run, "role": role, "since": since, "expires_at": since + ttl,
        "controller": "10.0.0.1", "deadman_unit": f"chaosrun-deadman-{run}-{role}",
        "pre_state": {"units": ["a.service"]},
    }  # fmt: skip
    (fault / "meta.json").write_text(json.dumps(meta))
    if script:
        (fault / "revert.sh").write_text("#!/bin/sh\n")
    return fault


def test_lists_faults_with_the_lease_as_expiry(tmp_path: Path) -> None:
    arm(tmp_path, "run-b", "service_stop", since=1000, ttl=30)
    arm(tmp_path, "run-b", "process_kill", since=1001, ttl=30)
    (tmp_path / "active" / "run-b" / "lease").write_text("1100\n")
    faults = fault_status.list_faults(str(tmp_path), now=1050)
    assert [(f["run_id"], f["role"]) for f in faults] == [
        ("run-b", "service_stop"),
        ("run-b", "process_kill"),
    ]
    first = faults[0]
    assert first["expires_at"] == 1100 and first["meta_expires_at"] == 1030
    assert first["expired"] is False and first["revert_script_exists"] is True
    assert first["controller"] == "10.0.0.1" and first["pre_state"] == {"units": ["a.service"]}
    assert first["revert_script"].endswith("active/run-b/service_stop/revert.sh")


def test_expiry_without_a_lease_file_comes_from_the_meta(tmp_path: Path) -> None:
    arm(tmp_path, "run-a", "host_outage", since=1000, ttl=30)
    [fault] = fault_status.list_faults(str(tmp_path), now=2000)
    assert fault["expires_at"] == 1030 and fault["expired"] is True


def test_reports_a_failed_inject_and_a_failed_revert(tmp_path: Path) -> None:
    arm(tmp_path, "run-a", "half", since=1000, ttl=30, script=False)
    done = arm(tmp_path, "run-a", "broken", since=999, ttl=30)
    (done / "revert.failed").write_text("now")
    by_role = {f["role"]: f for f in fault_status.list_faults(str(tmp_path), now=1000)}
    assert by_role["half"]["revert_script_exists"] is False
    assert by_role["broken"]["revert_failed"] is True


def test_filters_by_run_and_tolerates_missing_or_bad_files(tmp_path: Path) -> None:
    assert fault_status.list_faults(str(tmp_path / "nothing")) == []
    arm(tmp_path, "run-a", "x", since=1, ttl=1)
    (tmp_path / "active" / "run-c" / "y").mkdir(parents=True)
    (tmp_path / "active" / "run-c" / "y" / "meta.json").write_text("{not json")
    assert [f["run_id"] for f in fault_status.list_faults(str(tmp_path), run_id="run-a")] == [
        "run-a"
    ]
    [bad] = fault_status.list_faults(str(tmp_path), run_id="run-c")
    assert bad["since"] is None and bad["expires_at"] is None and bad["expired"] is False


@pytest.mark.parametrize("count", [1, 2])
def test_history_returns_the_last_records(tmp_path: Path, count: int) -> None:
    lines = [json.dumps({"run_id": f"r{i}", "by": "deadman"}) for i in range(3)]
    (tmp_path / "history.jsonl").write_text("\n".join([*lines, "garbage"]) + "\n")
    got = fault_status.read_history(str(tmp_path), count + 1)
    assert [r["run_id"] for r in got] == [f"r{i}" for i in range(3 - count, 3)]
