"""A thin wrapper around the podman command, always with the project's containers.conf."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from chaosrun.base.errors import ChaosrunError
from chaosrun.base.paths import containers_conf


def require_podman() -> str:
    path = shutil.which("podman")
    if not path:
        raise ChaosrunError("podman is not installed (Debian/Ubuntu package: podman)")
    return path


def podman_env() -> dict[str, str]:
    """The environment for podman: our containers.conf unless the user chose one."""
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(containers_conf()))
    return env


def run(
    args: Sequence[str],
    *,
    check: bool = True,
    timeout: float | None = 300,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `podman ARGS`; on failure raise with podman's own last line of stderr."""
    cmd = [require_podman(), *args]
    proc = subprocess.run(
        cmd, env=podman_env(), capture_output=True, text=True, timeout=timeout, input=input
    )
    if check and proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        detail = lines[-1] if lines else f"exit {proc.returncode}"
        raise ChaosrunError(f"podman {args[0]} failed: {detail}")
    return proc


def run_json(args: Sequence[str]) -> Any:
    out = run(args).stdout.strip()
    return json.loads(out) if out else []


def image_exists(ref: str) -> bool:
    return run(["image", "exists", ref], check=False).returncode == 0
