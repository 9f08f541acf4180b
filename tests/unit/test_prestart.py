"""A phase's playbook started ahead (chaosrun.run.prestart) waits without touching a host, runs
what the release names with the vars it brings once released, and ends touching nothing when
abandoned."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from chaosrun.hosts import runner
from chaosrun.run import prestart


@pytest.fixture
def marker_role(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A role whose entry points each leave a file named after themselves in the test's
    directory (`rollback`, `inject`, `verify`; inject fails with `marker_broken`; the file
    holds `marker_text`), and an inventory of localhost."""
    tasks = tmp_path / "roles" / "marker" / "tasks"
    tasks.mkdir(parents=True)
    for name in runner.ENTRY_POINT_ORDER:
        (tasks / f"{name}.yml").write_text(
            "- name: Fail\n  ansible.builtin.fail:\n    msg: the broken entry point\n"
            "  when: marker_broken | default(false)\n"
            f"- name: Leave the {name} marker\n"
            "  ansible.builtin.copy:\n"
            "    content: \"{{ marker_text | default('x') }}\"\n"
            f"    dest: {tmp_path}/{name}\n"
        )
    monkeypatch.setenv("ANSIBLE_ROLES_PATH", str(tmp_path / "roles"))
    inventory = tmp_path / "hosts"
    inventory.write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    return inventory


def _pending(
    inventory: Path,
    tmp_path: Path,
    wait_s: float = 120,
    finishing: runner.Finishing | None = None,
) -> prestart.Pending:
    return prestart.Pending(
        role="marker",
        hosts=1,
        inventory=inventory,
        work_dir=tmp_path / "work",
        wait_s=wait_s,
        finishing=finishing,
    )


def _waiting(pending: prestart.Pending) -> None:
    """Until the playbook waits for its release (it has started)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if _readers(pending.fifo):
            return
        time.sleep(0.1)
    raise AssertionError("the playbook never reached its release")


def test_a_released_play_runs_the_entry_points_the_release_names(
    marker_role: Path, tmp_path: Path
) -> None:
    finishing = runner.Finishing()
    pending = _pending(marker_role, tmp_path, finishing=finishing)
    _waiting(pending)
    time.sleep(1)
    assert not (tmp_path / "verify").exists()  # waiting touches no host
    assert finishing.wait(0) == []  # nothing to wait for before the release
    result = pending.release(["localhost"], ["verify"], {"marker_text": "from the release"})
    assert result is not None and result.ok, result
    assert result.hosts == {"localhost": "ok"}
    assert (tmp_path / "verify").read_text() == "from the release"
    assert not (tmp_path / "inject").exists()
    # The result came from the play's stats; the run's end waits for the process's exit.
    assert finishing.wait(120) == [] and result.exited == ("successful", 0)
    # The role's vars may hold secrets: their file went with the play.
    assert not pending.vars_file.exists()
    assert not list((tmp_path / "work").glob(f"*{runner.VARS_SUFFIX}"))


def test_a_play_released_with_a_next_stage_splits_its_result_there(
    marker_role: Path, tmp_path: Path
) -> None:
    pending = _pending(marker_role, tmp_path)
    _waiting(pending)
    first = pending.release(["localhost"], ["rollback", "inject"], {}, then=["verify"])
    assert first is not None and first.ok, first
    assert (tmp_path / "rollback").exists() and (tmp_path / "inject").exists()
    then = first.then
    assert then is not None and then.known.wait(120)
    assert then.ok and then.hosts == {"localhost": "ok"}, then
    assert (tmp_path / "verify").exists()
    # The first stage ended before the second began, its entry points in order.
    rollback, inject, verify = ((tmp_path / n).stat().st_mtime for n in runner.ENTRY_POINT_ORDER)
    assert rollback <= inject <= verify


def test_a_failed_first_stage_runs_no_next_one(marker_role: Path, tmp_path: Path) -> None:
    pending = _pending(marker_role, tmp_path)
    _waiting(pending)
    first = pending.release(["localhost"], ["inject"], {"marker_broken": True}, then=["verify"])
    assert first is not None and not first.ok
    assert first.hosts == {"localhost": "failed"}
    assert "the broken entry point" in first.messages["localhost"]
    assert first.then is not None and first.then.known.wait(120) and not first.then.ok
    assert pending.ended(120) and not (tmp_path / "verify").exists()


def test_an_abandoned_play_ends_touching_nothing(marker_role: Path, tmp_path: Path) -> None:
    pending = _pending(marker_role, tmp_path)
    _waiting(pending)
    pending.abandon()
    assert pending.ended()
    assert pending.result.status == "successful"  # released for no host: a clean end
    assert not (tmp_path / "first").exists() and not (tmp_path / "second").exists()


def test_a_play_abandoned_while_starting_is_stopped(marker_role: Path, tmp_path: Path) -> None:
    pending = _pending(marker_role, tmp_path)
    pending.abandon()  # at once: its playbook is not reading the FIFO yet
    assert pending.ended()
    assert not (tmp_path / "first").exists() and not (tmp_path / "second").exists()


def test_a_play_whose_wait_ran_out_is_not_used(marker_role: Path, tmp_path: Path) -> None:
    pending = _pending(marker_role, tmp_path, wait_s=1)
    assert pending.ended(120)  # the wait runs out and the playbook ends
    assert pending.release(["localhost"], ["inject"], {"marker_text": "late"}) is None
    assert not (tmp_path / "inject").exists() and not pending.vars_file.exists()


def _readers(fifo: Path) -> bool:
    """Whether the playbook's reader of `fifo` runs (blocked in its open: no fd yet)."""
    wanted = b"cat\x00--\x00" + str(fifo).encode() + b"\x00"
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes() == wanted:
                return True
        except OSError:
            continue
    return False


@pytest.mark.parametrize(
    ("entry_points", "then"),
    [
        (["verify", "inject"], []),
        (["inject", "rollback"], []),
        (["backup"], []),
        (["inject"], ["rollback"]),
    ],
)
def test_what_the_playbook_cannot_run_is_refused_before_a_release(
    entry_points: list[str], then: list[str]
) -> None:
    with pytest.raises(ValueError, match=r"fault\.yml cannot run"):
        runner.check_entry_points(entry_points, then)
