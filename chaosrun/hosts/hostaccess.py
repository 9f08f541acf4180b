"""How Ansible would reach a host, read from ansible-core itself, for the fast SSH path.

The fast path (lock check, lease renewal, revert on abort) must reach a host exactly as
ansible-playbook does: one source of truth. ansible-core's ssh connection and sudo become
plugins resolve each setting from the host's variables, then the project's ansible.cfg,
then their defaults; this module asks them, so an inventory or ansible.cfg that works for
Ansible works for the fast path.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from chaosrun.hosts import ansiblecfg, yaml_cache


@dataclass(frozen=True)
class HostInfo:
    """How to reach a host over SSH without Ansible (the fast rollback path)."""

    name: str
    address: str
    user: str | None
    port: int | None
    key_file: str | None
    # ansible.cfg's ssh_args, then ansible_ssh_common_args, then ansible_ssh_extra_args.
    ssh_args: tuple[str, ...] = ()
    host_key_checking: bool = True
    become: bool = False
    become_method: str = "sudo"
    become_user: str = "root"
    become_exe: str = "sudo"  # the sudo program (become_exe: a site's own path or wrapper)
    # Whether a become password was supplied (the secret itself never leaves Ansible).
    become_password: bool = False
    # Ansible's connection plugin for the host (ansible_connection, else ansible.cfg's
    # transport), the ssh program its ssh plugin runs, and whether an SSH password is set.
    connection: str = "ssh"
    ssh_executable: str = "ssh"
    password: bool = False


@lru_cache(maxsize=4)
def _config(path: str) -> Any:
    """ansible-core's config for the ansible.cfg the runner uses, with the plugin options."""
    yaml_cache.install()  # the ssh and sudo plugins' documentation is parsed below
    from ansible import constants
    from ansible.plugins.loader import become_loader, connection_loader

    # Loading the plugins registers their options with Ansible's own config.
    connection_loader.get("ssh", class_only=True)
    become_loader.get("sudo", class_only=True)
    manager = ansiblecfg.manager(path if Path(path).is_file() else None)
    if manager is not constants.config:
        for kind, name in (("connection", "ssh"), ("become", "sudo")):
            defs = constants.config.get_configuration_definitions(kind, name)
            manager.initialize_plugin_configuration_definitions(kind, name, defs)
    return manager


def config_file() -> str:
    """The ansible.cfg in effect: the one Ansible picks, as ansible-playbook does ("" for none)."""
    found = ansiblecfg.config_file()
    return str(found) if found else ""


def resolve(name: str, hostvars: Mapping[str, Any], base: Path, cfg: str | None = None) -> HostInfo:
    """The connection settings of one host; a relative key path is taken from `base`, the
    directory the plays run in (Ansible hands it to ssh as it is)."""
    from ansible.module_utils.parsing.convert_bool import boolean

    manager = _config(cfg or config_file())

    def ssh(option: str) -> Any:
        return manager.get_config_value(
            option, plugin_type="connection", plugin_name="ssh", variables=hostvars
        )

    def sudo(option: str) -> Any:
        return manager.get_config_value(
            option, plugin_type="become", plugin_name="sudo", variables=hostvars
        )

    key = ssh("private_key_file")
    if key and not Path(str(key)).expanduser().is_absolute():
        key = str((base / str(key)).resolve())
    port = ssh("port")
    args = [*shlex.split(ssh("ssh_args") or "")]
    args += shlex.split(ssh("ssh_common_args") or "")
    args += shlex.split(ssh("ssh_extra_args") or "")
    become = hostvars.get("ansible_become", manager.get_config_value("DEFAULT_BECOME"))
    method = hostvars.get("ansible_become_method") or manager.get_config_value(
        "DEFAULT_BECOME_METHOD"
    )
    connection = hostvars.get("ansible_connection") or manager.get_config_value("DEFAULT_TRANSPORT")
    return HostInfo(
        name=name,
        address=str(hostvars.get("ansible_host") or hostvars.get("ansible_ssh_host") or name),
        user=str(ssh("remote_user")) if ssh("remote_user") else None,
        port=int(port) if port else None,
        key_file=str(Path(str(key)).expanduser()) if key else None,
        ssh_args=tuple(args),
        host_key_checking=boolean(ssh("host_key_checking"), strict=False),
        become=boolean(become, strict=False),
        become_method=str(method),
        become_user=str(sudo("become_user") or "root"),
        become_exe=str(sudo("become_exe") or "sudo"),
        become_password=bool(sudo("become_pass")),
        connection=str(connection).removeprefix("ansible.builtin."),
        ssh_executable=str(ssh("ssh_executable") or "ssh"),
        password=bool(ssh("password")),
    )
