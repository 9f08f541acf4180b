"""File modes of what chaosrun writes: the team that runs chaos reads runs, reports and
the audit log through its group (0640 files, 0750 directories), whatever the umask;
files that hold secrets (the engine's vars files, Ansible's local temp) stay 0600/0700."""

from __future__ import annotations

import os
from pathlib import Path

GROUP_FILE = 0o640
GROUP_DIR = 0o750


def group_dirs(path: Path) -> None:
    """Create `path` and any missing parents readable by the group (existing ones keep
    their modes: the user chose them)."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=GROUP_DIR)
        except FileExistsError:
            continue  # made meanwhile by another process
        os.chmod(directory, GROUP_DIR)  # the umask may have taken the group's bits


def group_file(fd_or_path: int | Path) -> None:
    """Make a file readable by the group (a descriptor: before it is renamed into place)."""
    if isinstance(fd_or_path, int):
        os.fchmod(fd_or_path, GROUP_FILE)
    else:
        os.chmod(fd_or_path, GROUP_FILE)
