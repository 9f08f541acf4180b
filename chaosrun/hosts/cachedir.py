"""The user's own cache directories on the controller (compiled templates, parsed YAML).

What such a directory holds is loaded as code or unpickled, so a cache is used only when
its directory is the user's alone, and it is kept small by emptying it when it has grown
past its bound (entries of versions or projects since replaced).

"The user's alone" is checked on the directory as opened, and every entry is read and
written relative to that open directory: a parent others may write (XDG_CACHE_HOME under
/tmp, say) lets them rename the checked directory away and put one of theirs at its path,
which a later open by path would follow.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path

# Opens that follow no symbolic link at the name they are given.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def directory(kind: str, *tags: str) -> Path:
    """~/.cache/chaosrun/<kind>/py<X><Y>-<tags> (XDG_CACHE_HOME when set): per user, and per
    the versions what it holds depends on."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    py = f"py{sys.version_info[0]}{sys.version_info[1]}"
    return base / "chaosrun" / kind / "-".join((py, *tags))


class Directory:
    """A cache directory held open: entries by name, read and written inside it only."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read(self, name: str) -> bytes | None:
        """The entry's bytes; None when it is missing or not a plain file of the user's."""
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=self.fd)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as entry:
            st = os.fstat(entry.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
                return None
            return entry.read()

    def write(self, name: str, data: bytes) -> None:
        """Replace the entry with `data` at once (a reader sees the old or the new whole);
        best effort: a cache that cannot be written is read as missing next time."""
        tmp = f".{name}.{os.getpid()}"
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=self.fd)  # left by a process of this pid before
        try:
            fd = os.open(tmp, _WRITE_FLAGS, 0o600, dir_fd=self.fd)
            with os.fdopen(fd, "wb") as entry:
                entry.write(data)
            os.replace(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=self.fd)

    def bound(self, max_entries: int) -> None:
        """Empty the directory when it holds more than `max_entries`."""
        with contextlib.suppress(OSError):
            names = os.listdir(self.fd)
            if len(names) > max_entries:
                for name in names:
                    with contextlib.suppress(OSError):
                        os.unlink(name, dir_fd=self.fd)


def own(path: Path, max_entries: int) -> Directory | None:
    """`path` made if needed (0700) and opened; None unless what was opened is a directory
    of the user's that no one else may write. Emptied first when it holds more than
    `max_entries`."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, _DIR_FLAGS)
    except OSError:
        return None
    st = os.fstat(fd)
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        os.close(fd)
        return None
    held = Directory(fd)
    held.bound(max_entries)
    return held
