"""From an experiment file to a plan: checked experiment, inventory, role, chosen hosts,
the Prometheus to ask and the run's secrets. Shared by `plan` (which only prints it) and
`run` (which executes it); nothing here touches a host.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrun.base.errors import InvalidInput
from chaosrun.base.hostlayout import STATE_DIR
from chaosrun.base.secrets import MASK, Redactor, decrypt, mask_fields
from chaosrun.base.yamlpos import VaultValue
from chaosrun.hosts import collection
from chaosrun.hosts.inventory import Inventory, default_inventory, load_inventory
from chaosrun.hosts.rolespec import RoleSpec
from chaosrun.model import apiaccess
from chaosrun.model import config as project_config
from chaosrun.model.apiaccess import ApiAccess
from chaosrun.model.blast_radius import Caps
from chaosrun.model.experiment import Defaults, Experiment, load_experiment
from chaosrun.plan.targets import Selection, select_hosts
from chaosrun.plan.validation import Report, check


@dataclass
class Plan:
    experiment: Experiment
    inventory: Inventory
    role: RoleSpec
    selection: Selection
    report: Report
    prometheus: ApiAccess | None
    alertmanager: ApiAccess | None
    redactor: Redactor
    secret_vars: set[str]
    config: project_config.Config
    caps: Caps
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    state_dir: str = STATE_DIR
    allow_irreversible: bool = False

    @property
    def prometheus_url(self) -> str | None:
        return self.prometheus.url if self.prometheus else None

    @property
    def alertmanager_url(self) -> str | None:
        return self.alertmanager.url if self.alertmanager else None

    @property
    def ttl(self) -> int:
        """The on-host lease: how long a fault outlives a controller that stops renewing
        (the experiment's lease_ttl, else the config's lease.ttl)."""
        return lease_ttl(self.experiment, self.config)

    @property
    def renew_every(self) -> float:
        return min(self.config.lease_renew_every_s, self.ttl / 3.0)

    def public_vars(self) -> dict[str, Any]:
        """Fault vars as they may be shown: secrets masked."""
        return mask_fields(self.experiment.fault.vars, self.secret_vars)

    def public_overrides(self) -> dict[str, str]:
        masked = {}
        for key, value in self.experiment.overrides.items():
            name = key.split(".")[-1]
            masked[key] = MASK if name in self.secret_vars else self.redactor.text(value)
        return masked


def lease_ttl(experiment: Experiment, cfg: project_config.Config) -> int:
    """The on-host lease of `experiment` under `cfg` (Plan.ttl)."""
    ttl = experiment.lease_ttl
    return max(5, int(ttl if ttl is not None else cfg.lease_ttl_s))


def resolve_inventory(path: Path | None) -> Path:
    found = path or default_inventory()
    if found is None:
        raise InvalidInput("no inventory: give -i INVENTORY (or set CHAOSRUN_INVENTORY)")
    if not found.exists():
        raise InvalidInput(f"{found}: inventory not found")
    return found.resolve()


def load_plan(
    file: Path,
    inventory_path: Path | None,
    overrides: list[str],
    seed: int | None = None,
    on_read: Callable[[Experiment, project_config.Config], None] | None = None,
) -> Plan:
    """The plan of an experiment file: the project config loaded once, the experiment read
    with its defaults (and `--set` overrides), then make_plan. `on_read` is called between
    the two (`chaosrun run` starts inject's playbook there: chaosrun.run.early)."""
    cfg = project_config.load()
    experiment = load_experiment(file, overrides, defaults_from(cfg))
    if on_read is not None:
        on_read(experiment, cfg)
    return make_plan(experiment, inventory_path, cfg, seed)


def make_plan(
    experiment: Experiment,
    inventory_path: Path | None,
    cfg: project_config.Config,
    seed: int | None = None,
) -> Plan:
    """The plan of a loaded experiment (read with `defaults_from(cfg)`) against `cfg`."""
    cfg.need_secrets()  # a run sends them: one it could not read refuses it now
    if experiment.fault.role.startswith(f"{collection.FQCN}."):
        collection.require()  # an installed copy older than the engine is refused here
    inventory = load_inventory(str(resolve_inventory(inventory_path)))
    report = check(experiment, inventory, cfg.caps)
    assert report.role is not None
    if report.windows:
        # The experiment's own windows join the project's, so preflight and the per-tick
        # watch see both.
        cfg = dataclasses.replace(cfg, windows=[*cfg.windows, *report.windows])
    selection = select_hosts(experiment.targets, inventory, seed)
    redactor = Redactor()
    secret_vars = set(experiment.fault.secret_vars) | report.role.secret_options()
    for name, value in experiment.fault.vars.items():
        if isinstance(value, VaultValue):
            secret_vars.add(name)
            redactor.add(decrypt(value, f"{experiment.file}: fault.vars.{name}"))
        elif name in secret_vars:
            redactor.add(value)
    for value in report.secret_values:
        redactor.add(value)
    prometheus = prometheus_access(experiment, inventory, cfg)
    alertmanager = alertmanager_access(inventory, cfg)
    if experiment.expected_alerts and alertmanager is None:
        raise InvalidInput(
            f"{experiment.locate(('expected_alerts',))}: expected_alerts: no Alertmanager to "
            "silence them in (set alertmanager.url in chaosrun.yml, or "
            "chaosrun_alertmanager_url in the inventory)"
        )
    for access in (prometheus, alertmanager):
        for value in access.secrets() if access else []:
            redactor.add(value)
    if prometheus and prometheus.insecure_skip_verify:
        report.warnings.append(
            f"prometheus: insecure_skip_verify is true: the TLS certificate of "
            f"{prometheus.url} is not checked"
        )
    return Plan(
        experiment=experiment,
        inventory=inventory,
        role=report.role,
        selection=selection,
        report=report,
        prometheus=prometheus,
        alertmanager=alertmanager,
        redactor=redactor,
        secret_vars=secret_vars,
        headers=_headers(experiment),
        config=cfg,
        caps=report.caps,
    )


def defaults_from(cfg: project_config.Config) -> Defaults:
    return Defaults(
        interval=cfg.guardrail_interval_s,
        breaches_in_a_row=cfg.guardrail_breaches_in_a_row,
        unknown_budget=cfg.guardrail_unknown_budget,
        prometheus_timeout=cfg.prometheus_timeout_s,
        guardrail_probes=tuple(cfg.guardrail_probes),
        source=str(cfg.source or "chaosrun.yml"),
        max_ttl=cfg.lease_max_ttl_s,
        max_duration=cfg.max_duration_s,
        max_duration_source=cfg.max_duration_source,
    )


def prometheus_url(experiment: Experiment, inventory: Inventory | None) -> str | None:
    """The experiment's, else CHAOSRUN_PROMETHEUS_URL, else the inventory's (lab_prometheus_url)."""
    return experiment.prometheus.url or default_prometheus_url(inventory)


def default_prometheus_url(inventory: Inventory | None) -> str | None:
    """CHAOSRUN_PROMETHEUS_URL, else the inventory's: the URL when no experiment names one."""
    env = os.environ.get("CHAOSRUN_PROMETHEUS_URL")
    if env:
        return env
    if inventory is None:
        return None
    return _first(inventory, "chaosrun_prometheus_url", "prometheus_url", "lab_prometheus_url")


def prometheus_access(
    experiment: Experiment, inventory: Inventory | None, cfg: project_config.Config
) -> ApiAccess | None:
    """How to reach the run's Prometheus: the experiment's own access settings when it has
    any, else the project's (credentials only for the project's own Prometheus URL)."""
    url = prometheus_url(experiment, inventory) or cfg.prometheus_url
    own = experiment.prometheus.access
    if own:
        return apiaccess.parse(
            url,
            own,
            lambda at: f"{experiment.locate(at)}: {'.'.join(str(p) for p in at)}",
            ("prometheus",),
            experiment.file.resolve().parent,
        )
    return project_prometheus_access(inventory, cfg, url)


def project_prometheus_access(
    inventory: Inventory | None, cfg: project_config.Config, url: str | None = None
) -> ApiAccess:
    """Prometheus as the project reaches it (no experiment's own settings): the inventory's
    access beside its URL, else chaosrun.yml's (credentials only for that URL's server)."""
    url = url or default_prometheus_url(inventory) or cfg.prometheus_url
    found = inventory_access(inventory, "prometheus", url) if inventory else None
    if found:
        return found
    return cfg.prometheus.with_url(url) if cfg.prometheus else ApiAccess(url)


def alertmanager_access(inventory: Inventory, cfg: project_config.Config) -> ApiAccess | None:
    """The project's Alertmanager when chaosrun.yml names one, else the inventory's."""
    if cfg.alertmanager is not None:
        return cfg.alertmanager
    url = _first(inventory, "chaosrun_alertmanager_url", "lab_alertmanager_url")
    if not url:
        return None
    return inventory_access(inventory, "alertmanager", url) or ApiAccess(url.rstrip("/"))


def inventory_access(inventory: Inventory, kind: str, url: str) -> ApiAccess | None:
    """The access settings an inventory gives next to its URL (`chaosrun_<kind>_access`
    beside `chaosrun_<kind>_url`, `lab_<kind>_access` beside `lab_<kind>_url`: what the
    lab writes), for that URL's server only, so another URL never receives its secrets."""
    for prefix in ("chaosrun", "lab"):
        block = inventory.group_var(f"{prefix}_{kind}_access")
        own_url = inventory.group_var(f"{prefix}_{kind}_url")
        if block is None or not own_url:
            continue
        name = f"{prefix}_{kind}_access"
        if not isinstance(block, dict):
            raise InvalidInput(f"{inventory.path}: {name}: must be a mapping")
        access = apiaccess.parse(
            str(own_url),
            {str(k): v for k, v in block.items()},
            lambda at: f"{inventory.path}: {'.'.join(str(p) for p in at)}",
            (name,),
            inventory.path.parent,
        )
        if apiaccess.same_server(access.url, url):
            return access.with_url(url.rstrip("/"))
    return None


def _first(inventory: Inventory, *names: str) -> str | None:
    for name in names:
        value = inventory.group_var(name)
        if value:
            return str(value)
    return None


def _headers(experiment: Experiment) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    for _, probe in experiment.all_probes():
        raw = probe.config.get("headers") or {}
        result[probe.name] = {
            k: decrypt(v, f"{experiment.file}: {probe.name} header {k}")
            if isinstance(v, VaultValue)
            else v
            for k, v in raw.items()
        }
    return result
