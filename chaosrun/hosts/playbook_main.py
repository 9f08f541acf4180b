"""ansible-playbook as chaosrun's fault plays run it: Ansible's own command, with compiled
templates kept across its workers (chaosrun.hosts.jinja_cache)."""

from __future__ import annotations

import sys

from chaosrun.hosts import jinja_cache


def main() -> int:
    jinja_cache.install(jinja_cache.default_directory())
    from ansible.cli.playbook import main as playbook

    sys.argv[0] = "ansible-playbook"
    return playbook()


if __name__ == "__main__":
    sys.exit(main())
