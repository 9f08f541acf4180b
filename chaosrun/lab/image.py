"""Build the lab's host image (a Debian root filesystem with systemd) and cache it by hash.

One image serves every lab host and every molecule scenario: what differs between an
order-service host and a database host is deployed later by Ansible, so the image is
built once per package list and reused until that list (or this recipe) changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from chaosrun.base.errors import ChaosrunError
from chaosrun.lab import podman

SUITE = "bookworm"
IMAGE_NAME = "localhost/chaosrun-lab-host"
CACHE_DIR = Path("/var/cache/chaosrun")

PACKAGES: tuple[str, ...] = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "sudo",
    "prometheus-node-exporter", "iproute2", "iptables", "procps", "psmisc", "kmod",
    "stress-ng", "haproxy", "postgresql", "prometheus-postgres-exporter",
    "python3-psycopg2", "curl", "ca-certificates", "dnsutils", "iperf3", "socat",
    "netcat-openbsd", "less",
)  # fmt: skip

# Units that are installed for some hosts only stay disabled until the lab enables them;
# units that cannot work in a container are masked so the host reports `running`.
DISABLED_UNITS = ("haproxy.service", "postgresql.service", "prometheus-postgres-exporter.service")
MASKED_UNITS = (
    "console-getty.service", "getty@tty1.service", "systemd-udevd.service",
    "systemd-udev-trigger.service", "systemd-remount-fs.service", "apt-daily.timer",
    "apt-daily-upgrade.timer", "fstrim.timer", "e2scrub_all.timer", "e2scrub_reap.service",
    "man-db.timer", "dpkg-db-backup.timer",
)  # fmt: skip

NODE_EXPORTER_COLLECTORS = (
    "cpu", "meminfo", "loadavg", "filesystem", "netdev", "diskstats", "filefd",
    "stat", "vmstat", "sockstat", "netstat", "pressure", "time", "uname",
)  # fmt: skip
ACCESS_USER = "chaos"  # the unprivileged user chaosrun logs in as, with passwordless sudo

# Debian's own textfile directory: chaosrun's fault role writes `chaosrun_fault_active` there.
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
NODE_EXPORTER_ARGS = (
    "--collector.disable-defaults "
    + " ".join(f"--collector.{name}" for name in NODE_EXPORTER_COLLECTORS)
    + f" --collector.textfile --collector.textfile.directory={TEXTFILE_DIR}"
)

CUSTOMIZE = f"""set -e
root="$1"
NODE_EXPORTER_ARGS="{NODE_EXPORTER_ARGS}"
chroot "$root" systemctl disable {" ".join(DISABLED_UNITS)} || true
chroot "$root" systemctl mask {" ".join(MASKED_UNITS)}
mkdir -p "$root/etc/systemd/journald.conf.d" "$root/etc/ssh/sshd_config.d" \\
  "$root/etc/systemd/system/ssh.service.d"
printf '[Journal]\\nStorage=volatile\\nRuntimeMaxUse=16M\\n' \\
  > "$root/etc/systemd/journald.conf.d/chaosrun.conf"
# Production-shaped access: root may not log in; an unprivileged user with passwordless
# sudo does everything (the lab mounts its key as that user's authorized_keys).
printf 'UseDNS no\\nPermitRootLogin no\\nMaxStartups 200\\nMaxSessions 50\\n' \\
  > "$root/etc/ssh/sshd_config.d/chaosrun.conf"
chroot "$root" useradd --create-home --shell /bin/bash {ACCESS_USER}
install -d -m 700 "$root/home/{ACCESS_USER}/.ssh"
chroot "$root" chown {ACCESS_USER}:{ACCESS_USER} /home/{ACCESS_USER}/.ssh
printf '{ACCESS_USER} ALL=(ALL:ALL) NOPASSWD: ALL\\n' > "$root/etc/sudoers.d/{ACCESS_USER}"
chmod 440 "$root/etc/sudoers.d/{ACCESS_USER}"
# Every host makes its own host keys on first boot (`lab up` reads them into known_hosts),
# as real hosts have their own.
rm -f "$root"/etc/ssh/ssh_host_*
printf '[Service]\\nExecStartPre=\\nExecStartPre=/usr/bin/ssh-keygen -A\
\\nExecStartPre=/usr/sbin/sshd -t\\n' \\
  > "$root/etc/systemd/system/ssh.service.d/host-keys.conf"
# A lean collector set: node_exporter scraped every second on dozens of hosts costs a
# core with the default set; these cover what experiments and alerts read.
printf 'ARGS="%s"\\n' "$NODE_EXPORTER_ARGS" > "$root/etc/default/prometheus-node-exporter"
mkdir -p "$root{TEXTFILE_DIR}"
rm -f "$root/etc/machine-id" && touch "$root/etc/machine-id"
rm -rf "$root/var/lib/apt/lists"/* "$root/var/cache/apt"/*.bin
"""


def recipe_hash() -> str:
    """A short hash of everything that shapes the image."""
    digest = hashlib.sha256()
    for part in (SUITE, *PACKAGES, CUSTOMIZE):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:12]


def image_ref() -> str:
    return f"{IMAGE_NAME}:{recipe_hash()}"


def _apt_sources() -> list[str]:
    """The controller's own apt sources, so the image comes from the mirror it already uses."""
    found = [str(p) for p in sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))]
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file() and legacy.read_text().strip():
        found.append(str(legacy))
    found += [str(p) for p in sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]
    if not found:
        raise ChaosrunError("no apt sources on this machine to build the lab image from")
    return found


def ensure_image(progress: Callable[[str], None] = lambda _msg: None) -> str:
    """Return the image reference, building it first if it is not cached."""
    ref = image_ref()
    if podman.image_exists(ref):
        return ref
    if not shutil.which("mmdebstrap"):
        raise ChaosrunError("mmdebstrap is not installed (Debian/Ubuntu package: mmdebstrap)")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / "image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another clone may be building the same image
        if podman.image_exists(ref):
            return ref
        progress(f"building lab image {ref} (first time only, a few minutes)")
        _build(ref)
    return ref


def _build(ref: str) -> None:
    with tempfile.TemporaryDirectory(prefix="chaosrun-image-", dir=CACHE_DIR) as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        hook = Path(tmp) / "customize.sh"
        hook.write_text(CUSTOMIZE)
        cmd = [
            "mmdebstrap", "--variant=apt", "--quiet",
            f"--include={','.join(PACKAGES)}",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            f"--customize-hook=sh {hook} \"$1\"",
            SUITE, str(tarball), *_apt_sources(),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise ChaosrunError(f"mmdebstrap failed to build the lab image:\n{tail}")
        podman.run(
            [
                "import",
                "--change",
                "CMD=/sbin/init",
                "--change",
                "STOPSIGNAL=SIGRTMIN+3",
                str(tarball),
                ref,
            ],
            timeout=600,
        )
