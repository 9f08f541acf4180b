"""Scaffold a fault role that obeys the chaosrun contract, with its molecule scenario.

The templates in `scaffold_templates/fault/` are a complete, working example fault (it
creates a file tagged with the run id): the new role passes ansible-lint and its molecule
scenario as generated, and the user replaces the apply, revert and measure parts.
Placeholders are plain tokens (`__NAME__`, `__DASH__`, `__TITLE__`) because the files
themselves are Jinja templates and shell scripts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from chaosrun.base.errors import InvalidInput, Refused

TEMPLATES = Path(__file__).resolve().parent / "scaffold_templates" / "fault"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
# Names the collection or Ansible already use for something else.
RESERVED = frozenset({"fault", "shared", "default", "main", "all"})


@dataclass(frozen=True)
class Scaffold:
    name: str
    role_dir: Path
    scenario_dir: Path
    files: tuple[Path, ...]


def check_name(name: str) -> None:
    """Fail with one clear message unless `name` can name a role, its variables and units."""
    if not NAME_RE.match(name):
        raise InvalidInput(
            f"fault name {name!r} is invalid: use 2-40 lowercase letters, digits and "
            "underscores, starting with a letter (it prefixes the role's variables)"
        )
    if name in RESERVED:
        raise InvalidInput(f"fault name {name!r} is reserved; choose another")


def targets(project: Path, name: str) -> tuple[Path, Path]:
    """The role directory and the molecule scenario directory for `name`."""
    role = project / "collections" / "ansible_collections" / "chaosrun" / "chaos" / "roles"
    return role / name, project / "molecule" / name


def render(text: str, name: str) -> str:
    title = name.replace("_", " ").capitalize()
    return (
        text.replace("__NAME__", name)
        .replace("__DASH__", name.replace("_", "-"))
        .replace("__TITLE__", title)
    )


def plan_files(project: Path, name: str) -> list[tuple[Path, Path]]:
    """(template, destination) pairs, destinations without the `.tmpl` suffix."""
    role_dir, scenario_dir = targets(project, name)
    pairs = []
    for part, dest_root in (("role", role_dir), ("molecule", scenario_dir)):
        for template in sorted((TEMPLATES / part).rglob("*.tmpl")):
            relative = template.relative_to(TEMPLATES / part).with_suffix("")
            pairs.append((template, dest_root / relative))
    return pairs


def new_fault(project: Path, name: str) -> Scaffold:
    """Write the role and its scenario; refuse to overwrite anything that exists."""
    check_name(name)
    role_dir, scenario_dir = targets(project, name)
    if not (project / "molecule" / "shared").is_dir():
        raise InvalidInput(f"{project} is not a chaosrun project (no molecule/shared/)")
    for existing in (role_dir, scenario_dir):
        if existing.exists():
            raise Refused(f"{existing} already exists; choose another name or remove it")
    written = []
    for template, dest in plan_files(project, name):
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(render(template.read_text(), name))
        written.append(dest)
    return Scaffold(name, role_dir, scenario_dir, tuple(written))
