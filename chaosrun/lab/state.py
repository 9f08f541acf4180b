"""Where a lab keeps its files on the controller, and the lock that serialises lab commands.

The state lives in a machine-global directory (not in the checkout), so a lab brought up
from one clone of the repository is found, reused or cleaned by a run from another clone.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosrun.base.hostlayout import STATE_DIR
from chaosrun.lab.topology import LabConfig

# The lab machine is also a chaosrun host: its labs live beside its own state.
DEFAULT_STATE_ROOT = f"{STATE_DIR}/labs"

# Every process the lab starts carries this variable, so `lab down` finds strays whose
# pid file was lost (a crash between start and write, a hand-deleted state dir).
OWNER_ENV = "CHAOSRUN_LAB_STATE_DIR"


def state_root() -> Path:
    return Path(os.environ.get("CHAOSRUN_LAB_STATE_ROOT", DEFAULT_STATE_ROOT))


@dataclass(frozen=True)
class LabPaths:
    """The files of one lab on the controller."""

    root: Path

    @classmethod
    def of(cls, lab: LabConfig) -> LabPaths:
        return cls(state_root() / lab.name)

    @property
    def key(self) -> Path:
        return self.root / "ssh" / "id_ed25519"

    @property
    def authorized_keys(self) -> Path:
        return self.root / "ssh" / "authorized_keys"

    @property
    def known_hosts(self) -> Path:
        return self.root / "ssh" / "known_hosts"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def notifications(self) -> Path:
        return self.root / "webhook" / "notifications.jsonl"

    def service_dir(self, name: str) -> Path:
        return self.root / name

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"


def load_state(paths: LabPaths) -> dict[str, Any]:
    try:
        data = json.loads(paths.state_file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_state(paths: LabPaths, data: dict[str, Any]) -> None:
    paths.root.mkdir(parents=True, exist_ok=True)
    tmp = paths.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(paths.state_file)


@contextmanager
def locked(lab: LabConfig) -> Iterator[None]:
    """Hold the lab's lock: two `lab up`/`lab down` of the same lab never interleave."""
    lock_dir = Path("/run/lock") if Path("/run/lock").is_dir() else state_root()
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"chaosrun-lab-{lab.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def resolve(
    name: str | None = None,
    subnet: str | None = None,
    port_base: int | None = None,
    order_hosts: int | None = None,
    bastion: bool | None = None,
) -> LabConfig:
    """The lab's config: explicit values (options or CHAOSRUN_LAB_* variables), else what the
    running lab recorded at its last `lab up`, else the defaults. So `lab status` or a second
    `lab up` without options talks to the lab that is actually there."""
    lab = LabConfig.from_env(name=name)
    recorded = load_state(LabPaths.of(lab))

    def pick(value: object, env: str, key: str, default: object) -> object:
        if value is not None:
            return value
        if env in os.environ or key not in recorded:
            return default
        return recorded[key]

    return LabConfig.from_env(
        name=lab.name,
        subnet=pick(subnet, "CHAOSRUN_LAB_SUBNET", "subnet", lab.subnet),
        port_base=pick(port_base, "CHAOSRUN_LAB_PORT_BASE", "port_base", lab.port_base),
        order_hosts=pick(order_hosts, "CHAOSRUN_LAB_HOSTS", "order_hosts", lab.order_hosts),
        bastion=pick(bastion, "CHAOSRUN_LAB_BASTION", "bastion", lab.bastion),
    )
