"""The collection's roles speak one dialect: the engine's `chaos_*` options declared alike
in every role's argument specs (and in the scaffold), and meta platforms that claim only
the hosts molecule runs them on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosrun.hosts import rolespec
from chaosrun.lab import image
from chaosrun.ops import scaffold

PROJECT = Path(__file__).resolve().parents[2]
ROLES = PROJECT / "collections/ansible_collections/chaosrun/chaos/roles"
# What decides how Ansible validates an option; descriptions may name a role's own use.
VALIDATION_KEYS = ("type", "required", "default", "choices", "elements", "no_log")
# The engine's options every fault role's inject validates (the engine passes them all).
INJECT_REQUIRES = {"chaos_run_id", "chaos_ttl", "chaos_state_dir", "chaos_controller"}
# Roles whose meta platforms another branch of the same change narrows.


def _specs(role_dir: Path) -> dict[str, Any]:
    data = yaml.safe_load((role_dir / "meta/argument_specs.yml").read_text()) or {}
    return dict(data.get("argument_specs") or {})


def _all_roles(scaffolded: Path) -> dict[str, Path]:
    roles = {
        p.name: p for p in sorted(ROLES.iterdir()) if (p / "meta/argument_specs.yml").is_file()
    }
    roles["(scaffold)"] = scaffolded
    return roles


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("project")
    (project / "molecule/shared").mkdir(parents=True)
    return scaffold.new_fault(project, "disk_flag").role_dir


def _fault_roles(roles: dict[str, Path]) -> dict[str, Path]:
    return {n: p for n, p in roles.items() if set(_specs(p)) == set(rolespec.ENTRY_POINTS)}


def test_every_role_declares_the_engines_options_alike_per_entry_point(scaffolded: Path) -> None:
    seen: dict[tuple[str, str], dict[str, list[str]]] = {}
    for name, path in _all_roles(scaffolded).items():
        for entry, spec in _specs(path).items():
            for option, value in ((spec or {}).get("options") or {}).items():
                if not option.startswith("chaos_"):
                    continue
                rule = json.dumps({k: value.get(k) for k in VALIDATION_KEYS}, sort_keys=True)
                seen.setdefault((entry, option), {}).setdefault(rule, []).append(name)
    differing = {
        f"{entry}.{option}": rules for (entry, option), rules in seen.items() if len(rules) > 1
    }
    assert not differing, json.dumps(differing, indent=1)
    # The check is not vacuous: the public entry points do declare them.
    assert {
        ("inject", "chaos_ttl"),
        ("verify", "chaos_run_id"),
        ("rollback", "chaos_state_dir"),
    } <= set(seen)


def test_every_fault_roles_inject_declares_the_engines_options(scaffolded: Path) -> None:
    roles = _fault_roles(_all_roles(scaffolded))
    assert len(roles) >= 17
    missing = {
        name: sorted(INJECT_REQUIRES - set(_specs(path)["inject"].get("options") or {}))
        for name, path in roles.items()
    }
    assert not {k: v for k, v in missing.items() if v}
    assert INJECT_REQUIRES <= rolespec.ENGINE_VARS


def test_meta_platforms_claim_only_the_hosts_molecule_runs(scaffolded: Path) -> None:
    claimed = {}
    for name, path in _all_roles(scaffolded).items():
        meta = yaml.safe_load((path / "meta/main.yml").read_text())
        claimed[name] = meta["galaxy_info"]["platforms"]
    wrong = {
        k: v for k, v in claimed.items() if v != [{"name": "Debian", "versions": [image.SUITE]}]
    }
    assert not wrong, wrong
