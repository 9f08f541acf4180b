"""Which copy of the `chaosrun.chaos` collection the engine uses, found the Ansible way.

First the collection roots Ansible is configured with (ANSIBLE_COLLECTIONS_PATH, the
collections_path of the ansible.cfg in effect, then Ansible's default paths), so a team
that installed the collection (ansible-galaxy, an execution environment) runs its copy;
then the copy bundled with chaosrun. A found copy older than this engine needs is refused
with one line rather than run with roles that lack what the engine expects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from chaosrun import __version__
from chaosrun.base import paths, yamlpos
from chaosrun.base.errors import InvalidInput
from chaosrun.hosts import ansiblecfg

NAMESPACE, NAME = "chaosrun", "chaos"
FQCN = f"{NAMESPACE}.{NAME}"
# The oldest collection whose roles and modules this engine drives.
REQUIRED = __version__


@dataclass(frozen=True)
class Collection:
    """One copy of the collection on disk."""

    path: Path  # .../ansible_collections/chaosrun/chaos
    version: str
    bundled: bool

    @property
    def root(self) -> Path:
        """The collection root to put on ANSIBLE_COLLECTIONS_PATH (holds ansible_collections)."""
        return self.path.parents[2]

    def too_old(self) -> bool:
        plain = _plain(self.version), _plain(REQUIRED)
        if plain[0] is not None and plain[1] is not None:  # the usual X.Y.Z, without packaging
            return plain[0] < plain[1]
        from packaging.version import InvalidVersion, Version

        try:
            return Version(self.version) < Version(REQUIRED)
        except InvalidVersion:
            return True

    def describe(self) -> str:
        where = "bundled with chaosrun" if self.bundled else "from Ansible's collection paths"
        return f"{FQCN} {self.version} ({where}: {self.path})"


def _plain(version: str) -> tuple[int, ...] | None:
    """X.Y.Z as numbers (packaging's import costs inject's early start 10 ms); None for any
    other spelling (pre-releases, local versions), which packaging compares."""
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def _roots(base: Path) -> Path:
    return base if base.name == "ansible_collections" else base / "ansible_collections"


def _read(path: Path, bundled: bool) -> Collection | None:
    """The collection at `path` with its version (MANIFEST.json when installed by
    ansible-galaxy, galaxy.yml in a source tree), or None when there is none."""
    manifest, galaxy = path / "MANIFEST.json", path / "galaxy.yml"
    try:
        if manifest.is_file():
            info = json.loads(manifest.read_text(encoding="utf-8"))["collection_info"]
            return Collection(path, str(info["version"]), bundled)
        if galaxy.is_file():
            return Collection(path, str(yamlpos.safe_load(galaxy.read_text())["version"]), bundled)
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
        return Collection(path, "unknown", bundled)
    return None


def user_roots() -> list[Path]:
    """Ansible's configured collection roots, in its order."""
    return ansiblecfg.collections_paths()


def bundled() -> Collection | None:
    return _read(_roots(paths.collections_dir()) / NAMESPACE / NAME, bundled=True)


def find() -> Collection | None:
    """The copy Ansible finds first on its configured paths, else the bundled one."""
    ours = bundled()
    for base in user_roots():
        found = _read(_roots(base) / NAMESPACE / NAME, bundled=False)
        if found is not None:
            same = ours is not None and found.path.resolve() == ours.path.resolve()
            return ours if same else found
    return ours


def require() -> Collection:
    """The copy a run uses; InvalidInput (one line) when it is missing or too old."""
    found = find()
    if found is None:
        raise InvalidInput(f"{FQCN}: collection not found (reinstall chaosrun)")
    if found.too_old():
        raise InvalidInput(
            f"{found.path}: {FQCN} {found.version} is older than this chaosrun needs "
            f"({REQUIRED}); upgrade it or remove it to use the bundled copy"
        )
    return found


def ansible_paths() -> str:
    """ANSIBLE_COLLECTIONS_PATH for the engine's Ansible runs: the user's roots, then the
    bundled copy's, so Ansible resolves `chaosrun.chaos` to the same copy as `find()`."""
    roots = [str(p) for p in user_roots()]
    ours = bundled()
    if ours is not None and str(ours.root) not in roots:
        roots.append(str(ours.root))
    return ":".join(roots)
