"""Ansible's own YAML parsed once per content, not once per ansible-playbook.

Before its first task every ansible-playbook parses the same YAML, none of it the project's:
the definitions of Ansible's settings (config/base.yml, while ansible.constants is
imported), the builtin collection's routing table (config/ansible_builtin_runtime.yml, at
the first plugin lookup) and the DOCUMENTATION of every connection, shell, become and
inventory plugin it loads and of their documentation fragments (their options are
settings): on an idle controller about a fifth of the time from the process's start to
its first task, and part of chaosrun's own start where it reads Ansible's settings, its
inventory and the ssh plugin's options. `install` keeps what each document parses to in
a directory of the user's own, keyed by the document's text and, for a plugin's
documentation, its tags (the plugin's path and the trust its values carry): a changed
file is a new key, never a stale answer.

The directory is the user's alone (0700, refused otherwise): the routing table says which
code Ansible loads, and entries are unpickled. An entry is parsed afresh for every caller
(callers change what they get: fragments are merged into a plugin's documentation).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chaosrun.hosts import cachedir

# Set to 0 to parse every document as Ansible does (to compare the two).
ENV_SWITCH = "CHAOSRUN_YAML_CACHE"
# More entries than a few ansible-core versions make: the directory is emptied and fills again.
MAX_ENTRIES = 512

# What `install` can keep: the settings' definitions, collections' routing tables, plugins'
# documentation (this one imports Ansible's plugin loader).
SETTINGS, ROUTING, DOCUMENTATION = "settings", "routing", "documentation"
EVERYTHING = (SETTINGS, ROUTING, DOCUMENTATION)


class Store:
    """Parsed documents by key, as pickles in the user's own directory."""

    def __init__(self, directory: cachedir.Directory) -> None:
        self.directory = directory

    def parsed(self, key: str, parse: Callable[[], Any]) -> Any:
        data = self.directory.read(key)
        if data is not None:
            try:
                return pickle.loads(data)
            except Exception:  # torn or foreign: parsed again, whatever it raised
                pass
        value = parse()
        with contextlib.suppress(pickle.PicklingError, TypeError):
            self.directory.write(key, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        return value


def _key(kind: str, text: bytes | str, *extra: str) -> str:
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(kind.encode())
    for part in extra:
        digest.update(b"\0" + part.encode("utf-8", "surrogatepass"))
    digest.update(b"\0" + data)
    return digest.hexdigest()


_store: Store | None = None
_installed: set[str] = set()


def install(parts: tuple[str, ...] = EVERYTHING) -> Store | None:
    """Keep Ansible's own parsed YAML of these kinds in the user's cache directory from
    now on in this process (and the workers it forks); again is a no-op. SETTINGS only
    before ansible.constants is imported (it reads the definitions then). None, and
    nothing changed, when switched off or the directory is not the user's alone."""
    global _store
    if _store is None:
        if os.environ.get(ENV_SWITCH, "1") == "0":
            return None
        try:
            path = default_directory()
        except (RuntimeError, KeyError):  # no home directory to find
            return None
        directory = cachedir.own(path, MAX_ENTRIES)
        if directory is None:
            return None
        _store = Store(directory)
    for part in parts:
        if part in _installed or (part == SETTINGS and "ansible.constants" in sys.modules):
            continue
        _INSTALLERS[part](_store)
        _installed.add(part)
    return _store


def _settings(store: Store) -> None:
    """config/base.yml, which ansible.constants reads through the config manager's yaml_load."""
    from ansible.config import manager

    load = manager.yaml_load

    def yaml_load(stream: Any) -> Any:
        text = stream.read() if hasattr(stream, "read") else stream
        return store.parsed(_key("settings", text), lambda: load(text))

    manager.yaml_load = yaml_load


def _routing(store: Store) -> None:
    """A collection's meta/runtime.yml (the builtin one is Ansible's own): ansible-core
    names `_meta_yml_to_dict` as the place for a cache."""
    from ansible.utils.collection_loader import _collection_finder as finder

    to_dict = finder._meta_yml_to_dict

    def meta_yml_to_dict(data: bytes | str, content_id: Any) -> Any:
        return store.parsed(_key("routing", data), lambda: to_dict(data, content_id))

    finder._meta_yml_to_dict = meta_yml_to_dict


def _documentation(store: Store) -> None:
    """Plugins' DOCUMENTATION and its fragments, which the plugin loader and the docs
    helper parse with `yaml.load(<tagged text>, Loader=AnsibleLoader)`."""
    import yaml
    from ansible.module_utils._internal._datatag import AnsibleTagHelper
    from ansible.parsing.yaml.loader import AnsibleLoader
    from ansible.plugins import loader
    from ansible.utils import plugin_docs

    class CachingYaml:
        """The yaml module as those two modules see it, with `load` kept for tagged text."""

        def __getattr__(self, name: str) -> Any:
            return getattr(yaml, name)

        def load(self, stream: Any, Loader: Any = None) -> Any:  # yaml's own parameter name
            if Loader is not AnsibleLoader or not isinstance(stream, str):
                return yaml.load(stream, Loader=Loader)
            tags = sorted(repr(tag) for tag in AnsibleTagHelper.tags(stream))
            key = _key("documentation", stream, *tags)
            return store.parsed(key, lambda: yaml.load(stream, Loader=Loader))

    loader.yaml = plugin_docs.yaml = CachingYaml()


def default_directory() -> Path:
    """Per user and versions: ~/.cache/chaosrun/yaml/<python>-<ansible-core> (an entry is a
    pickle of ansible-core's classes)."""
    from ansible.release import __version__ as ansible_version

    return cachedir.directory("yaml", f"a{ansible_version}")


_INSTALLERS: dict[str, Callable[[Store], None]] = {
    SETTINGS: _settings,
    ROUTING: _routing,
    DOCUMENTATION: _documentation,
}
