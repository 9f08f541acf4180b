"""The lab's SSH keys: the user key, generated once per lab and authorised on every host for
the unprivileged access user; the hosts' own keys, read from inside each container (not over
the network) into the known_hosts file the inventory names, so host keys are checked."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from chaosrun.base.errors import ChaosrunError
from chaosrun.lab import podman
from chaosrun.lab.image import ACCESS_USER
from chaosrun.lab.state import LabPaths

HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"


def ensure_key(paths: LabPaths) -> None:
    """Create the key pair and the authorized_keys file the hosts mount, if missing."""
    if not shutil.which("ssh-keygen"):
        raise ChaosrunError("ssh-keygen is not installed (Debian/Ubuntu package: openssh-client)")
    key = paths.key
    key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not key.is_file() or not key.with_suffix(".pub").is_file():
        key.unlink(missing_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "chaosrun-lab", "-f", str(key)],
            check=True,
            capture_output=True,
        )
    public = key.with_suffix(".pub").read_text()
    if not paths.authorized_keys.is_file() or paths.authorized_keys.read_text() != public:
        paths.authorized_keys.write_text(public)
    paths.authorized_keys.chmod(0o644)
    key.chmod(0o600)


def host_key(container: str) -> str:
    """The host's public ed25519 key (type and key), read through podman, '' if not made yet."""
    proc = podman.run(["exec", container, "cat", HOST_KEY], check=False, timeout=60)
    fields = proc.stdout.split()
    return " ".join(fields[:2]) if proc.returncode == 0 and len(fields) >= 2 else ""


def write_known_hosts(paths: LabPaths, keys: dict[str, str]) -> bool:
    """known_hosts for address -> host key; rewritten only when it changes. True if it did."""
    text = "".join(f"{address} {key}\n" for address, key in sorted(keys.items()))
    path = paths.known_hosts
    if path.is_file() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True


def ssh_options(paths: LabPaths) -> list[str]:
    """Host key checking against the lab's known_hosts, as the inventory has it."""
    return [
        "-o", f"UserKnownHostsFile={paths.known_hosts}", "-o", "StrictHostKeyChecking=yes",
    ]  # fmt: skip


def ssh_argv(paths: LabPaths, address: str, jump: Sequence[str] = ()) -> list[str]:
    """An ssh command line that reaches a lab host as its access user (sudo for root);
    `jump`: the options that go through a bastion (chaosrun.lab.bastion.jump_options)."""
    return [
        "ssh", "-i", str(paths.key), *ssh_options(paths), *jump,
        "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30",
        f"{ACCESS_USER}@{address}",
    ]  # fmt: skip
