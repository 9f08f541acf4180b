"""The fault plays' ansible-playbook reads a started-ahead play's release vars file once,
as vars_files asks for it, and every other file as Ansible does."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader

from chaosrun.hosts import artifacts, playbook_main, runner


@pytest.fixture
def loader(monkeypatch: pytest.MonkeyPatch) -> DataLoader:
    monkeypatch.setattr(DataLoader, "load_from_file", DataLoader.load_from_file)  # undone after
    playbook_main._read_release_vars_once()
    return DataLoader()


def _as_vars_files(loader: DataLoader, path: Path) -> object:
    # How ansible-core's VariableManager reads a play's vars_files.
    return loader.load_from_file(str(path), cache="vaulted", unsafe=True, trusted_as_template=True)


def test_the_release_vars_file_is_parsed_once(loader: DataLoader, tmp_path: Path) -> None:
    release = tmp_path / playbook_main.RELEASE_VARS_NAME
    runner.write_vars(release, {"chaos_run_id": "r1", "note": "{{ not templated }}"})
    first = _as_vars_files(loader, release)
    release.write_text("chaos_run_id: changed\n")  # never rewritten once read: not read again
    assert _as_vars_files(loader, release) is first
    assert first["chaos_run_id"] == "r1" and first["note"] == "{{ not templated }}"


def test_other_files_are_read_as_ansible_reads_them(loader: DataLoader, tmp_path: Path) -> None:
    other = tmp_path / "other.vars.yml"
    other.write_text("a: 1\n")
    assert _as_vars_files(loader, other) == {"a": 1}
    other.write_text("a: 2\n")
    assert _as_vars_files(loader, other) == {"a": 2}
    # A read that is not vars_files' (it may change what it gets) is never shared either.
    release = tmp_path / playbook_main.RELEASE_VARS_NAME
    release.write_text("b: 1\n")
    assert loader.load_from_file(str(release), cache="none") == {"b": 1}
    release.write_text("b: 2\n")
    assert loader.load_from_file(str(release), cache="none") == {"b": 2}


def test_the_release_vars_file_is_one_a_sweep_removes(tmp_path: Path) -> None:
    """A killed controller's release vars (role vars, maybe secrets) are swept as extra
    vars files are (chaosrun.hosts.artifacts)."""
    release = tmp_path / "run-1" / "ansible" / "inject" / playbook_main.RELEASE_VARS_NAME
    release.parent.mkdir(parents=True)
    runner.write_vars(release, {"secret": "s3cret"})
    assert artifacts.sweep(tmp_path / "run-1") == 1
    assert not release.exists()
