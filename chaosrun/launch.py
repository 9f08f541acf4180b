"""The `chaosrun` executable: a warm process runs the command when one matches
(chaosrun.warm.client), else this process does (chaosrun.cli)."""

from __future__ import annotations

import sys

from chaosrun.base import warm_key
from chaosrun.warm import client


def main() -> None:
    warm_key.capture()
    code = client.hand_over(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from chaosrun import cli

    cli.main()
