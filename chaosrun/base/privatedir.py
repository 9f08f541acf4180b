"""A directory of the user's own that nobody else may enter, made 0700 if missing.

chaosrun keeps unix sockets in such directories under /tmp (its ssh ControlMasters, its
warm process): a socket in a directory another user controls could be swapped for a
listener of theirs, which would then be handed what is sent through it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from chaosrun.base.errors import Refused


def is_private(path: Path) -> bool:
    """Whether `path` is a directory of this user's that nobody else may enter (nothing
    made)."""
    try:
        found = os.lstat(path)
    except OSError:
        return False
    return _private(found)


def _private(found: os.stat_result) -> bool:
    return (
        stat.S_ISDIR(found.st_mode) and found.st_uid == os.geteuid() and not found.st_mode & 0o077
    )


def ensure(path: Path, purpose: str) -> Path:
    """`path`, made 0700 if missing; Refused unless it is a directory of this user's that
    nobody else may enter (in sticky /tmp nobody else can move it once it is the user's).
    `purpose` says what chaosrun keeps there, for the refusal."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    found = os.lstat(path)
    if not _private(found):
        raise Refused(
            f"{path}: not a private directory of this user (owner uid {found.st_uid}, mode "
            f"{stat.filemode(found.st_mode)}); chaosrun keeps {purpose} there: remove it and "
            "run again"
        )
    return path
