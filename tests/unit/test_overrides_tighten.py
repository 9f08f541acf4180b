"""`--set` may only tighten what the files say (chaosrun.model.tighten): guardrails, steady
state, blackout windows and exclusions here (the blast-radius caps are in
test_safety_validation.py), and the refusal through the real command line, as a typed flag,
a schedule slot and an AWX survey's `--set=...` argv reach it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from engine_fixtures import GOOD, INVENTORY, isolated_project, validated
from engine_fixtures import main_in_process as chaosrun

from chaosrun.base.errors import InvalidInput
from chaosrun.hosts.inventory import load_inventory
from chaosrun.model.experiment import load_experiment
from chaosrun.plan.validation import check

PROJECT_GUARDRAIL = """\
guardrails:
  probes:
    - name: users see no errors
      prometheus: sum(rate(lab_traffic_requests_total{outcome="error"}[5s]))
      max: 0.5
"""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolated_project(monkeypatch, tmp_path)


URL = "http://127.0.0.1:9/"


def _added(key: str, probe: dict) -> str:
    """`--set key=<the file's probes and this one>` (JSON is YAML)."""
    node = yaml.safe_load(GOOD.read_text())
    for part in key.split("."):
        node = node[part]
    return f"{key}={json.dumps([*node, probe])}"


def problems(*overrides: str) -> str:
    with pytest.raises(InvalidInput) as exc:
        checked(*overrides)
    assert exc.value.exit_code == 2
    return str(exc.value)


def checked(*overrides: str):
    return validated(GOOD, *overrides)


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        (
            "guardrails.probes=[]",
            "guardrails.probes: drops the guardrails 'error ratio under 5%', 'latency not much "
            f"above baseline' of {GOOD}",
        ),
        (
            "guardrails.probes=[{name: error ratio under 5%, prometheus: 'x', max: 0.01}]",
            f"drops the guardrail 'latency not much above baseline' of {GOOD}",
        ),
        ("guardrails.probes.0.max=0.5", "guardrails.probes[0].max: the guardrail 'error ratio"),
        ("guardrails.probes.1.max_increase=80%", "max_increase 80% asked, above 50%"),
        ("guardrails.probes.1.max_increase=0.2", "a percentage and a step cannot be ordered"),
        (
            "guardrails.probes.0={name: error ratio under 5%, prometheus: 'sum(rate(demo_requests"
            """_total{code=~"5.."}[2s])) / sum(rate(demo_requests_total[2s]))', min: 0}""",
            "guardrails.probes[0].max: the guardrail 'error ratio under 5%' from ",
        ),
        ("guardrails.probes.0.prometheus=vector(0)", "probes[0].prometheus: the guardrail"),
        ("guardrails.interval=10s", "guardrails.interval: 10s asked, looser than 1s"),
        ("guardrails.breaches_in_a_row=3", "breaches_in_a_row: 3 asked, looser than 1"),
        ("guardrails.unknown_budget=10", "unknown_budget: 10 asked, looser than 2"),
        ("steady_state=[]", "drops the steady-state probe 'error ratio under 1%'"),
        ("steady_state.0.max=1", "steady_state[0].max: the steady-state probe"),
    ],
)
def test_an_override_may_not_loosen_a_guardrail(override: str, needle: str) -> None:
    key = override.partition("=")[0]
    text = problems(override)
    assert f"{GOOD} (--set {key}): " in text and needle in text, text
    assert "an override may only tighten" in text


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        (
            _added("guardrails.probes", {"name": "disk", "command": {"hosts": "all", "cmd": "rm"}}),
            "guardrails.probes[2]: the guardrail 'disk' runs a command on 'all'",
        ),
        (
            _added("steady_state", {"name": "poke", "http": {"url": URL, "method": "POST"}}),
            "steady_state[1]: the steady-state probe 'poke' sends POST requests",
        ),
    ],
)
def test_an_override_may_not_add_a_probe_that_acts(override: str, needle: str) -> None:
    # Survey answers and schedule entries are overrides from people who may launch a run
    # but not edit its files: a command or a POST would run as the run does.
    text = problems(override)
    assert needle in text and "belongs in the experiment file" in text, text


def test_tighter_guardrails_and_more_of_them_work() -> None:
    extra = "{name: p99 under 1s, prometheus: 'histogram_quantile(0.99, x)', max: 1}"
    report = checked(
        _added("steady_state", {"name": "shop answers", "http": {"url": URL, "method": "HEAD"}}),
        "guardrails.probes.0.max=0.01",
        "guardrails.probes.1.max_increase=20%",
        "guardrails.probes.1.max=2",  # a threshold added is tighter
        "guardrails.interval=500ms",
        "guardrails.unknown_budget=0",
        "steady_state.0.max=0.001",
        f"guardrails.probes=[{{name: error ratio under 5%, prometheus: "
        f'\'sum(rate(demo_requests_total{{code=~"5.."}}[2s])) / '
        f"sum(rate(demo_requests_total[2s]))', max: 0.05}}, "
        f"{{name: latency not much above baseline, prometheus: 'histogram_quantile(0.99, "
        f"sum by (le) (rate(demo_request_duration_seconds_bucket[10s])))', "
        f"max_increase: 20%}}, {extra}]",
    )
    assert report.blast_radius is not None and report.blast_radius.allowed


def test_the_project_guardrail_cannot_be_shadowed_or_dropped(_isolated: Path) -> None:
    _isolated.write_text(_isolated.read_text() + PROJECT_GUARDRAIL)
    shadow = "guardrails.probes=[{name: users see no errors, prometheus: 'vector(0)', max: 1}]"
    text = problems(shadow)
    assert f"the guardrail 'users see no errors' from {_isolated}: its query" in text
    # the experiment's own two are dropped by that list too, and named with their file
    assert (
        f"drops the guardrails 'error ratio under 5%', 'latency not much above baseline' of {GOOD}"
        in text
    )


def test_windows_and_exclusions_may_be_added_not_removed(tmp_path: Path) -> None:
    exp = tmp_path / "guarded.yml"
    exp.write_text(
        GOOD.read_text().replace("  seed: 7\n", "  seed: 7\n  exclude: [order-1]\n")
        + "blackout_windows:\n  - {name: backup, cron: '0 2 * * *', length: 1h}\n"
    )
    inventory = load_inventory(str(INVENTORY))
    for dropped, what in (
        ("blackout_windows=[]", "blackout_windows: the blackout window 'backup' from"),
        ("blackout_windows.0.length=1m", "blackout_windows: the blackout window 'backup' from"),
        ("targets.exclude=[]", "targets.exclude: the exclusion 'order-1' from"),
    ):
        with pytest.raises(InvalidInput) as exc:
            check(load_experiment(exp, [dropped]), inventory)
        key = dropped.partition("=")[0]
        assert f"{exp} (--set {key}): {what} {exp} is dropped or changed" in str(exc.value)
    more = [
        "targets.exclude=[order-1, order-2]",
        "blackout_windows=[{name: backup, cron: '0 2 * * *', length: 1h}, "
        "{name: lunch, cron: '0 12 * * *', length: 1h}]",
    ]
    assert check(load_experiment(exp, more), inventory).matched


def test_other_overrides_are_not_held_to_the_file() -> None:
    report = checked("duration=1s", "targets.select={count: 1}", "lease_ttl=60s")
    assert report.blast_radius is not None and report.blast_radius.allowed


# Through the real command line: what the on-call engineer types, and what a schedule slot
# and an AWX job pass (`--set=KEY=VALUE`, one argv element each).
@pytest.mark.parametrize(
    "args",
    [
        ["--set", "blast_radius.allow_whole_group=true", "--set", "targets.select=all"],
        ["--set=blast_radius.max_percent=100"],
        ["--set", "guardrails.probes=[]"],
    ],
)
@pytest.mark.parametrize("command", ["validate", "plan", "run"])
def test_the_command_line_refuses_a_looser_override_touching_nothing(
    tmp_path: Path, command: str, args: list[str]
) -> None:
    cmd = [command, str(GOOD), "-i", str(INVENTORY), *args]
    if command == "run":
        cmd += ["--runs-dir", str(tmp_path / "runs")]
    code, _, stderr = chaosrun(*cmd)
    assert code == 2, stderr
    key = args[-1].removeprefix("--set=").partition("=")[0] if "=" in args[-1] else args[-1]
    if "guardrails" in key:
        expected = f"(--set {key}): guardrails.probes: drops the guardrails 'error ratio under 5%'"
    elif "allow_whole_group" in " ".join(args):
        expected = (
            "(--set blast_radius.allow_whole_group): blast_radius.allow_whole_group: true "
            "asked, looser than the ceiling false from the built-in default"
        )
    else:
        expected = (
            "(--set blast_radius.max_percent): blast_radius.max_percent: 100 asked, looser "
            "than the ceiling 50 from the built-in default"
        )
    assert expected in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr  # one clear line
    assert not (tmp_path / "runs").exists()  # no run directory, no journal
    # ... and one audit line: who tried to widen what (chaosrun.model.tighten_audit)
    (entry,) = [json.loads(line) for line in (tmp_path / "audit").read_text().splitlines()]
    assert (entry["action"], entry["outcome"], entry["command"]) == ("refused", "loosened", command)
    asked = [a.removeprefix("--set=") for a in args if a != "--set"]
    assert entry["overrides"] == dict(a.split("=", 1) for a in asked)
    assert [expected in line for line in entry["problems"]] == [True]


def test_a_tighter_override_plans_and_says_where_the_cap_came_from() -> None:
    args = ["plan", str(GOOD), "-i", str(INVENTORY), "--set", "blast_radius.max_hosts=1"]
    code, stdout, stderr = chaosrun(*args)
    assert code == 0, stderr
    assert "max_hosts 1 -> 1 (--set blast_radius.max_hosts)" in stdout
