"""Release hygiene users and Galaxy expect: one version everywhere, a real license, no
placeholder URLs, and no short option that means something else to Ansible users."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from typer.testing import CliRunner

from chaosrun import __version__
from chaosrun.cli import app

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "collections" / "ansible_collections" / "chaosrun" / "chaos"


def test_one_version_for_package_cli_and_collection() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "chaosrun.__version__"}
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    assert galaxy["version"] == __version__
    out = CliRunner().invoke(app, ["--version"])
    first, second = out.stdout.splitlines()
    assert out.exit_code == 0 and first == f"chaosrun {__version__}"
    assert second.startswith(f"collection chaosrun.chaos {__version__} (")


def test_license_matches_the_declared_one() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    assert pyproject["project"]["license"] == {"text": "Apache-2.0"}
    assert galaxy["license"] == ["Apache-2.0"]
    for license_file in (ROOT / "LICENSE", COLLECTION / "LICENSE"):
        assert (
            "Apache License" in license_file.read_text()
            and "Version 2.0" in license_file.read_text()
        )


def test_no_placeholder_urls() -> None:
    for path in (ROOT / "pyproject.toml", COLLECTION / "galaxy.yml"):
        assert "example.invalid" not in path.read_text(), path


def test_dash_e_is_not_taken() -> None:
    """`-e` is extra vars to an Ansible user: no chaosrun option claims it."""
    import click
    import typer.main

    command = typer.main.get_command(app)

    def options(cmd: click.Command):
        yield from (p for p in cmd.params if isinstance(p, click.Option))
        for sub in getattr(cmd, "commands", {}).values():
            yield from options(sub)

    taken = [opt.opts for opt in options(command) if "-e" in opt.opts]
    assert taken == []


def test_the_changelog_names_every_role_and_module() -> None:
    changelog = (COLLECTION / "CHANGELOG.md").read_text()
    parts = [p.name for p in (COLLECTION / "roles").iterdir() if p.is_dir()]
    parts += [p.stem for p in (COLLECTION / "plugins" / "modules").glob("*.py")]
    missing = [name for name in parts if f"`{name}`" not in changelog]
    assert not missing, f"CHANGELOG.md does not name: {', '.join(sorted(missing))}"
