"""The lab's SSH key: generated once per lab, authorised on every host, named in the inventory."""

from __future__ import annotations

import shutil
import subprocess

from chaosrun.errors import ChaosrunError
from chaosrun.lab.state import LabPaths


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


def ssh_argv(paths: LabPaths, address: str) -> list[str]:
    """An ssh command line that reaches a lab host as root with the lab's key."""
    return [
        "ssh", "-i", str(paths.key),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30",
        f"root@{address}",
    ]  # fmt: skip
