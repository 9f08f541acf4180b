"""The journal's writers: a mode's block, a drill's steps, baselines, a snapshot that
other threads' samples do not change, and amending a finished journal's file."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

from chaosrun.base.secrets import Redactor
from chaosrun.run import journal as journal_mod
from chaosrun.run.journal import Journal


def make(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "run", "r1", Redactor(), kind="drill")


def read(j: Journal) -> dict:
    return json.loads(j.path.read_text())


def test_a_modes_block_merges_and_steps_append_in_order(tmp_path: Path) -> None:
    j = make(tmp_path)
    j.set(runbook={"title": "T", "failed_step": None})
    j.update("runbook", failed_step=2)
    j.add_step({"number": 1, "outcome": "ok"})
    j.add_step({"number": 2, "outcome": "failed"})
    data = read(j)
    assert data["runbook"] == {"title": "T", "failed_step": 2}
    assert [s["number"] for s in data["steps"]] == [1, 2]


def test_baselines_land_on_the_named_probes_only(tmp_path: Path) -> None:
    j = make(tmp_path)
    j.probe("p99", "prometheus", "guardrail", {"max": "150%"}, "q")
    j.probe("errors", "prometheus", "steady_state", {"max": 0.01}, "q2")
    j.set_baselines({"p99": 0.2, "unknown": 1.0})
    probes = {p["name"]: p for p in read(j)["probes"]}
    assert probes["p99"]["baseline"] == 0.2 and "baseline" not in probes["errors"]


def test_a_snapshot_does_not_move_with_later_samples(tmp_path: Path) -> None:
    j = make(tmp_path)
    j.probe("pool", "prometheus", "observe", {"max": 1}, "q")
    j.sample("observe", "pool", "inject", "PASS", 0.0, "ok")
    copy = j.snapshot()
    thread = threading.Thread(
        target=j.sample, args=("observe", "pool", "observe", "BREACH", 2, "e")
    )
    thread.start()
    thread.join()
    assert len(copy["observations"][0]["samples"]) == 1
    assert len(j.snapshot()["observations"][0]["samples"]) == 2


def test_amend_adds_entries_to_a_finished_journal(tmp_path: Path) -> None:
    j = make(tmp_path)
    j.set(status="passed", ramp={"id": "r", "step": 1, "of": 2})
    assert journal_mod.amend(j.path, ramp={"id": "r", "step": 1, "of": 2, "largest": 1})
    data = read(j)
    assert data["status"] == "passed" and data["ramp"]["largest"] == 1
    assert stat.S_IMODE(j.path.stat().st_mode) & stat.S_IRGRP  # the group still reads it
    assert not journal_mod.amend(tmp_path / "missing.json", ramp={})
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    assert not journal_mod.amend(bad, ramp={}) and bad.read_text() == "[1]"
