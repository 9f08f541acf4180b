"""chaosrun.hosts.cachedir: a cache directory is used only as the directory that was checked:
not through a symbolic link, not after it was swapped at its path, and an entry that is a
link is never read."""

from __future__ import annotations

import os
from pathlib import Path

from chaosrun.hosts import cachedir


def test_entries_round_trip_in_a_directory_of_the_users_own(tmp_path: Path) -> None:
    held = cachedir.own(tmp_path / "a" / "b", max_entries=8)
    assert held is not None
    assert held.read("k") is None
    held.write("k", b"one")
    held.write("k", b"two")  # replaced whole
    assert held.read("k") == b"two"
    assert sorted(os.listdir(tmp_path / "a" / "b")) == ["k"]  # no temporary file left
    assert (tmp_path / "a" / "b").stat().st_mode & 0o777 == 0o700


def test_a_directory_reached_through_a_link_is_not_used(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    assert cachedir.own(tmp_path / "link", max_entries=8) is None


def test_a_directory_others_may_write_is_not_used(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert cachedir.own(shared, max_entries=8) is None


def test_a_directory_swapped_after_its_check_is_not_read_or_written(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    held = cachedir.own(path, max_entries=8)
    assert held is not None
    held.write("k", b"checked")
    # Someone who may write the parent renames the checked directory and puts theirs there.
    path.rename(tmp_path / "moved")
    path.mkdir()
    (path / "k").write_bytes(b"planted")
    assert held.read("k") == b"checked"
    held.write("j", b"new")
    assert not (path / "j").exists() and (tmp_path / "moved" / "j").read_bytes() == b"new"


def test_an_entry_that_is_a_link_is_not_read(tmp_path: Path) -> None:
    held = cachedir.own(tmp_path / "cache", max_entries=8)
    assert held is not None
    (tmp_path / "elsewhere").write_bytes(b"planted")
    (tmp_path / "cache" / "k").symlink_to(tmp_path / "elsewhere")
    assert held.read("k") is None


def test_a_directory_past_its_bound_is_emptied(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    held = cachedir.own(path, max_entries=2)
    assert held is not None
    for name in ("a", "b", "c"):
        held.write(name, b"x")
    again = cachedir.own(path, max_entries=2)
    assert again is not None and os.listdir(path) == []
