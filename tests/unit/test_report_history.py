"""History across runs: counts, success rate, time to recover, resilience score, trends."""

from __future__ import annotations

import json
import socket
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
import report_journals as rj

from chaosrun.base import liveness
from chaosrun.base.errors import InvalidInput
from chaosrun.report import history
from chaosrun.report.history_html import render_history
from chaosrun.report.journal import load_journal


def write_run(runs, run_id, status, *, day, title="Kill one", severity="high", ttr=3.0):
    data = rj.journal(status if status in ("passed", "failed", "aborted") else "passed")
    data.update(run_id=run_id, status=status, started_at=f"2026-11-{day:02d}T10:00:00.000Z")
    data["ended_at"] = f"2026-11-{day:02d}T10:01:00.000Z"
    data["experiment"].update(title=title, file=f"experiments/{title}.yml", severity=severity)
    data["recovery"] = {"within_s": 60, "time_to_recover_s": ttr, "recovered": True}
    (runs / run_id).mkdir(parents=True)
    (runs / run_id / "journal.json").write_text(json.dumps(data))


@pytest.fixture
def runs(tmp_path):
    runs = tmp_path / "runs"
    for day, status in enumerate(["failed", "aborted", "passed", "passed"], start=1):
        write_run(runs, f"k{day}", status, day=day, ttr=float(day))
    write_run(runs, "cpu1", "passed", day=5, title="<b>CPU</b>", severity="low", ttr=None)
    write_run(runs, "cpu2", "rollback_failed", day=6, title="<b>CPU</b>", severity="low")
    write_run(runs, "cpu3", "refused", day=7, title="<b>CPU</b>", severity="low")
    (runs / "broken").mkdir()
    (runs / "broken" / "journal.json").write_text("{not json")
    return runs


def test_counts_rate_ttr_and_score(runs):
    h = history.build_history(runs)
    assert h.total == 7 and h.executed == 6
    assert h.counts == {
        "passed": 3, "failed": 1, "aborted": 1, "rollback_failed": 1, "refused": 1, "running": 0,
        "crashed": 0,
    }  # fmt: skip
    assert h.success_rate == 0.5
    # ttr: 1, 2, 3, 4 (kill), none, 3 (cpu2), 3 (cpu3) -> mean of six values
    assert h.mean_time_to_recover_s == pytest.approx((1 + 2 + 3 + 4 + 3 + 3) / 6, abs=1e-3)
    # weights: kill runs high=3 each; cpu1 low=1; cpu2 rollback_failed low doubled=2; refused out
    assert h.resilience_score == pytest.approx(round(100 * (3 + 3 + 1) / (3 * 4 + 1 + 2), 1))
    assert len(h.skipped) == 1 and "broken" in h.skipped[0]


def test_a_running_journal_whose_controller_died_is_crashed(runs):
    dead = subprocess.Popen(["true"])
    dead.wait()  # reaped: its pid names no process now
    here = socket.gethostname()
    controllers = {
        "dead": {"host": here, "pid": dead.pid, "boot_id": liveness.boot_id()},
        "rebooted": {**liveness.identity(), "host": here, "boot_id": "another-boot"},
        "alive": {**liveness.identity(), "host": here},
        "elsewhere": {"host": "another-controller", "pid": dead.pid},
    }
    for day, (name, controller) in enumerate(controllers.items(), start=8):
        write_run(runs, name, "running", day=day)
        path = runs / name / "journal.json"
        data = json.loads(path.read_text())
        data["controller"] = controller
        path.write_text(json.dumps(data))
    h = history.build_history(runs)
    status = {r["run_id"]: r["status"] for r in h.runs}
    assert [status[n] for n in controllers] == ["crashed", "crashed", "running", "running"]
    assert (h.counts["crashed"], h.counts["running"], h.executed) == (2, 2, 6)
    assert h.success_rate == 0.5  # as without them: they tested nothing
    crashed = load_journal(runs / "dead" / "journal.json")
    assert crashed["crashed"]["reason"] == f"controller pid {dead.pid} is no longer alive"
    assert json.loads((runs / "dead" / "journal.json").read_text())["status"] == "running"


def test_trend_per_experiment(runs):
    by_key = {x.key: x for x in history.build_history(runs).experiments}
    kill = by_key["experiments/Kill one.yml"]
    assert kill.outcomes == "FAPP" and kill.trend == "improving" and kill.runs == 4
    cpu = by_key["experiments/<b>CPU</b>.yml"]
    assert cpu.outcomes == "PXR" and cpu.trend == "declining" and cpu.last_status == "refused"


def test_since_keeps_later_runs_only(runs):
    h = history.build_history(runs, since=datetime(2026, 11, 4, tzinfo=UTC))
    assert [r["run_id"] for r in h.runs] == ["k4", "cpu1", "cpu2", "cpu3"]


def test_parse_since():
    now = datetime(2026, 11, 27, tzinfo=UTC)
    assert history.parse_since("7d", now) == now - timedelta(days=7)
    assert history.parse_since("90m", now) == now - timedelta(minutes=90)
    assert history.parse_since("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="--since 'yesterday'"):
        history.parse_since("yesterday")


def test_empty_directory_has_no_score(tmp_path):
    h = history.build_history(tmp_path)
    assert h.total == 0 and h.resilience_score is None and h.success_rate is None


def test_history_html_escapes_titles_and_draws_runs(runs):
    html = render_history(history.build_history(runs))
    assert "<b>CPU</b>" not in html and "&lt;b&gt;CPU&lt;/b&gt;" in html
    assert html.count("<circle") == 7
    assert "Resilience score: 47 / 100" in html


def test_status_lists_a_crashed_run_with_the_faults_the_hosts_still_hold(tmp_path):
    from chaosrun.model import config as project_config
    from chaosrun.ops import fleet

    runs = tmp_path / "runs"
    dead = subprocess.Popen(["true"])
    dead.wait()
    now = datetime.now(UTC).isoformat()
    for name in ("crashed-1", "live-1"):
        write_run(runs, name, "running", day=1)
        path = runs / name / "journal.json"
        data = json.loads(path.read_text())
        pid = dead.pid if name == "crashed-1" else None
        data.update(started_at=now, targets={"selected": ["order-1"]})
        data["controller"] = {**liveness.identity(), "host": socket.gethostname()}
        if pid:
            data["controller"]["pid"] = pid
        path.write_text(json.dumps(data))
    cfg = project_config.parse(
        {"run_dir": str(runs)}, project_config.Located("c.yml", ""), tmp_path, None
    )
    fault = fleet.Fault("order-1", "crashed-1", "service_stop", None, None, "", False, "")
    (run,) = fleet.crashed_runs(cfg, [fault])
    assert (run["run_id"], run["faults_left_on"], run["targets"]) == (
        "crashed-1",
        ["order-1"],
        ["order-1"],
    )
    assert fleet.crashed_runs(cfg, []) == [{**run, "faults_left_on": []}]


def test_one_run_is_not_enough_for_a_score(tmp_path):
    from typer.testing import CliRunner

    from chaosrun.cli import app

    runs = tmp_path / "runs"
    write_run(runs, "only", "passed", day=1)
    h = history.build_history(runs)
    assert h.resilience_score is None
    assert h.score_text == "not enough runs for a score (1 of 5 executed runs needed)"
    out = CliRunner().invoke(app, ["history", "--runs-dir", str(runs)])
    assert out.exit_code == 0 and "not enough runs for a score" in out.stdout
    assert "Resilience score: not enough runs" in render_history(h)


def test_runs_link_to_their_reports_and_the_chart_labels_its_axes(runs, tmp_path):
    (runs / "k2" / "report.html").write_text("<html></html>")
    page_dir = tmp_path / "site"
    html = render_history(history.build_history(runs), page_dir)
    assert '<a href="../runs/k2/report.html">k2</a>' in html
    assert 'href="../runs/k1/' not in html  # no report there: no link
    assert "time to recover (s)" in html and "run started (UTC)" in html
