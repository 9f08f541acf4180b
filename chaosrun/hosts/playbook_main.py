"""ansible-playbook as chaosrun's fault plays run it: Ansible's own command, with compiled
templates kept across its workers (chaosrun.hosts.jinja_cache), Ansible's own YAML parsed
once per content (chaosrun.hosts.yaml_cache) and a started-ahead play's release vars file
read once."""

from __future__ import annotations

import os
import sys
from typing import Any

from chaosrun.hosts import jinja_cache, yaml_cache

# The name of a started-ahead play's release vars file (chaosrun.run.prestart).
RELEASE_VARS_NAME = "release.vars.yml"


def main() -> int:
    yaml_cache.install()  # before Ansible reads its settings
    jinja_cache.install(jinja_cache.default_directory())
    from ansible.cli.playbook import main as playbook

    _read_release_vars_once()
    sys.argv[0] = "ansible-playbook"
    return playbook()


def _read_release_vars_once() -> None:
    """Ansible reads a play's vars files again for every host and task (it caches only
    vaulted ones): the release's, written once before the plays that read it start, is
    parsed once instead of some ten times per host and phase."""
    from ansible.parsing.dataloader import DataLoader

    load = DataLoader.load_from_file
    parsed: dict[str, Any] = {}

    def load_from_file(self: DataLoader, file_name: str, *args: Any, **kwargs: Any) -> Any:
        # Only as vars_files asks for it (unsafe: the caller copies what it changes).
        if os.path.basename(file_name) != RELEASE_VARS_NAME or not kwargs.get("unsafe"):
            return load(self, file_name, *args, **kwargs)
        if file_name not in parsed:
            parsed[file_name] = load(self, file_name, *args, **kwargs)
        return parsed[file_name]

    DataLoader.load_from_file = load_from_file  # type: ignore[method-assign]


if __name__ == "__main__":
    sys.exit(main())
