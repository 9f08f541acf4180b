"""The user's Ansible configuration, read the way Ansible reads it.

chaosrun never replaces the ansible.cfg that Ansible itself would pick (ANSIBLE_CONFIG,
./ansible.cfg, ~/.ansible.cfg, /etc/ansible/ansible.cfg): it finds that file as Ansible
does from where chaosrun runs and hands the same path to ansible-playbook (which
ansible-runner starts in another directory), and chaosrun's own readers (default
inventory, collection paths, the fast SSH path) ask ansible-core's ConfigManager for it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from chaosrun.hosts import yaml_cache


def config_file() -> Path | None:
    """The ansible.cfg Ansible would use from here, or None when there is none."""
    _prepare()
    from ansible.config.manager import find_ini_config_file

    found = find_ini_config_file()
    return Path(found) if found else None


@lru_cache(maxsize=4)
def manager(path: str | None) -> Any:
    """ansible-core's ConfigManager for that ansible.cfg (None: there is none). Ansible's
    own, `ansible.constants.config` (where its plugins register their options), whenever
    it reads the same file, as it does unless ANSIBLE_CONFIG or the working directory
    changed since Ansible was loaded: Ansible's long list of settings is then read once
    per process, not once per reader (tens of milliseconds each at a run's start)."""
    _prepare()
    from ansible import constants
    from ansible.config.manager import ConfigManager

    if _same_file(constants.CONFIG_FILE, path):
        return constants.config
    return ConfigManager(conf_file=path)  # None: no file (its own search finds none either)


def _prepare() -> None:
    """Ansible's own YAML from the cache (chaosrun.hosts.yaml_cache) before Ansible first
    reads its settings; the plugin loader's part where chaosrun loads plugins."""
    yaml_cache.install((yaml_cache.SETTINGS, yaml_cache.ROUTING))


def _same_file(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return not a and not b
    return Path(a).resolve() == Path(b).resolve()


def _value(name: str) -> tuple[Any, str]:
    cfg = config_file()
    config = manager(str(cfg) if cfg else None)
    # Defaults such as COLLECTIONS_PATHS are templates over ANSIBLE_HOME, as in ansible.constants.
    home = config.get_config_value("ANSIBLE_HOME")
    return config.get_config_value_and_origin(name, variables={"ANSIBLE_HOME": home})


def setting(name: str) -> Any:
    """One base setting (e.g. DEFAULT_HOST_LIST) as ansible-playbook would see it:
    environment, then the ansible.cfg in effect, then Ansible's default."""
    return _value(name)[0]


def is_set(name: str) -> bool:
    """Whether the user set it (environment or ansible.cfg) rather than Ansible's default."""
    return _value(name)[1] != "default"


def collections_paths() -> list[Path]:
    """The collection roots configured for Ansible (ANSIBLE_COLLECTIONS_PATH, else the
    ansible.cfg's collections_path, else ~/.ansible/collections and
    /usr/share/ansible/collections), in Ansible's order."""
    return [Path(p) for p in setting("COLLECTIONS_PATHS") or []]


def default_inventory() -> list[Path]:
    """The inventory sources of the ansible.cfg in effect (ANSIBLE_INVENTORY too) that exist."""
    sources = setting("DEFAULT_HOST_LIST") or []
    return [Path(s) for s in sources if Path(s).exists()]
