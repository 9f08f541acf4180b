"""chaosrun.hosts.jinja_cache: templates render the same from the cache, which a later
process (a worker forked after the first compile, the next play) loads instead of
compiling, and which is not used from a directory others may write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RENDER = r"""
import json, sys
from pathlib import Path

import pytest
counts = {"generate": 0}
if sys.argv[1] != "-":
    from chaosrun.hosts import jinja_cache
    cache = jinja_cache.install(Path(sys.argv[1]))
    print(json.dumps({"installed": cache is not None}))
import jinja2
generate = jinja2.Environment._generate
def counted(self, *a, **k):
    counts["generate"] += 1
    return generate(self, *a, **k)
jinja2.Environment._generate = counted
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template as T
t = Templar(loader=DataLoader(), variables={"a": 1, "b": [1, 2], "c": "x\\ny", "d": {"k": "v"}})
before = counts["generate"]
out = [
    t.template(T(s))
    for s in (
        "{{ a + 1 }} {% for x in b %}{{ x }}{% endfor %}",
        "{{ b | join(',') }}",
        "{{ c }}",
        '{{ "c:\\newfile" }}',
        "{{ d.k | upper }}-{{ b | length }}",
        "{{ a == 1 }}",
    )
]
print(json.dumps({"out": [str(o) for o in out], "generated": counts["generate"] - before}))
"""


def _render(cache: str) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-c", RENDER, cache],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "ANSIBLE_DEPRECATION_WARNINGS": "false"},
    )
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_a_later_process_renders_the_same_without_compiling(tmp_path: Path) -> None:
    cache = tmp_path / "jinja"
    plain = _render("-")[-1]
    first = _render(str(cache))
    second = _render(str(cache))
    assert first[0] == {"installed": True} and second[0] == {"installed": True}
    assert first[-1]["out"] == plain["out"] == second[-1]["out"]
    assert plain["out"][3] == "c:\\newfile"  # Ansible's backslash handling kept
    assert first[-1]["generated"] >= 6
    assert second[-1]["generated"] == 0  # every template came from the directory
    assert (cache.stat().st_mode & 0o777) == 0o700


def test_a_directory_others_may_write_is_not_used(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    result = _render(str(shared))
    assert result[0] == {"installed": False}
    assert result[-1]["generated"] >= 6
    assert list(shared.iterdir()) == []


def test_other_filter_plugins_make_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaosrun.hosts import jinja_cache

    plugins = tmp_path / "ansible_collections" / "ns" / "col" / "plugins" / "filter"
    plugins.mkdir(parents=True)
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    before = jinja_cache.default_directory()
    (plugins / "shout.py").write_text("def shout(v):\n    return v.upper()\n")
    after = jinja_cache.default_directory()
    assert before != after and after.parent == before.parent
    assert after.is_relative_to(tmp_path / "cache" / "chaosrun" / "jinja")
