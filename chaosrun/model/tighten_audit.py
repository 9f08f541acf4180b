"""An override refused for loosening safety goes to the audit log: who tried to widen what.

One `refused` line with outcome `loosened`: the command, the experiment, every override
asked (key and value) and the problems found. Values that may be secrets (fault vars,
whose secret options only the role knows; headers, credentials, a password or token) are
masked and a URL's user information is cut, so nothing written here needs a redactor.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from chaosrun.base.errors import Loosened
from chaosrun.base.secrets import MASK
from chaosrun.model import audit
from chaosrun.model.tighten import RULE
from chaosrun.model.tighten_sources import scrub

OUTCOME = "loosened"
_SECRETISH = re.compile(r"header|auth|password|token|secret|key_file", re.IGNORECASE)


def record(path: Path, command: str, refused: Loosened) -> dict[str, Any]:
    """Append the refusal to the audit log at `path`; returns the line."""
    asked = {key: _shown(key, str(value)) for key, value in refused.overrides.items()}
    return audit.record(
        path,
        "refused",
        OUTCOME,
        experiment=str(refused.experiment),
        reason=RULE,
        command=command,
        overrides=asked,
        problems=[scrub(line) for line in refused.lines],
    )


def _shown(key: str, value: str) -> str:
    """The value as the audit log may keep it."""
    if key.split(".")[0] == "fault" or _SECRETISH.search(key) or _names_secret(_parsed(value)):
        return MASK
    return scrub(value)


def _parsed(value: str) -> Any:
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def _names_secret(value: Any) -> bool:
    """Whether a mapping somewhere in `value` has a key that may hold a secret."""
    if isinstance(value, dict):
        return any(_SECRETISH.search(str(k)) or _names_secret(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_names_secret(v) for v in value)
    return False
