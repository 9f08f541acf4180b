"""The experiment loader: a good file loads; every bad field is named with its line."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_fixtures import GOOD

from chaosrun.base.errors import InvalidInput
from chaosrun.model.experiment import Defaults, load_experiment


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yml"
    path.write_text(text)
    return path


def errors_of(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(InvalidInput) as info:
        load_experiment(path, overrides)
    return str(info.value)


def test_good_file_loads_with_defaults() -> None:
    exp = load_experiment(GOOD)
    assert exp.title == "Kill one demo instance"
    assert exp.targets.hosts == "order_service"
    assert (exp.targets.mode, exp.targets.amount, exp.targets.seed) == ("count", 1, 7)
    assert exp.duration == 5.0
    assert exp.guardrails.interval == 1.0
    assert [p.name for p in exp.guardrails.probes][1] == "latency not much above baseline"
    assert exp.guardrails.probes[1].thresholds == {"max_increase": "50%"}
    assert exp.recovery_within == 30.0


def test_unknown_key_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.read_text().replace("duration: 5s", "duration: 5s\ndurration: 6s")
    message = errors_of(write(tmp_path, text))
    line = text.splitlines().index("durration: 6s") + 1
    assert f"exp.yml:{line}: durration: unknown key 'durration'" in message


def test_every_problem_is_reported(tmp_path: Path) -> None:
    text = (
        "title: t\ntargets: {hosts: x, select: {count: 0}}\nfault: {role: nodots}\n"
        "duration: soon\nguardrails:\n  interval: 1s\n  probes:\n    - name: p\n"
        "      prometheus: up\n"
    )
    message = errors_of(write(tmp_path, text))
    assert "exp.yml:2: targets.select.count: must be at least 1" in message
    assert "exp.yml:3: fault.role: expected a role FQCN" in message
    assert "exp.yml:4: duration: expected a duration" in message
    assert "exp.yml:8: guardrails.probes[0]: a prometheus probe needs a threshold" in message


def test_missing_required_keys(tmp_path: Path) -> None:
    message = errors_of(write(tmp_path, "title: only a title\n"))
    for key in ("targets", "fault", "duration"):
        assert f"missing required key '{key}'" in message


@pytest.mark.parametrize(
    "text, expected",
    [
        ("title: [unclosed\n", "exp.yml:2: not valid YAML"),
        ("a: 1\na: 2\n", "exp.yml:2: duplicate key 'a'"),
        ("- just\n- a list\n", "(document): expected a mapping"),
        ("", "(document): expected a mapping, got nothing"),
        ("title: !python/object x\n", "unsupported YAML tag"),
        ("a: &x [*x]\n", "exp.yml:1: recursive YAML alias"),
    ],
)
def test_malformed_yaml_names_the_line(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in errors_of(write(tmp_path, text))


def test_duplicate_probe_names(tmp_path: Path) -> None:
    text = GOOD.read_text().replace("latency not much above baseline", "error ratio under 5%")
    assert "duplicate probe name 'error ratio under 5%'" in errors_of(write(tmp_path, text))


def test_overrides_apply_and_are_recorded() -> None:
    exp = load_experiment(GOOD, ["duration=2s", "guardrails.probes.0.max=0.02"])
    assert exp.duration == 2.0
    assert exp.guardrails.probes[0].thresholds["max"] == 0.02
    assert exp.overrides == {"duration": "2s", "guardrails.probes.0.max": "0.02"}
    # a guardrail was overridden: the file's own values are kept to hold it to them
    assert exp.as_filed is not None
    assert exp.as_filed.experiment.guardrails.probes[0].thresholds["max"] == 0.05
    assert load_experiment(GOOD, ["duration=2s"]).as_filed is None


def test_bad_override_names_the_option() -> None:
    message = errors_of(GOOD, ["duration=forever"])
    assert "good.yml (--set duration): duration: expected a duration" in message
    assert "expected field=value" in errors_of(GOOD, ["duration"])
    assert "not an index" in errors_of(GOOD, ["guardrails.probes.9.max=1"])


def test_percent_thresholds_and_select_all(tmp_path: Path) -> None:
    text = GOOD.read_text().replace("select: {count: 1}", "select: all")
    exp = load_experiment(write(tmp_path, text))
    assert exp.targets.mode == "all"
    bad = GOOD.read_text().replace("max_increase: 50%", "max_increase: lots%")
    assert "expected a number or a percentage" in errors_of(write(tmp_path, bad))


def test_a_lease_longer_than_the_maximum_is_refused_naming_the_field(tmp_path: Path) -> None:
    message = errors_of(GOOD, ["lease_ttl=7d"])
    assert "good.yml (--set lease_ttl): lease_ttl: 604800s is longer than lease.max_ttl" in (
        message
    )
    text = GOOD.read_text() + "lease_ttl: 10m\n"
    with pytest.raises(InvalidInput) as info:
        load_experiment(write(tmp_path, text), None, Defaults(max_ttl=120, source="my.yml"))
    assert "exp.yml:" in str(info.value) and "lease_ttl: 600s" in str(info.value)
    assert "(120s in my.yml)" in str(info.value) and info.value.exit_code == 2
    assert load_experiment(GOOD, ["lease_ttl=5m"]).lease_ttl == 300


def test_ttl_margin_is_the_old_name_of_lease_ttl(tmp_path: Path) -> None:
    exp = load_experiment(GOOD, ["ttl_margin=1m"])
    assert exp.lease_ttl == 60 and exp.deprecated == [("ttl_margin",)]
    assert "ttl_margin: 604800s is longer" in errors_of(GOOD, ["ttl_margin=7d"])
    both = errors_of(GOOD, ["ttl_margin=1m", "lease_ttl=1m"])
    assert "give lease_ttl only" in both


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (bytes(range(256)), "exp.yml: not a text file (not UTF-8)"),
        (b"title: \x00\x01\n", "exp.yml:1: not a text file"),
    ],
)
def test_a_binary_experiment_is_one_line_naming_it(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "exp.yml"
    path.write_bytes(content)
    message = errors_of(path)
    assert message.startswith(str(tmp_path / expected)) and "\n" not in message, message
