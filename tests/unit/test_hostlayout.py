"""The on-host layout: the Python side (chaosrun.base.hostlayout) and the fault role, the Ansible
side's one statement of it, name the same state directory, paths and files."""

from __future__ import annotations

from os.path import normpath
from pathlib import Path

import jinja2
import pytest
import yaml

from chaosrun.base import hostlayout as layout

COLLECTION = Path(__file__).resolve().parents[2] / "collections/ansible_collections/chaosrun/chaos"
FAULT = COLLECTION / "roles/fault"


def _entry_points() -> dict:
    specs = yaml.safe_load((FAULT / "meta/argument_specs.yml").read_text())["argument_specs"]
    return {name: spec.get("options", {}) for name, spec in specs.items()}


def _options(options: dict) -> dict:
    """Options with those nested in a `dict` option (the begin entry's settings) lifted."""
    found = dict(options)
    for spec in options.values():
        found.update(spec.get("options") or {})
    return found


def test_every_fault_entry_point_defaults_to_the_same_state_dir() -> None:
    defaults = {
        name: _options(options)["chaos_state_dir"].get("default")
        for name, options in _entry_points().items()
        if "chaos_state_dir" in _options(options)
    }
    assert defaults and set(defaults.values()) == {layout.STATE_DIR}, defaults


def test_fault_status_module_defaults_to_the_same_state_dir() -> None:
    text = (COLLECTION / "plugins/modules/fault_status.py").read_text()
    documented = text.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0]
    assert yaml.safe_load(documented)["options"]["state_dir"]["default"] == layout.STATE_DIR
    assert f'state_dir=dict(type="path", default="{layout.STATE_DIR}")' in text


@pytest.mark.parametrize("state_dir", [None, "/srv/chaos", "/srv/chaos/"])
def test_fault_role_paths_are_the_layouts(state_dir: str | None) -> None:
    """Render the role's own path expressions as Ansible would."""
    facts = yaml.safe_load((FAULT / "vars/main.yml").read_text())
    given = {"chaos_run_id": "run-1", "fault_role": "process_kill"}
    if state_dir is not None:
        given["chaos_state_dir"] = state_dir
    env = jinja2.Environment()
    # The path vars only: the role's other vars read what its begin step registered.
    paths = ("__fault_state_dir", "__fault_dir", "__fault_unit")
    rendered = {k: env.from_string(facts[k]).render(given) for k in paths}
    want = state_dir or layout.STATE_DIR
    # the same directories (the role keeps a trailing slash as given: "/srv/chaos//active")
    assert normpath(rendered["__fault_state_dir"]) == normpath(want)
    assert normpath(rendered["__fault_dir"]) == layout.fault_dir(want, "run-1", "process_kill")


def test_fault_role_files_are_the_layouts() -> None:
    """The role writes what the Python side reads: the lease beside the fault directories,
    the revert script and meta in each, the lock, the history and the freeze marker."""
    templates = FAULT / "templates"
    # arm's script and begin_arm's share these parts.
    arm = "".join((templates / f"arm-{part}.sh.j2").read_text() for part in ("lock", "claim"))
    assert f'lease="${{dir%/*}}/{layout.LEASE}"' in arm
    assert (
        f'"$dir/{layout.META}"' in arm
        and f'mv "$dir/{layout.REVERT}.tmp" "$dir/{layout.REVERT}"' in arm
    )
    assert f'exec 9>>"$state/{layout.LOCK}"' in arm
    assert f'"$state/{layout.HISTORY}"' in (templates / "revert-script.sh.j2").read_text()
    assert f"'/{layout.FROZEN}'" in (templates / "lock-check.sh.j2").read_text()
    guard = (FAULT / "files/chaosrun-boot-guard").read_text()
    assert f'"$run_dir/{layout.LEASE}" "$run_dir/{layout.LEASE_TMP}"' in guard


def test_paths_trim_a_trailing_slash() -> None:
    assert layout.lease_file("/srv/c/", "r") == "/srv/c/active/r/lease"
    assert layout.history_file("/srv/c/") == "/srv/c/history.jsonl"
    assert layout.frozen_marker("/srv/c") == "/srv/c/frozen"
    assert layout.active_root("/srv/c/") == "/srv/c/active"
