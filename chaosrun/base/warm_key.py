"""What a warm chaosrun process must share with a command for the command to run in it.

A warm process (chaosrun.warm.server) has imported chaosrun, ansible-core and
ansible-runner, and each of those read its settings as it was imported: from the
environment, the working directory and Ansible's configuration files. A command runs in a
fork of it only when everything those imports could have read is the same: the user, the
interpreter and its flags, the directory, the environment (but for the few variables a
shell changes between two commands, handed to the fork as they are), the files of
chaosrun, ansible-core and ansible-runner, and every ansible.cfg Ansible might read. The
key is a hash of all of it; the socket's name holds the key, so a command finds only a
process that matches it, and the process checks again before it forks.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import chaosrun
from chaosrun.base import privatedir

# Variables a shell sets anew for every command (or in every subshell) that nothing reads
# while it is imported: left out of the key, passed to the fork as the command has them.
SHELL_VARS = ("_", "PWD", "OLDPWD", "SHLVL")
# Where the warm processes' sockets are: one directory per user.
SOCKET_ROOT = "/tmp/chaosrun-warm-{uid}"
# The environment and directory as the command line found them, before chaosrun's own
# start-up changed the environment (chaosrun.launch captures them first thing).
_captured: dict[str, object] = {}


def capture() -> None:
    """Remember the environment and directory the command started with."""
    if not _captured:
        _captured["env"] = dict(os.environ)
        _captured["cwd"] = os.getcwd()


def started_with() -> tuple[dict[str, str], str]:
    """The environment and directory the command started with (now, if never captured)."""
    capture()
    return dict(_captured["env"]), str(_captured["cwd"])  # type: ignore[call-overload]


def shell_vars(env: Mapping[str, str]) -> dict[str, str | None]:
    return {name: env.get(name) for name in SHELL_VARS}


def key(env: Mapping[str, str], cwd: str) -> str:
    """The hash of everything a warm process's imports could have read."""
    return digest(facts(env, cwd))


def digest(found: dict[str, object]) -> str:
    """The key of `facts` already read."""
    return hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest()


def facts(env: Mapping[str, str], cwd: str) -> dict[str, object]:
    """Everything a warm process's imports could have read."""
    return {
        "uid": os.geteuid(),
        # sys.path but its first entry: the executable's directory for `chaosrun` and the
        # warm process alike, or a script's for a test or a bench.
        "python": [sys.executable, sys.version, repr(sys.flags), sys.path[1:]],
        "cwd": cwd,
        "env": sorted((k, v) for k, v in env.items() if k not in SHELL_VARS),
        "code": _code_stamps(),
        "ansible_cfg": _config_stamps(env, cwd),
    }


def changes(before: dict[str, object], after: dict[str, object]) -> str:
    """What differs between two `facts`, by name only (an environment's values may be
    secrets): the fact groups, the variables, the files."""
    said = []
    for group in sorted(set(before) | set(after)):
        was, now = before.get(group), after.get(group)
        if was == now:
            continue
        if group == "env":
            old, new = dict(was or []), dict(now or [])  # type: ignore[arg-type]
            names = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
            said.append("environment " + ", ".join(sorted(names)))
        elif group in ("code", "ansible_cfg"):
            old_s, new_s = ({tuple(p) for p in x or []} for x in (was, now))  # type: ignore[union-attr]
            paths = {str(p[0]) for p in old_s ^ new_s}
            said.append(", ".join(sorted(paths)))
        else:
            said.append(group)
    return "; ".join(said) or "nothing"


def socket_root() -> Path:
    """The user's directory of warm processes' sockets (not made or checked)."""
    return Path(SOCKET_ROOT.format(uid=os.geteuid()))


def socket_dir() -> Path:
    """The user's directory of sockets, made 0700 if missing, refused unless private."""
    return privatedir.ensure(socket_root(), "the sockets of its warm processes")


def socket_path(warm_key: str) -> Path:
    """Where the warm process for this key listens (no directory made or checked)."""
    return socket_root() / f"w-{warm_key[:24]}"


def _stamp(path: Path) -> list[object]:
    try:
        found = path.stat()
    except OSError:
        return [str(path), None]
    return [str(path), found.st_mtime_ns, found.st_size, found.st_ino]


def _code_stamps() -> list[list[object]]:
    """Every module file of chaosrun, and the release files of ansible-core and
    ansible-runner (an upgrade replaces them)."""
    package = Path(chaosrun.__file__).parent
    stamps = [_stamp(p) for p in sorted(package.rglob("*.py"))]
    for name, files in (
        ("ansible", ("__init__.py", "release.py")),
        ("ansible_runner", ("__init__.py",)),
    ):
        spec = importlib.util.find_spec(name)
        where = Path(spec.origin).parent if spec and spec.origin else None
        stamps += [_stamp(where / f) if where else [name, None] for f in files]
    return stamps


def _config_stamps(env: Mapping[str, str], cwd: str) -> list[list[object]]:
    """Every file Ansible might take its settings from, in its order of search."""
    home = Path(env.get("HOME", os.path.expanduser("~")))
    candidates = [
        Path(cwd) / "ansible.cfg",
        home / ".ansible.cfg",
        Path("/etc/ansible/ansible.cfg"),
    ]
    if env.get("ANSIBLE_CONFIG"):
        named = Path(cwd) / os.path.expanduser(env["ANSIBLE_CONFIG"])
        candidates.insert(0, named / "ansible.cfg" if named.is_dir() else named)
    return [_stamp(p) for p in candidates]
