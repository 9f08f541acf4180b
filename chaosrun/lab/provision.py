"""Deploy the lab's system (services, load balancer, databases) with `playbooks/lab/site.yml`.

The playbook belongs to the project; the lab runs it with the project's ansible.cfg and
the lab inventory, and re-runs it only when hosts changed or the playbooks changed, so a
second `lab up` does not touch the hosts.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from chaosrun.base.errors import ChaosrunError
from chaosrun.base.paths import lab_root
from chaosrun.lab import processes
from chaosrun.lab.state import OWNER_ENV, LabPaths
from chaosrun.lab.topology import LabConfig

PLAYBOOK = Path("playbooks") / "lab" / "site.yml"
# What the deployment depends on, relative to the project root.
INPUTS = (Path("playbooks") / "lab", Path("etc") / "lab")


def playbook(root: Path | None = None) -> Path | None:
    path = (root or lab_root()) / PLAYBOOK
    return path if path.is_file() else None


def inputs_hash(lab: LabConfig, root: Path | None = None) -> str:
    """A hash of every file the deployment reads, and of the lab's shape."""
    base = root or lab_root()
    digest = hashlib.sha256(repr((lab.name, lab.subnet, lab.order_hosts)).encode())
    for top in INPUTS:
        for path in sorted((base / top).rglob("*")) if (base / top).is_dir() else []:
            if path.is_file():
                digest.update(str(path.relative_to(base)).encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ansible_env(paths: LabPaths, root: Path | None = None) -> dict[str, str]:
    base = root or lab_root()
    env = dict(os.environ)
    # Marked as the lab's, so an orphaned run (its `lab up` killed) is stopped as a stray by
    # the next `lab up` or `lab down` instead of deploying into a lab that moved on.
    env[OWNER_ENV] = str(paths.root)
    env["ANSIBLE_CONFIG"] = str(base / "ansible.cfg")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    return env


def orphans(inventory: Path) -> list[int]:
    """Deployments of this lab still running without their `lab up` (it was killed, maybe
    before deployments carried the lab's marker): ansible-playbook processes of the site
    playbook against this lab's inventory. The caller holds the lab's lock, so none of them
    can be a live `lab up`'s own."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        argv = processes.cmdline(int(entry.name)) or ()
        if (
            any(Path(a).name == "ansible-playbook" for a in argv[:2])
            and str(inventory) in argv
            and any(a.endswith(str(PLAYBOOK)) for a in argv)
        ):
            found.append(int(entry.name))
    return found


def run_site(
    lab: LabConfig, paths: LabPaths, inventory: Path, progress: Callable[[str], None]
) -> None:
    """Run the site playbook, streaming its task lines; raise with the tail on failure."""
    book = playbook()
    if book is None:
        return
    bin_dir = Path(sys.executable).parent
    cmd = [str(bin_dir / "ansible-playbook"), "-i", str(inventory), str(book)]
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = paths.log_file("site")
    failures: list[str] = []
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=ansible_env(paths),
            cwd=lab_root(),
        )
        assert proc.stdout is not None
        task = ""
        for line in proc.stdout:
            log.write(line)
            log.flush()  # `tail -f` the log while a slow deployment runs
            if line.startswith(("PLAY [", "TASK [")):
                task = line.strip().rstrip("*").strip()
                progress("  " + task)
            elif line.startswith(("fatal:", "failed:")):
                failures.append(f"{task}: {line.strip()[:300]}")
        code = proc.wait()
    if code != 0:
        detail = "\n".join(failures[:3]) or "no task failed; see the log"
        raise ChaosrunError(f"{PLAYBOOK} failed (exit {code}; full log {log_path}):\n{detail}")
