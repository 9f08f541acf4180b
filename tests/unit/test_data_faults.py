"""Fast checks of the data faults (level 4): the shipped experiments validate against the
roles' argument specs, and file_corrupt's corruption helper does what it says on a real file."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
ROLES = PROJECT / "collections/ansible_collections/chaosrun/chaos/roles"
CORRUPT = ROLES / "file_corrupt/files/chaosrun-corrupt"
EXPERIMENTS = [
    "replication-pause.yml",
    "file-corrupt-lb-config.yml",
    "row-corrupt-payments.yml",
    "restore-drill.yml",
]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_shipped_data_experiment_validates(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chaosrun", "validate", str(PROJECT / "experiments" / name)],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def corrupt(path: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(CORRUPT), str(path), *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_flip_inverts_exactly_count_bytes_in_place(tmp_path: Path) -> None:
    data = bytes(range(256)) * 64
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    inode = path.stat().st_ino
    out = corrupt(path, "flip", "40", "seed-1")
    after = path.read_bytes()
    changed = [i for i, (a, b) in enumerate(zip(data, after, strict=True)) if a != b]
    assert len(changed) == 40 and all(after[i] == data[i] ^ 0xFF for i in changed)
    assert path.stat().st_ino == inode
    assert out.startswith("flipped 40 bytes at offsets " + str(changed[0]))


def test_flip_with_a_seed_is_reproducible(tmp_path: Path) -> None:
    sums = []
    for name in ("a", "b"):
        path = tmp_path / name
        path.write_bytes(b"x" * 4096)
        corrupt(path, "flip", "16", "same-seed")
        sums.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert sums[0] == sums[1]


def test_flip_of_more_bytes_than_the_file_has_flips_them_all(tmp_path: Path) -> None:
    path = tmp_path / "small"
    path.write_bytes(b"\x00\x01\x02")
    corrupt(path, "flip", "10")
    assert path.read_bytes() == b"\xff\xfe\xfd"


def test_truncate_cuts_count_bytes_off_the_end(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_bytes(b"0123456789")
    assert corrupt(path, "truncate", "4") == "truncated 10 -> 6 bytes\n"
    assert path.read_bytes() == b"012345"
    corrupt(path, "truncate", "100")
    assert path.read_bytes() == b""
