"""The kill switch: freeze, unfreeze, and the cheap check the engine makes every tick."""

from __future__ import annotations

import json
import time

import pytest

from chaosrun import audit, killswitch
from chaosrun.errors import InvalidInput, Refused


def test_freeze_refuses_and_unfreeze_lifts(tmp_path):
    flag, log = tmp_path / "freeze.json", tmp_path / "audit.jsonl"
    assert killswitch.current(flag) is None
    killswitch.check(flag)
    killswitch.freeze(flag, "incident 4711", log)
    with pytest.raises(Refused, match="incident 4711") as exc:
        killswitch.check(flag)
    assert exc.value.exit_code == 4
    lifted = killswitch.unfreeze(flag, "incident over", log)
    assert lifted is not None and lifted.reason == "incident 4711"
    killswitch.check(flag)
    actions = [(e["action"], e["reason"]) for e in audit.read(log)]
    assert actions == [("freeze", "incident 4711"), ("unfreeze", "incident over")]


def test_reason_is_required(tmp_path):
    with pytest.raises(InvalidInput, match="--reason"):
        killswitch.freeze(tmp_path / "f", "  ", tmp_path / "a")
    assert not (tmp_path / "f").exists() and not (tmp_path / "a").exists()


def test_a_damaged_freeze_file_still_freezes(tmp_path):
    flag = tmp_path / "freeze.json"
    flag.write_text("{not json")
    with pytest.raises(Refused, match="unparsable"):
        killswitch.check(flag)


def test_the_tick_check_is_cheap(tmp_path):
    flag = tmp_path / "freeze.json"
    started = time.perf_counter()
    for _ in range(1000):
        killswitch.current(flag)
    assert time.perf_counter() - started < 0.5  # well under a millisecond a check
    killswitch.freeze(flag, "x", tmp_path / "a")
    assert json.loads(flag.read_text())["reason"] == "x"
