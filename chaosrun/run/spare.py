"""A spare: inject's playbook started by the warm process before the command is typed.

A warm process (chaosrun.warm.server) that served a `run` prepares the next one, once that
run ended, in a fork of its own: the guardian and inject's playbook for the same role,
inventory and project, waiting for a release exactly as a play started ahead by
chaosrun.run.early does (it touches no host before one). The next `run` typed in the same
directory and environment is handed to that fork; its Starter takes the spare when
everything the playbook read as it started is unchanged (`fingerprint`: the role and its
collection's files, the inventory's files, the vault ids, the settings Ansible starts with,
the directory), else ends it and starts its own. An inventory that is not plain files
(a script, an inventory plugin's source) may answer differently each time: no spare.

The spare's directory is named for no run (runs/.spares/<pid>-<token>); taken, it becomes
the run's, under the run's id of its launch, and its old name a link to it until the
playbook that holds paths under it ends with the run's process.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosrun.base import liveness
from chaosrun.hosts import hostshell, rolespec, runner
from chaosrun.run import prestart, reaper

SPARES = ".spares"
# How long a spare's playbook waits for its release (its process ends after it): a spare
# older than that is not taken (chaosrun.run.prestart.Pending.ended).
WAIT_S = 6 * 3600
_PLUGIN_KEY = re.compile(r"^plugin\s*:", re.MULTILINE)


@dataclass
class Spare:
    """One prepared inject playbook and its guardian, for `role` on `inventory`."""

    role: str
    inventory: Path
    run_root: Path
    fingerprint: str
    work: Path
    token: str  # its guardian's marker, and the name of its ssh masters' directory
    control_path: str | None
    guardian: reaper.Reaper
    pending: prestart.Pending

    @property
    def control_dir(self) -> Path:
        return hostshell.run_control_dir(self.token)

    def usable(self, role: str, inventory: Path, run_root: Path) -> bool:
        """Whether a run of `role` on `inventory`, kept in `run_root`, may take it."""
        if (role, inventory, run_root) != (self.role, self.inventory, self.run_root):
            return False
        return not self.pending.ended() and fingerprint(role, inventory) == self.fingerprint

    def take(self, run_dir: Path) -> None:
        """Make the spare's directory the run's `run_dir`, its old name a link to it."""
        os.rename(self.work, run_dir)
        os.symlink(os.path.relpath(run_dir, self.work.parent), self.work)
        # The playbook holds paths under the old name until it ends, with the run's process.
        atexit.register(self.work.unlink, missing_ok=True)

    def discard(self) -> None:
        """End the playbook (it touched no host) and the guardian; the directory goes."""
        self.pending.abandon()
        self.guardian.stop()
        shutil.rmtree(self.work, ignore_errors=True)


def prepare(role: str, inventory: Path, run_root: Path) -> Spare | None:
    """Start a spare for runs of `role` on `inventory` (None: that inventory gets none)."""
    found = fingerprint(role, inventory)
    if found is None:
        return None
    spares = run_root / SPARES
    spares.mkdir(parents=True, exist_ok=True, mode=0o700)
    prune(spares)
    work = spares / f"{os.getpid()}-{secrets.token_hex(4)}"
    token = f"spare-{work.name}"
    begun = prestart.begin_play(token, work / prestart.INJECT_DIR, role, inventory, WAIT_S)
    if begun is not None and not begun[1].spawned(10.0):
        begun[1].abandon()
        begun[0].stop()
        begun = None
    if begun is None:
        shutil.rmtree(work, ignore_errors=True)
        return None
    guardian, pending, control_path = begun
    return Spare(role, inventory, run_root, found, work, token, control_path, guardian, pending)


def fingerprint(role: str, inventory: Path) -> str | None:
    """A digest of what a fault playbook reads as it starts, None when it cannot be known."""
    files = inventory_files(inventory)
    role_dir = rolespec.find_role(role)
    if files is None or role_dir is None:
        return None
    digest = hashlib.sha256()
    settings = [role, str(inventory), os.getcwd(), runner.runner_env(), runner.playbook_args()]
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for path in files:
        try:
            digest.update(_stamp(path, os.stat(path)))
        except OSError:
            digest.update(f"{path} gone\n".encode())
    # The role and those it depends on: any role of its collection, and its plugins.
    collection_root = role_dir.parent.parent
    for folder in (collection_root / "roles", collection_root / "plugins"):
        _digest_tree(str(folder), digest)
    return digest.hexdigest()


def _stamp(path: Path | str, st: os.stat_result) -> bytes:
    return f"{path} {st.st_size} {st.st_mtime_ns} {st.st_ino}\n".encode()


def _digest_tree(folder: str, digest: Any) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            _digest_tree(entry.path, digest)
        else:
            with contextlib.suppress(OSError):
                digest.update(_stamp(entry.path, entry.stat()))


def inventory_files(inventory: Path) -> list[Path] | None:
    """Every file Ansible reads for `inventory` and its group_vars and host_vars; None when
    a source is not plain data (an executable script, an inventory plugin's config)."""
    if inventory.is_dir():
        sources = [p for p in sorted(inventory.iterdir()) if p.is_file()]
        files = _tree(inventory)
    elif inventory.is_file():
        sources = [inventory]
        files = [inventory, *_tree(inventory.parent / "group_vars")]
        files += _tree(inventory.parent / "host_vars")
    else:
        return None
    for source in sources:
        if os.access(source, os.X_OK):
            return None
        if source.suffix in (".yml", ".yaml"):
            with contextlib.suppress(OSError):
                if _PLUGIN_KEY.search(source.read_text(errors="replace")):
                    return None
    return files


def _tree(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        found += [Path(folder, n) for n in sorted(names)]
    return found


def prune(spares: Path) -> None:
    """Spares and links of processes that ended without removing them."""
    for entry in spares.iterdir():
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and liveness.process_start(int(pid)) is not None:
            continue
        if entry.is_symlink():
            entry.unlink(missing_ok=True)
        else:
            shutil.rmtree(entry, ignore_errors=True)
