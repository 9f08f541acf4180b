"""Planning reads the project config once and parses the experiment's caps and windows
once; a drill plans its runbook's front matter without writing it anywhere."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from engine_fixtures import COLLECTIONS, GOOD, INVENTORY

from chaosrun.base.errors import InvalidInput
from chaosrun.hosts import rolespec
from chaosrun.model import config as project_config
from chaosrun.model.blast_radius import Caps
from chaosrun.plan import validation
from chaosrun.plan.planning import load_plan
from chaosrun.runbook import plan as runbook_plan

WINDOW = "blackout_windows=[{name: nightly backup, cron: '0 2 * * *', length: 1h}]"
CAPS = "blast_radius={max_percent: 40}"  # a `--set` may only tighten a cap


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the config is loaded and the experiment's caps and windows are parsed."""
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
    monkeypatch.setenv("CHAOSRUN_PROMETHEUS_URL", "http://127.0.0.1:9")
    rolespec.load_role.cache_clear()
    counts = {"config": 0, "caps": 0, "windows": 0}

    def wrap(owner, name: str, key: str, when=lambda *a, **k: True) -> None:
        real = getattr(owner, name)

        def counting(*args, **kwargs):
            counts[key] += bool(when(*args, **kwargs))
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, counting)

    wrap(project_config, "load", "config")
    wrap(validation, "parse_windows", "windows", lambda raw, *a: raw is not None)
    # the experiment's caps, not the project's (chaosrun.yml's are parsed with the config)
    wrap(
        Caps,
        "override",
        "caps",
        lambda _self, raw, *a: raw is not None and callable(a[-1]),
    )
    return counts


def test_a_plan_loads_the_config_and_parses_caps_and_windows_once(counted) -> None:
    plan = load_plan(GOOD, INVENTORY, [WINDOW, CAPS])
    assert counted == {"config": 1, "caps": 1, "windows": 1}
    assert [w.name for w in plan.config.windows][-1] == "nightly backup"
    assert plan.caps.max_percent == 40
    assert plan.caps.source_of("max_percent") == "--set blast_radius"
    decision = plan.report.blast_radius  # decided with those caps
    assert decision is not None and any(
        "max_percent 40% of 3 -> 1 (--set blast_radius)" in r for r in decision.reasons
    )


def test_a_bad_cap_and_a_bad_window_are_reported_together(counted) -> None:
    bad_window = "blackout_windows=[{name: x, cron: '0 2 * *', length: 1h}]"
    with pytest.raises(InvalidInput) as info:
        load_plan(GOOD, INVENTORY, [bad_window, "blast_radius={max_percent: 500}"])
    lines = str(info.value).splitlines()
    assert any("blast_radius.max_percent" in line for line in lines), lines
    assert any("blackout_windows" in line and "cron" in line for line in lines), lines


RUNBOOK = """\
---
fault:
  role: testns.faults.demo_fault
  vars: {demo_fault_unit: order-service.service}
targets: {hosts: order_service, select: {count: 1}}
blast_radius: {max_percent: 100}
blackout_windows:
  - {name: nightly backup, cron: '0 2 * * *', length: 1h}
---

# Demo instance down

## Detect the failure

Look at the dashboard.
"""


def test_drill_plans_its_front_matter_without_a_file(
    counted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_temporary_file(*_a, **_k):
        raise AssertionError("the drill wrote its front matter to a file")

    monkeypatch.setattr(tempfile, "mkstemp", no_temporary_file)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", no_temporary_file)
    path = tmp_path / "demo.md"
    path.write_text(RUNBOOK)
    _book, plan = runbook_plan.drill_plan(path, INVENTORY)
    assert counted == {"config": 1, "caps": 1, "windows": 1}
    assert plan.experiment.file == path and plan.caps.source_of("max_percent") == str(path)
    assert plan.config.windows[-1].name == "nightly backup"


def test_drill_messages_name_the_runbook_line(counted, tmp_path: Path) -> None:
    path = tmp_path / "demo.md"
    path.write_text(RUNBOOK.replace("max_percent: 100", "max_percent: 500"))
    with pytest.raises(InvalidInput, match=r"demo\.md:6: blast_radius\.max_percent"):
        runbook_plan.drill_plan(path, INVENTORY)


def test_a_run_warns_about_the_old_lease_key(
    counted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ttl_margin` still works, and `run` (not only validate and plan) names file:line."""
    from typer.testing import CliRunner

    from chaosrun import cli

    config = tmp_path / "chaosrun.yml"
    config.write_text(f"audit: {{path: {tmp_path / 'audit.jsonl'}}}\n")
    monkeypatch.setenv("CHAOSRUN_CONFIG", str(config))  # the refusal is audited there
    old = tmp_path / "old.yml"
    old.write_text(GOOD.read_text().replace("\nduration:", "\nttl_margin: 20s\nduration:", 1))
    line = old.read_text().splitlines().index("ttl_margin: 20s") + 1
    always = "blackout_windows=[{name: always, cron: '* * * * *', length: 1h}]"
    args = ["run", str(old), "-i", str(INVENTORY), "--runs-dir", str(tmp_path), "--set", always]
    done = CliRunner().invoke(cli.app, args)
    assert done.exit_code == 4, done.output  # refused by the window before any host is touched
    assert f"{old}:{line}: ttl_margin: deprecated, write lease_ttl" in done.stderr
    assert '"refused"' in (tmp_path / "audit.jsonl").read_text()
