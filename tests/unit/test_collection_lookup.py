"""The collection and the Ansible configuration are the user's: Ansible's collection paths
first, the bundled copy last, an old copy refused; ansible.cfg never swapped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaosrun.base import paths
from chaosrun.base.errors import InvalidInput
from chaosrun.hosts import ansiblecfg, collection, runner

ROOT = Path(__file__).resolve().parents[2]


def user_copy(root: Path, version: str) -> Path:
    path = root / "ansible_collections" / "chaosrun" / "chaos"
    (path / "roles").mkdir(parents=True)
    (path / "MANIFEST.json").write_text(f'{{"collection_info": {{"version": "{version}"}}}}')
    return path


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory without an ansible.cfg, and no ANSIBLE_* settings."""
    for name in ("ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_bundled_copy_is_the_fallback(elsewhere: Path) -> None:
    found = collection.require()
    assert found.bundled and found.path == paths.collections_dir() / (
        "ansible_collections/chaosrun/chaos"
    )
    roots = collection.ansible_paths().split(":")
    assert roots[-1] == str(paths.collections_dir())
    assert str(elsewhere / "home" / ".ansible" / "collections") in roots


def test_a_copy_on_ansibles_paths_wins(elsewhere: Path) -> None:
    mine = user_copy(elsewhere / "cols", "99.0.0")
    (elsewhere / "ansible.cfg").write_text(f"[defaults]\ncollections_path = {elsewhere / 'cols'}\n")
    assert ansiblecfg.config_file() == elsewhere / "ansible.cfg"
    found = collection.require()
    assert found.path == mine and not found.bundled and found.version == "99.0.0"
    assert collection.ansible_paths().split(":")[0] == str(elsewhere / "cols")


def test_an_old_copy_is_refused_in_one_line(elsewhere: Path, monkeypatch) -> None:
    user_copy(elsewhere / "old", "0.0.1")
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(elsewhere / "old"))
    with pytest.raises(InvalidInput, match=r"0\.0\.1 is older than this chaosrun needs") as exc:
        collection.require()
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("found", "required", "old"),
    [
        ("0.10.0", "0.9.0", False),  # numbers, not text
        ("0.9.0", "0.10.0", True),
        ("1.2.3", "1.2.3", False),
        ("0.1.0rc1", "0.1.0", True),  # a pre-release, as packaging orders it
        ("0.2.0.dev1", "0.1.0", False),
        ("banana", "0.1.0", True),  # no version at all
    ],
)
def test_versions_compare_as_packaging_orders_them(
    found: str, required: str, old: bool, monkeypatch
) -> None:
    monkeypatch.setattr(collection, "REQUIRED", required)
    copy = collection.Collection(Path("/nowhere"), found, bundled=False)
    assert copy.too_old() is old


def test_runner_keeps_the_users_ansible_cfg(elsewhere: Path, monkeypatch) -> None:
    monkeypatch.setenv("ANSIBLE_CONFIG", str(elsewhere / "team.cfg"))
    (elsewhere / "team.cfg").write_text("[defaults]\nforks = 7\n")
    env = runner.runner_env()
    # The file Ansible picks from here, though ansible-runner starts ansible-playbook
    # elsewhere; host key checking as the user has it (ansible-runner would turn it off).
    assert env["ANSIBLE_CONFIG"] == str(elsewhere / "team.cfg")
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert env["ANSIBLE_COLLECTIONS_PATH"].endswith(str(paths.collections_dir()))
    assert runner.forks_args(20) == []  # the user's forks hold
    monkeypatch.setenv("ANSIBLE_CONFIG", str(elsewhere / "none.cfg"))
    assert runner.forks_args(20) == ["--forks", "20"]


def test_module_runs_under_ansible_by_fqcn() -> None:
    """The project's ansible.cfg finds the collection's modules by name, as AWX and runbooks
    will (the module's own behaviour is tested in the collection's tests/unit)."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "localhost", "-i", "localhost,",
         "-c", "local", "-m", "chaosrun.chaos.prometheus_probe",
         "-e", f"ansible_python_interpreter={sys.executable}",
         # Nothing listens on the discard port: the probe answers UNKNOWN, which fails it.
         "-a", json.dumps({"url": "http://127.0.0.1:9", "query": "x", "max": 0.1})],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "UNKNOWN" in proc.stdout
