"""The fault role's shell templates rendered outside Ansible, for unit tests that run its
steps for real with /bin/sh: its `quote`, `to_json` and `hash` filters, the `match` test
and file lookups, nothing else."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path

import jinja2

FAULT = (
    Path(__file__).resolve().parents[2]
    / "collections/ansible_collections/chaosrun/chaos/roles/fault"
)


def environment() -> jinja2.Environment:
    """A Jinja environment that renders the fault role's templates as its steps do."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(FAULT / "templates"))
    env.filters["quote"] = lambda value: shlex.quote(str(value))
    env.filters["to_json"] = json.dumps
    env.filters["hash"] = lambda value, kind="sha1": hashlib.new(
        kind, str(value).encode()
    ).hexdigest()
    env.tests["match"] = lambda value, pattern: re.match(pattern, str(value)) is not None
    env.globals["lookup"] = lambda _kind, name: (FAULT / "files" / name).read_text().rstrip("\n")
    return env
