"""The user's own cache directories on the controller (compiled templates, parsed YAML).

What such a directory holds is loaded as code or unpickled, so a cache is used only when
its directory is the user's alone, and it is kept small by emptying it when it has grown
past its bound (entries of versions or projects since replaced).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


def directory(kind: str, *tags: str) -> Path:
    """~/.cache/chaosrun/<kind>/py<X><Y>-<tags> (XDG_CACHE_HOME when set): per user, and per
    the versions what it holds depends on."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    py = f"py{sys.version_info[0]}{sys.version_info[1]}"
    return base / "chaosrun" / kind / "-".join((py, *tags))


def own(directory: Path, max_entries: int) -> bool:
    """Make `directory` (0700) if needed; whether it is the user's alone. Empties it first
    when it holds more than `max_entries`."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = directory.stat()
    except OSError:
        return False
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        return False
    _bound(directory, max_entries)
    return True


def _bound(directory: Path, max_entries: int) -> None:
    with contextlib.suppress(OSError):
        names = os.listdir(directory)
        if len(names) > max_entries:
            for name in names:
                with contextlib.suppress(OSError):
                    os.unlink(directory / name)
