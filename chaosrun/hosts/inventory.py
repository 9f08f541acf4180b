"""The Ansible inventory as the engine sees it: host patterns and connection details.

Read with ansible-core's own InventoryManager, so patterns (`order_service:&zone_a`,
`!db-1`, `web[0:2]`) mean exactly what they mean to ansible-playbook.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from chaosrun.base import secrets
from chaosrun.base.errors import InvalidInput
from chaosrun.hosts import ansiblecfg, hostaccess, yaml_cache
from chaosrun.hosts.hostaccess import HostInfo
from chaosrun.hosts.rendered_vars import RenderedVars
from chaosrun.model import config


def default_inventory() -> Path | None:
    """CHAOSRUN_INVENTORY, else `inventory` of the project's chaosrun.yml, else the
    inventory of the ansible.cfg in effect (ANSIBLE_INVENTORY too) if it exists; several
    there are refused rather than one of them read."""
    env = os.environ.get("CHAOSRUN_INVENTORY")
    if env:
        return Path(env)
    pointer = config.load().inventory
    if pointer is not None:
        return pointer
    found = ansiblecfg.default_inventory()
    if len(found) > 1:  # reading the first alone would hide the others' hosts
        names = ", ".join(str(f) for f in found)
        raise InvalidInput(
            f"Ansible's settings name {len(found)} inventory sources ({names}); chaosrun reads "
            "one: give -i (a directory holding them all is one source)"
        )
    return found[0].resolve() if found else None


class Inventory:
    """One loaded inventory source."""

    def __init__(self, path: Path) -> None:
        yaml_cache.install()  # Ansible's own YAML, the inventory plugins' documentation too
        from ansible import constants
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.vars.manager import VariableManager

        if not path.exists():
            raise InvalidInput(f"{path}: inventory not found")
        self.path = path
        # An unmatched pattern is reported by chaosrun with file and line, not by Ansible.
        constants.HOST_PATTERN_MISMATCH = "ignore"
        loader = self._loader = DataLoader()
        with contextlib.suppress(InvalidInput):  # a broken vault setup fails where it is used
            loader.set_vault_secrets(secrets.vault_secrets())  # vaulted host and group vars
        self._manager = InventoryManager(loader=loader, sources=[str(path)])
        self._variables = VariableManager(loader=loader, inventory=self._manager)
        if not self._manager.list_hosts("all"):
            raise InvalidInput(f"{path}: inventory has no hosts (or could not be parsed)")

    def match(self, pattern: str) -> list[str]:
        """Host names matching an Ansible pattern, in inventory order."""
        return [h.name for h in self._manager.get_hosts(pattern)]

    def host_vars(self, name: str) -> Mapping[str, Any]:
        """The host's variables as a task on it sees them: an inventory template
        (`ansible_host: "{{ ip }}"`) rendered when read (chaosrun.hosts.rendered_vars)."""
        host = self._manager.get_host(name)
        if host is None:
            return {}
        variables = self._variables.get_vars(host=host, include_hostvars=True)
        return RenderedVars(variables, self._loader, f"{self.path}: host {name}")

    def group_var(self, name: str) -> Any:
        """A variable as the first host of `all` sees it (lab_prometheus_url and friends)."""
        hosts = self._manager.list_hosts("all")
        return self.host_vars(hosts[0].name).get(name) if hosts else None

    def host_info(self, name: str) -> HostInfo:
        """How Ansible reaches the host (see chaosrun.hosts.hostaccess); a relative key
        path is the plays' own: from where chaosrun runs, not from the inventory."""
        return hostaccess.resolve(name, self.host_vars(name), Path.cwd())


@lru_cache(maxsize=8)
def load_inventory(path: str) -> Inventory:
    return Inventory(Path(path))
