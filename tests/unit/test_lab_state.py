"""Which lab a command talks to: explicit settings, else what the running lab recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosrun.lab import state
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAOSRUN_LAB_STATE_ROOT", str(tmp_path))
    for var in ("NAME", "SUBNET", "PORT_BASE", "HOSTS"):
        monkeypatch.delenv(f"CHAOSRUN_LAB_{var}", raising=False)


def record(name: str, **values: object) -> None:
    state.save_state(LabPaths.of(LabConfig(name=name)), {"name": name, **values})


def test_defaults_without_a_recorded_lab() -> None:
    assert state.resolve() == LabConfig()


def test_recorded_shape_is_reused() -> None:
    record("lab", subnet="10.50.0.0/24", port_base=20000, order_hosts=12)
    lab = state.resolve()
    assert (lab.subnet, lab.port_base, lab.order_hosts) == ("10.50.0.0/24", 20000, 12)


def test_explicit_values_and_environment_win(monkeypatch: pytest.MonkeyPatch) -> None:
    record("lab", subnet="10.50.0.0/24", port_base=20000, order_hosts=12)
    assert state.resolve(order_hosts=5).order_hosts == 5
    monkeypatch.setenv("CHAOSRUN_LAB_SUBNET", "10.60.0.0/24")
    lab = state.resolve()
    assert lab.subnet == "10.60.0.0/24"
    assert lab.port_base == 20000


def test_labs_are_kept_apart_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    record("other", order_hosts=30)
    assert state.resolve().order_hosts == LabConfig().order_hosts
    monkeypatch.setenv("CHAOSRUN_LAB_NAME", "other")
    assert state.resolve().order_hosts == 30


def test_paths_live_under_the_state_root(tmp_path: Path) -> None:
    paths = LabPaths.of(LabConfig(name="x"))
    assert paths.root == tmp_path / "x"
    assert paths.key == tmp_path / "x" / "ssh" / "id_ed25519"
    assert paths.pid_file("prometheus") == tmp_path / "x" / "run" / "prometheus.pid"
