"""Health checks shown by `chaosrun lab status`, kept as a registry so each part of the lab
adds its own: a check is a function `(LabConfig, Snapshot) -> Iterable[Check]`, registered
with `@health.check`. Modules named in EXTENSIONS are imported (when they exist) before the
checks run, so the service deployment can ship its checks beside its playbooks' code."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from chaosrun.lab.topology import LabConfig

# Optional modules that register more checks (e.g. the lab services' health).
EXTENSIONS = ("chaosrun.lab.service_health",)


@dataclass(frozen=True)
class Check:
    """One health verdict: ok True/False, or None when it could not be determined."""

    name: str
    ok: bool | None
    detail: str = ""
    group: str = "lab"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Snapshot:
    """What status already gathered, so checks need not ask podman or Prometheus again."""

    hosts: list[dict[str, Any]] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] | None = None  # None: Prometheus did not answer


CheckFn = Callable[[LabConfig, Snapshot], Iterable[Check]]
_CHECKS: list[CheckFn] = []


def check(fn: CheckFn) -> CheckFn:
    """Register a health check (decorator)."""
    if fn not in _CHECKS:
        _CHECKS.append(fn)
    return fn


def registered() -> list[CheckFn]:
    for module in EXTENSIONS:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    return list(_CHECKS)


def run_all(lab: LabConfig, snapshot: Snapshot) -> list[Check]:
    """Run every registered check; a check that crashes is reported, not raised."""
    results: list[Check] = []
    for fn in registered():
        try:
            results.extend(fn(lab, snapshot))
        except Exception as exc:  # a broken check must not hide the others
            results.append(Check(fn.__name__, None, f"check failed: {exc}"))
    return results


@check
def hosts_running(lab: LabConfig, snap: Snapshot) -> Iterable[Check]:
    wanted = {h.name for h in lab.hosts()}
    by_name = {h["name"]: h for h in snap.hosts}
    for name in sorted(wanted):
        host = by_name.get(name)
        if host is None:
            yield Check(f"host {name}", False, "no container", "hosts")
        elif host["state"] != "running":
            yield Check(f"host {name}", False, f"container {host['state']}", "hosts")
        else:
            ok = host["systemd"] in ("running", "degraded")
            yield Check(f"host {name}", ok, f"systemd {host['systemd']}", "hosts")


@check
def processes_running(lab: LabConfig, snap: Snapshot) -> Iterable[Check]:
    for proc in snap.processes:
        detail = f"pid {proc['pid']} on :{proc['port']}" if proc["running"] else "not running"
        if proc["running"] and not proc["current"]:
            detail += " (outdated; `lab up` restarts it)"
        yield Check(proc["name"], bool(proc["running"]), detail, "controller")


@check
def targets_up(lab: LabConfig, snap: Snapshot) -> Iterable[Check]:
    if snap.targets is None:
        yield Check("prometheus targets", None, "Prometheus did not answer", "prometheus")
        return
    jobs: dict[str, list[dict[str, Any]]] = {}
    for target in snap.targets:
        jobs.setdefault(target["job"], []).append(target)
    for job, targets in sorted(jobs.items()):
        down = sorted(t["instance"] for t in targets if t["health"] != "up")
        detail = f"{len(targets) - len(down)}/{len(targets)} up"
        if down:
            detail += f"; down: {', '.join(down)}"
        yield Check(f"job {job}", not down, detail, "prometheus")
