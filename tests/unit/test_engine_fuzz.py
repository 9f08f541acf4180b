"""Fuzzing `chaosrun validate` through cli.main: thousands of malformed experiment files,
never a traceback, always exit 2 with a message naming the file and the problem.

CHAOSRUN_FUZZ_SCALE scales the number of examples: `make check` runs a quarter of them to
stay under a minute, `make test` all 2,200."""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path

import pytest
import typer
import yaml
from engine_fixtures import COLLECTIONS, GOOD, INVENTORY, main_in_process
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaosrun import cli
from chaosrun.hosts import rolespec

BASE = yaml.safe_load(GOOD.read_text())
SCALE = float(os.environ.get("CHAOSRUN_FUZZ_SCALE", "1"))


def examples(full: int) -> int:
    return max(10, int(full * SCALE))


WORK = Path(tempfile.mkdtemp(prefix="chaosrun-fuzz-"))
KEYS = sorted(
    {"title", "targets", "hosts", "select", "count", "percent", "fault", "role", "vars",
     "duration", "guardrails", "interval", "probes", "name", "prometheus", "max", "min",
     "max_increase", "http", "url", "command", "cmd", "alert", "recovery", "within", "seed",
     "exclude", "steady_state", "unknown_budget", "breaches_in_a_row", "baseline", "window"}
)  # fmt: skip

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=True),
    st.text(max_size=12), st.sampled_from(["5s", "-1s", "1x", "all", "50%", "", "NaN"]),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), kids, max_size=3)
    ),
    max_leaves=8,
)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, (*prefix, i))


ALL_PATHS = [p for p in paths(BASE) if p]


class _BuiltOnce:
    """cli.app, with Typer's command tree built once instead of on every call (the
    building, not chaosrun, would otherwise take most of the test's time)."""

    def __init__(self) -> None:
        self.command = typer.main.get_command(cli.app)

    def __call__(self, **kwargs):
        return self.command.main(**kwargs)


@pytest.fixture(autouse=True, scope="module")
def _collections():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
        mp.setattr(cli, "app", _BuiltOnce())
        rolespec.load_role.cache_clear()
        yield


def validate(text: str) -> tuple[int, str]:
    path = WORK / "exp.yml"
    path.write_text(text)
    code, _, err = main_in_process("validate", str(path), "-i", str(INVENTORY))
    return code, err


def assert_named_error(code: int, message: str) -> None:
    assert code == 2, message
    assert "chaosrun: error:" in message
    assert "exp.yml" in message
    assert "Traceback" not in message


def required(path) -> bool:
    """Keys whose removal must be an error."""
    if len(path) == 1:
        return path[0] in ("title", "targets", "fault", "duration")
    if path in (("targets", "hosts"), ("fault", "role")):
        return True
    in_probe = (len(path) == 3 and path[0] == "steady_state") or (
        len(path) == 4 and path[:2] == ("guardrails", "probes")
    )
    return in_probe and path[-1] in ("name", "prometheus")


def mutate(data, path, how, value):
    data = copy.deepcopy(data)
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "delete" and required(path):
        del parent[last]
    elif how == "unknown" and isinstance(parent, dict):
        parent["zz_" + str(last)] = value
    else:
        # A value of the wrong kind where a mapping, list or scalar belongs.
        old = parent[last]
        parent[last] = ["wrong"] if not isinstance(old, list) else {"wrong": 1}
    return data


@settings(max_examples=examples(1000), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(ALL_PATHS),
    how=st.sampled_from(["delete", "unknown", "retype"]),
    value=values,
)
def test_structural_mutations_are_named(path, how, value) -> None:
    data = mutate(BASE, path, how, value)
    if data == BASE or (path[-1] == "exclude" or path[:2] == ("fault", "vars")):
        # A one-item list is a valid exclude; Ansible itself turns a list into a str option
        # and a missing optional var is fine: these mutations may leave a valid file.
        code, message = validate(yaml.safe_dump(data))
        assert code in (0, 2), message
        return
    assert_named_error(*validate(yaml.safe_dump(data)))


@settings(max_examples=examples(800), deadline=None, suppress_health_check=list(HealthCheck))
@given(data=values)
def test_random_documents_are_named(data) -> None:
    code, message = validate(yaml.safe_dump(data))
    assert_named_error(code, message)


@settings(max_examples=examples(400), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    pos=st.integers(0, len(GOOD.read_text())),
    cut=st.integers(0, 40),
    junk=st.text(alphabet=":{}[]-&*!|>'\"#%@`\t\n ab1", max_size=8),
)
def test_corrupted_text_never_crashes(pos: int, cut: int, junk: str) -> None:
    text = GOOD.read_text()
    code, message = validate(text[:pos] + junk + text[pos + cut :])
    assert code in (0, 2), message
    if code == 2:
        assert_named_error(code, message)
