"""The lab's known_hosts and the ssh line its own checks use: host keys checked, no root."""

from __future__ import annotations

from pathlib import Path

from chaosrun.lab import keys
from chaosrun.lab.state import LabPaths


def test_known_hosts_lists_each_address_once_and_is_rewritten_only_on_change(
    tmp_path: Path,
) -> None:
    paths = LabPaths(tmp_path / "lab")
    found = {"10.9.0.3": "ssh-ed25519 BBBB", "10.9.0.2": "ssh-ed25519 AAAA"}
    assert keys.write_known_hosts(paths, found) is True
    assert paths.known_hosts.read_text() == (
        "10.9.0.2 ssh-ed25519 AAAA\n10.9.0.3 ssh-ed25519 BBBB\n"
    )
    assert keys.write_known_hosts(paths, found) is False
    assert keys.write_known_hosts(paths, {"10.9.0.2": "ssh-ed25519 CCCC"}) is True
    assert paths.known_hosts.read_text() == "10.9.0.2 ssh-ed25519 CCCC\n"


def test_lab_ssh_goes_as_chaos_with_host_keys_checked(tmp_path: Path) -> None:
    paths = LabPaths(tmp_path / "lab")
    argv = keys.ssh_argv(paths, "10.9.0.2")
    assert argv[-1] == "chaos@10.9.0.2"
    assert f"UserKnownHostsFile={paths.known_hosts}" in argv
    assert "StrictHostKeyChecking=yes" in argv
