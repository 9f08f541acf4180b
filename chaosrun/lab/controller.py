"""The lab's controller-side processes: Prometheus, Alertmanager, the webhook receiver and
(when its module exists) the traffic generator; their configs, ports and lifecycle."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

from chaosrun.base.paths import lab_root
from chaosrun.lab import alertmanager, preflight, processes, prometheus
from chaosrun.lab.processes import Spec
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig

# Start order; traffic last, once the services it calls are deployed.
ORDER = ("webhook", "alertmanager", "prometheus", "traffic")


def lab_env(lab: LabConfig) -> tuple[tuple[str, str], ...]:
    return (
        ("CHAOSRUN_LAB_NAME", lab.name),
        ("CHAOSRUN_LAB_SUBNET", lab.subnet),
        ("CHAOSRUN_LAB_PORT_BASE", str(lab.port_base)),
        ("CHAOSRUN_LAB_HOSTS", str(lab.order_hosts)),
    )


def _module_spec(name: str, module: str, lab: LabConfig, args: tuple[str, ...] = ()) -> Spec:
    """A `python -m module` process; the module's source hash is part of its fingerprint,
    so `lab up` restarts it after its code changed."""
    found = importlib.util.find_spec(module)
    origin = Path(found.origin) if found and found.origin else None
    code = hashlib.sha256(origin.read_bytes()).hexdigest()[:12] if origin else ""
    env = (*lab_env(lab), ("CHAOSRUN_LAB_CODE", code))
    return Spec(name, (sys.executable, "-m", module, *args), env, str(lab_root()))


def has_traffic() -> bool:
    return importlib.util.find_spec("chaosrun.lab.traffic") is not None


def specs(lab: LabConfig, paths: LabPaths) -> dict[str, Spec]:
    """Every process the lab wants, by name."""
    found = {
        "webhook": _module_spec(
            "webhook",
            "chaosrun.lab.webhook",
            lab,
            ("--port", str(lab.webhook_port), "--file", str(paths.notifications)),
        ),
        "alertmanager": alertmanager.spec(lab, paths),
        "prometheus": prometheus.spec(lab, paths),
    }
    if has_traffic():
        found["traffic"] = _module_spec("traffic", "chaosrun.lab.traffic", lab)
    return found


def ports(lab: LabConfig) -> dict[str, int]:
    return {
        "webhook": lab.webhook_port,
        "alertmanager": lab.alertmanager_port,
        "prometheus": lab.prometheus_port,
        "traffic": lab.traffic_port,
    }


def write_configs(lab: LabConfig, paths: LabPaths) -> set[str]:
    """Write the generated configs; return the names whose config text changed."""
    changed = set()
    texts = {
        "prometheus": ("prometheus.yml", prometheus.render(lab)),
        "alertmanager": ("alertmanager.yml", alertmanager.render(lab)),
    }
    for name, (filename, text) in texts.items():
        path = paths.service_dir(name) / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            changed.add(name)
    return changed


def check_ports(lab: LabConfig, paths: LabPaths, names: list[str]) -> None:
    """Refuse before starting anything if a port we need is held by someone else."""
    for name in names:
        running = processes.read(paths, name)
        if running and running.alive:
            continue  # ours: it is replaced in place, after its port is released
        preflight.require_port_free(ports(lab)[name], name)


def ensure(lab: LabConfig, paths: LabPaths, names: list[str]) -> list[str]:
    """Start (or restart, if its command changed) the named processes; return those started."""
    wanted = specs(lab, paths)
    names = [n for n in ORDER if n in names and n in wanted]
    check_ports(lab, paths, names)
    return [name for name in names if processes.ensure(paths, wanted[name])]


def stop_strays(paths: LabPaths) -> list[int]:
    """Stop processes of this lab that no pid file knows (their state was lost): they would
    hold the lab's ports and make a fresh start fail."""
    known = []
    for name in ORDER:
        running = processes.read(paths, name)
        if running and running.alive:
            known.append(running.pid)
    found = processes.strays(paths, known)
    for pid in found:
        processes.terminate(pid)
    return found


def stop_all(paths: LabPaths) -> list[str]:
    """Stop every process of the lab: by pid file, then any stray carrying the lab's marker."""
    stopped = [name for name in reversed(ORDER) if processes.stop(paths, name)]
    for pid in processes.strays(paths):
        processes.terminate(pid)
        stopped.append(f"pid {pid}")
    return stopped


def status(lab: LabConfig, paths: LabPaths) -> list[dict[str, object]]:
    rows = []
    for name, spec in specs(lab, paths).items():
        running = processes.read(paths, name)
        alive = bool(running and running.alive)
        current = alive and running is not None and running.fingerprint == spec.fingerprint
        rows.append(
            {
                "name": name,
                "pid": running.pid if alive and running else None,
                "running": alive,
                "current": current,
                "port": ports(lab)[name],
                "log": str(paths.log_file(name)),
            }
        )
    return rows
