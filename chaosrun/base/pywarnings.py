"""Python warnings a chaosrun user cannot act on, kept off their terminal and plays.

ansible-core 2.19 imports cryptography's DSA key types at start-up, and cryptography 51
deprecated them: every process that loads Ansible (chaosrun's own `plan`, `status`,
`run`, and each ansible-playbook it starts) printed a CryptographyDeprecationWarning on
stderr, and ansible-runner recorded it as output of every play. Only those messages are
filtered; any other warning still shows, and a user's own PYTHONWARNINGS still applies.
"""

from __future__ import annotations

import os
import re
import warnings

# Message prefixes, as Python's -W option matches them (no commas: PYTHONWARNINGS splits on them).
NOT_ACTIONABLE = ("DSA is deprecated",)


def env_value(current: str | None) -> str:
    """PYTHONWARNINGS with ours after the user's entries: Python applies the options in
    order, each before the last, so ours win for their messages and nothing else."""
    entries = [e for e in (current or "").split(",") if e]
    ours = [f"ignore:{message}" for message in NOT_ACTIONABLE]
    return ",".join(entries + [e for e in ours if e not in entries])


def silence() -> None:
    """Filter the messages in this process and in every process it starts (they inherit
    the environment: ansible-runner copies it for ansible-playbook)."""
    for message in NOT_ACTIONABLE:
        warnings.filterwarnings("ignore", message=re.escape(message))
    os.environ["PYTHONWARNINGS"] = env_value(os.environ.get("PYTHONWARNINGS"))
