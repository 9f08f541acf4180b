"""`chaosrun new fault NAME`: what it writes, and how it refuses bad names and overwrites."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chaosrun.base.errors import InvalidInput, Refused
from chaosrun.ops import scaffold

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "molecule" / "shared").mkdir(parents=True)
    return tmp_path


def test_writes_a_role_with_the_three_entry_points_and_its_scenario(project: Path) -> None:
    made = scaffold.new_fault(project, "disk_flag")
    role = project / "collections/ansible_collections/chaosrun/chaos/roles/disk_flag"
    assert made.role_dir == role
    names = {p.relative_to(project).as_posix() for p in made.files}
    for tasks in ("inject", "verify", "rollback"):
        assert f"{role.relative_to(project).as_posix()}/tasks/{tasks}.yml" in names
    assert "molecule/disk_flag/molecule.yml" in names
    assert "molecule/disk_flag/measure.yml" in names
    specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]
    assert set(specs) == {"inject", "verify", "rollback"}
    assert specs["inject"]["options"]["chaos_run_id"]["required"] is True
    assert specs["inject"]["options"]["chaos_ttl"]["required"] is True
    assert specs["verify"]["options"]["disk_flag_expect"]["choices"] == ["active", "inactive"]


def test_leaves_no_placeholder_and_every_yaml_file_parses(project: Path) -> None:
    made = scaffold.new_fault(project, "disk_flag")
    for path in made.files:
        text = path.read_text()
        assert "__NAME__" not in text and "__DASH__" not in text and "__TITLE__" not in text
        if path.suffix == ".yml":
            yaml.safe_load(text)
    inject = (made.role_dir / "tasks/inject.yml").read_text()
    assert "tasks_from: begin" in inject and "tasks_from: arm" in inject
    assert "__disk_flag_pre" in inject  # internal variables carry the role's prefix
    assert "set_fact" not in inject  # derived values are role vars (vars/main.yml)


@pytest.mark.parametrize("name", ["Bad", "1abc", "has-dash", "x", "fault", "a" * 41, ""])
def test_refuses_bad_names(project: Path, name: str) -> None:
    with pytest.raises(InvalidInput, match="fault name"):
        scaffold.new_fault(project, name)


def test_refuses_to_overwrite_an_existing_role(project: Path) -> None:
    scaffold.new_fault(project, "disk_flag")
    with pytest.raises(Refused, match="already exists"):
        scaffold.new_fault(project, "disk_flag")


def test_refuses_a_directory_that_is_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a chaosrun project"):
        scaffold.new_fault(tmp_path, "disk_flag")


def test_cli_reports_a_bad_name_in_one_line_with_exit_2(project: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chaosrun", "new", "fault", "Bad-Name", "--project", str(project)],
        capture_output=True,
        text=True,
        cwd=PROJECT,
    )
    assert proc.returncode == 2
    assert "fault name 'Bad-Name' is invalid" in proc.stderr
    assert not (project / "collections").exists()


def test_cli_creates_the_files(project: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chaosrun", "new", "fault", "disk_flag", "--project", str(project)],
        capture_output=True,
        text=True,
        cwd=PROJECT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "created molecule/disk_flag/molecule.yml" in proc.stdout
    assert (project / "molecule/disk_flag/verify.yml").is_file()
