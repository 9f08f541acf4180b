"""`chaosrun lab up`: make the lab exist and be healthy, changing only what is missing or stale."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chaosrun.base.errors import ChaosrunError
from chaosrun.lab import (
    api,
    bastion,
    controller,
    hosts,
    image,
    inventory,
    keys,
    network,
    preflight,
    processes,
    prometheus,
    provision,
    state,
    wait,
    webauth,
)
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig

Progress = Callable[[str], None]
WAIT_TIMEOUT = 180.0


@dataclass
class UpResult:
    inventory: Path
    created: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    reloaded: list[str] = field(default_factory=list)
    provisioned: bool = False
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(
            self.created or self.removed or self.started or self.reloaded or self.provisioned
        )


def up(
    lab: LabConfig,
    progress: Progress = lambda _m: None,
    provision_mode: bool | None = None,
    wait_timeout: float = WAIT_TIMEOUT,
) -> UpResult:
    """Bring the lab up (idempotent) and return what had to change.

    provision_mode: None runs the site playbook when hosts or playbooks changed, True always,
    False never."""
    begin = time.monotonic()
    preflight.require_root()
    preflight.raise_kernel_limits()
    preflight.validate(lab)
    preflight.require_tools(("podman", "ssh", "ssh-keygen", "ip", "openssl"))
    preflight.require_tools(("prometheus", "prometheus-alertmanager"))
    paths = LabPaths.of(lab)
    with state.locked(lab):
        record = state.load_state(paths)
        _check_conflicts(lab, paths)
        ref = image.ensure_image(progress)
        keys.ensure_key(paths)
        result = UpResult(inventory=inventory.inventory_path(lab))
        _reconcile_hosts(lab, ref, paths, result, progress, bool(record.get("bastion")))
        result.inventory = inventory.write(lab, paths)
        record.update(
            name=lab.name, subnet=lab.subnet, port_base=lab.port_base,
            order_hosts=lab.order_hosts, image=ref, inventory=str(result.inventory),
            bastion=lab.bastion,
        )  # fmt: skip
        _monitoring(lab, paths, record, result, progress)
        _provision(lab, paths, record, result, progress, provision_mode)
        result.started += controller.ensure(lab, paths, ["traffic"])
        state.save_state(paths, record)
        jobs = ["node"]
        if record.get("provisioned") == provision.inputs_hash(lab):
            jobs += list(prometheus.JOBS)  # the deployed services must be scraped too
        if controller.has_traffic():
            jobs.append("traffic")
        progress(f"waiting for Prometheus targets ({', '.join(sorted(set(jobs)))})")
        wait.targets_up(lab, sorted(set(jobs)), wait_timeout)
        if "traffic" in jobs and "order_service" in jobs:  # the users have a system to call
            progress("waiting for steady user traffic")
            wait.steady_traffic(lab, wait_timeout)
    result.seconds = time.monotonic() - begin
    return result


def _check_conflicts(lab: LabConfig, paths: LabPaths) -> None:
    """Refuse before touching anything when the subnet or a port belongs to someone else."""
    info = network.inspect(lab.network)
    if info is None or not network.matches(info, lab):
        clash = network.conflicts(lab)
        if clash:
            raise ChaosrunError(
                f"subnet {lab.subnet} is already in use by {clash}; "
                "choose another with --subnet or CHAOSRUN_LAB_SUBNET"
            )
    controller.stop_strays(paths)
    for pid in provision.orphans(inventory.inventory_path(lab)):
        processes.terminate(pid)
    controller.check_ports(lab, paths, list(controller.specs(lab, paths)))


def _reconcile_hosts(
    lab: LabConfig,
    ref: str,
    paths: LabPaths,
    result: UpResult,
    progress: Progress,
    record_bastion: bool = False,
) -> None:
    """Remove stale containers, create missing ones, wait until every host answers SSH."""
    wanted = {h.name: h for h in lab.all_hosts()}
    existing = {c.name: c for c in hosts.list_containers(lab)}
    info = network.inspect(lab.network)
    network_ok = info is not None and network.matches(info, lab)
    key = hosts.key_id(paths)
    current = {
        h.name
        for h in wanted.values()
        if network_ok
        and lab.container(h.name) in existing
        and hosts.is_current(existing[lab.container(h.name)], h, lab, ref, key)
    }
    stale = [c for c in existing.values() if c.host not in current]
    if stale:
        progress(f"removing {len(stale)} stale container(s)")
        hosts.remove(c.name for c in stale)
        result.removed = sorted(c.host for c in stale)
    if network.ensure(lab):
        progress(f"created network {lab.network} on {lab.subnet}")
    missing = [h for h in wanted.values() if h.name not in current]
    if missing:
        progress(f"starting {len(missing)} host(s): {_names(missing)}")
        hosts.parallel(lambda h: hosts.create(lab, h, ref, paths), missing)
        result.created = [h.name for h in missing]
    # sshd listens once the host has made its host keys: read them into known_hosts, then
    # new hosts must take the user key; unchanged ones (same key, same image) need only be
    # there (behind a bastion they refuse the controller's SSH).
    hosts.parallel(hosts.wait_port, missing)
    _known_hosts(lab, paths, list(wanted.values()))
    hosts.parallel(lambda h: hosts.wait_ssh(paths, h), missing)
    if missing:
        progress(f"{len(missing)} new host(s) answer over SSH")
    bastion.write_config(lab, paths)
    if lab.bastion or record_bastion:
        bastion.ensure_firewall(lab)
        state_word = "only through bastion-1" if lab.bastion else "directly again"
        progress(f"hosts take SSH {state_word}")


def _known_hosts(lab: LabConfig, paths: LabPaths, wanted: list[hosts.Host]) -> None:
    """Write the hosts' own keys, read from inside each container, to the lab's known_hosts."""
    found: dict[str, str] = {}

    def read(host: hosts.Host) -> None:
        key = keys.host_key(lab.container(host.name))
        if not key:
            raise ChaosrunError(f"no SSH host key ({keys.HOST_KEY}) on the host")
        found[host.address] = key

    hosts.parallel(read, wanted)
    keys.write_known_hosts(paths, found)


def _names(items: list[hosts.Host]) -> str:
    names = [h.name for h in items]
    return ", ".join(names) if len(names) <= 10 else f"{', '.join(names[:10])}, ..."


def _monitoring(
    lab: LabConfig, paths: LabPaths, record: dict, result: UpResult, progress: Progress
) -> None:
    """Start the webhook receiver, Alertmanager and Prometheus; reload changed configs."""
    web_changed = webauth.ensure(paths)
    changed = controller.write_configs(lab, paths)
    if web_changed:  # both servers read the web config on every request, but Prometheus
        changed |= {"prometheus", "alertmanager"}  # reads the Alertmanager password at load
    rules = _rules_hash()
    if record.get("rules_hash") != rules:
        changed.add("prometheus")
    started = controller.ensure(lab, paths, ["webhook", "alertmanager", "prometheus"])
    result.started += started
    if started:
        progress(f"started {', '.join(started)} (Prometheus on {lab.prometheus_url})")
    wait.prometheus_ready(lab)
    for name in sorted(changed - set(started)):
        api.post(
            api.prometheus(lab) if name == "prometheus" else api.alertmanager(lab), "/-/reload"
        )
        result.reloaded.append(name)
        progress(f"reloaded {name} (config changed)")
    record["rules_hash"] = rules


def _rules_hash() -> str:
    import glob
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(glob.glob(prometheus.rules_glob())):
        digest.update(name.encode() + Path(name).read_bytes())
    return digest.hexdigest()[:16]


def _provision(
    lab: LabConfig,
    paths: LabPaths,
    record: dict,
    result: UpResult,
    progress: Progress,
    mode: bool | None,
) -> None:
    if provision.playbook() is None or mode is False:
        return
    wanted = provision.inputs_hash(lab)
    # The bastion runs none of the lab's services: adding or removing it deploys nothing.
    changed = {*result.created, *result.removed} - {"bastion-1"}
    needed = mode or changed or record.get("provisioned") != wanted
    if not needed:
        return
    record.pop("provisioned", None)
    state.save_state(paths, record)  # a failed or interrupted run is re-run next time
    progress(f"deploying the lab system with {provision.PLAYBOOK}")
    provision.run_site(lab, paths, result.inventory, progress)
    record["provisioned"] = wanted
    result.provisioned = True
