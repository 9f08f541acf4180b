"""chaosrun.hosts.yaml_cache: Ansible reads the same settings, routing and plugin options
from the cache as from its YAML, a later process reads them from the directory instead of
parsing, a torn entry is parsed again, and a directory others may write is not used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

READ = r"""
import json, sys
import yaml
parsed = {"n": 0}
load = yaml.load
def counted(*a, **k):
    parsed["n"] += 1
    return load(*a, **k)
yaml.load = counted
from chaosrun.hosts import yaml_cache
store = yaml_cache.install()
from ansible import constants as C
from ansible.plugins import loader
loader.init_plugin_loader([])
loader.connection_loader.get("ssh", class_only=True)
loader.become_loader.get("sudo", class_only=True)
ssh = C.config.get_configuration_definitions("connection", "ssh")
# Routed by the builtin collection's runtime.yml to another collection.
routed = loader.module_loader.find_plugin_with_context("ansible.builtin.docker_container")
print(json.dumps({
    "installed": store is not None,
    "parsed": parsed["n"],
    "forks": C.config.get_config_value("DEFAULT_FORKS"),
    "settings": sorted(C.config.get_configuration_definitions()),
    "ssh": {k: repr(sorted(v.items())) for k, v in ssh.items()},
    "sudo_flags": C.config.get_config_value("become_flags", None, "become", "sudo"),
    "routed": list(routed.redirect_list),
}))
"""


def _read(cache: Path, switch: str = "1") -> dict:
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(cache),
        "CHAOSRUN_YAML_CACHE": switch,
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
    }
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", READ], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def _entries(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_a_later_process_reads_the_same_without_parsing(tmp_path: Path) -> None:
    plain = _read(tmp_path / "off", switch="0")
    first = _read(tmp_path / "cache")
    second = _read(tmp_path / "cache")
    assert first["installed"] and second["installed"] and not plain["installed"]
    for key in ("forks", "settings", "ssh", "sudo_flags", "routed"):
        assert plain[key] == first[key] == second[key], key
    assert "host_key_checking" in plain["ssh"] and len(plain["settings"]) > 100
    assert plain["routed"][-1] == "community.docker.docker_container"
    # Each entry (the settings, the routing table, every plugin's documentation) is one
    # document or more the later process did not parse.
    entries = _entries(tmp_path / "cache")
    assert len(entries) >= 3 and second["parsed"] <= first["parsed"] - len(entries)
    directory = next((tmp_path / "cache" / "chaosrun" / "yaml").iterdir())
    assert (directory.stat().st_mode & 0o777) == 0o700


def test_a_torn_entry_is_parsed_again_and_rewritten(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    good = _read(cache)
    for entry in _entries(cache):
        entry.write_bytes(b"\x80\x05torn")
    again = _read(cache)
    assert again["settings"] == good["settings"] and again["ssh"] == good["ssh"]
    assert again["parsed"] == good["parsed"]  # every entry parsed afresh
    assert all(not e.read_bytes().endswith(b"torn") for e in _entries(cache))


def test_a_directory_others_may_write_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaosrun.hosts import yaml_cache

    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    directory = yaml_cache.default_directory()
    directory.mkdir(parents=True)
    plain = _read(tmp_path / "off", switch="0")
    for level in (cache / "chaosrun", cache / "chaosrun" / "yaml", directory):
        level.chmod(0o777)
    result = _read(cache)
    assert not result["installed"]
    assert result["settings"] == plain["settings"] and result["parsed"] == plain["parsed"]
    assert list(directory.iterdir()) == []
