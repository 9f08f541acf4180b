"""Overrides may not redirect or blind the guardrails (chaosrun.model.tighten_sources): the
experiment's Prometheus and its access settings stay the files', its timeout only shorter;
`expected_alerts` may be dropped or narrowed, never added or widened; an experiment file
whose silence has no host scope is warned about; a refused loosening is in the audit log
(chaosrun.model.tighten_audit) with user, command, keys and values, secrets masked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_fixtures import GOOD, INVENTORY, isolated_project, validated
from engine_fixtures import main_in_process as chaosrun

from chaosrun.base.errors import InvalidInput
from chaosrun.plan.validation import Report

TRUTH = "an override may not change where the guardrails and steady state read from"
SILENCE = "an override may not add or widen a silence"


@pytest.fixture(autouse=True, name="project")
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    isolated_project(monkeypatch, tmp_path)
    return tmp_path


def checked(file: Path, *overrides: str) -> Report:
    return validated(file, *overrides)


def refused(file: Path, *overrides: str) -> str:
    with pytest.raises(InvalidInput) as exc:
        checked(file, *overrides)
    assert exc.value.exit_code == 2
    return str(exc.value)


def with_text(project: Path, extra: str, name: str = "exp.yml") -> Path:
    path = project / name
    path.write_text(GOOD.read_text() + extra)
    return path


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        (
            "prometheus.url=http://127.0.0.1:1",
            f"prometheus.url: 'http://127.0.0.1:1' asked, {GOOD} says none (the project's "
            f"Prometheus) ({TRUTH})",
        ),
        (
            "prometheus.insecure_skip_verify=true",
            f"prometheus.insecure_skip_verify: true asked, {GOOD} says none ({TRUTH})",
        ),
        (
            "prometheus.bearer_token_env=OTHER_TOKEN",
            f"prometheus.bearer_token_env: 'OTHER_TOKEN' asked, {GOOD} says none",
        ),
        ("prometheus.ca_file=/tmp/other-ca.pem", "prometheus.ca_file: '/tmp/other-ca.pem' asked"),
        (
            "prometheus.headers.X-Scope-OrgID=another-team",
            f"prometheus.headers: headers with X-Scope-OrgID asked, {GOOD} says none",
        ),
        (
            "prometheus.basic_auth={username: u, password_env: P}",
            "prometheus.basic_auth: basic_auth with password_env, username asked",
        ),
        (
            "prometheus.timeout=5s",
            f"prometheus.timeout: 5s asked, looser than 1s from {GOOD} (an override may only "
            "tighten: a shorter timeout is tighter)",
        ),
    ],
)
def test_an_override_may_not_redirect_the_guardrails(override: str, needle: str) -> None:
    key = override.partition("=")[0]
    text = refused(GOOD, override)
    assert f"{GOOD} (--set {key}): {needle}" in text, text
    assert "another-team" not in text  # a header's value may be a secret: named, not shown


def test_a_whole_block_is_judged_by_what_it_changes() -> None:
    text = refused(GOOD, "prometheus={url: 'http://127.0.0.1:1', timeout: 1s}")
    assert f"{GOOD} (--set prometheus): prometheus.url: 'http://127.0.0.1:1' asked" in text
    assert "prometheus.timeout" not in text  # same as the file's, and scrape_interval is free
    assert len(text.splitlines()) == 1, text


def test_a_url_with_credentials_is_named_without_them() -> None:
    text = refused(GOOD, "prometheus.url=https://alice:hunter2@prom.example.com")
    assert "'https://********@prom.example.com' asked" in text and "hunter2" not in text


FAULT_RULE = "(the fault is the experiment file's: change it there)"


def test_an_override_may_not_change_the_fault() -> None:
    """A survey's More overrides or a schedule's set: cannot turn the reviewed experiment
    into another fault, nor aim it at another unit."""
    text = refused(
        GOOD,
        "fault={role: chaosrun.chaos.process_kill, vars: {process_kill_unit: x.service}}",
    )
    assert (
        f"{GOOD} (--set fault): fault.role: 'chaosrun.chaos.process_kill' asked, {GOOD} "
        f"says 'testns.faults.demo_fault' {FAULT_RULE}"
    ) in text, text
    text = refused(GOOD, "fault.vars.demo_fault_unit=postgresql.service")
    assert (
        f"{GOOD} (--set fault.vars.demo_fault_unit): fault.vars.demo_fault_unit: a value "
        f"asked where {GOOD} gives another {FAULT_RULE}"
    ) in text, text
    assert "postgresql" not in text  # a role's option may be a secret: named, not shown
    text = refused(GOOD, "fault={role: testns.faults.demo_fault, vars: {}}")
    assert f"fault.vars.demo_fault_unit: a value asked where {GOOD} gives another" in text
    # The file's own values, repeated, change nothing.
    assert checked(GOOD, "fault.vars.demo_fault_unit=order-service.service").matched


def test_tighter_or_unchanged_prometheus_settings_work(project: Path) -> None:
    assert checked(GOOD, "prometheus.timeout=500ms", "prometheus.scrape_interval=5s").matched
    own = (
        with_text(project, "")
        .read_text()
        .replace(
            "prometheus: {scrape_interval: 1s, timeout: 1s}",
            "prometheus: {url: 'http://127.0.0.1:7', scrape_interval: 1s, timeout: 1s}",
        )
    )
    (project / "own.yml").write_text(own)
    assert checked(project / "own.yml", "prometheus.url=http://127.0.0.1:7").matched
    text = refused(project / "own.yml", "prometheus.url=http://127.0.0.1:8")
    assert f"says 'http://127.0.0.1:7' ({TRUTH})" in text


def test_an_override_may_not_add_a_silence() -> None:
    text = refused(GOOD, "expected_alerts=[InstanceDown]")
    assert (
        f"{GOOD} (--set expected_alerts): expected_alerts[0]: a silence of 'InstanceDown' on "
        f"the run's hosts by instance asked, {GOOD} lists none ({SILENCE}" in text
    ), text


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        (
            "expected_alerts.0.host_label=",
            "'InstanceDown' {job=node} on every host asked, wider than {file}'s 'InstanceDown' "
            "{job=node} on the run's hosts by instance",
        ),
        (
            "expected_alerts=[{name: InstanceDown, host_label: ''}]",
            "'InstanceDown' on every host asked, wider than",
        ),
        (
            "expected_alerts.0.labels={}",
            "'InstanceDown' on the run's hosts by instance asked, wider than",
        ),
        (
            "expected_alerts.0.host_label=job",
            "'InstanceDown' {job=node} on the run's hosts by job asked, wider than",
        ),
        (
            "expected_alerts=[{name: InstanceDown, labels: {job: node}}, HighErrorRatio]",
            "expected_alerts[1]: a silence of 'HighErrorRatio' on the run's hosts by instance "
            "asked, {file} lists 'InstanceDown'",
        ),
    ],
)
def test_an_override_may_not_widen_a_silence(project: Path, override: str, needle: str) -> None:
    file = with_text(project, "expected_alerts: [{name: InstanceDown, labels: {job: node}}]\n")
    text = refused(file, override)
    key = override.partition("=")[0]
    assert f"{file} (--set {key}): " in text and needle.replace("{file}", str(file)) in text, text
    assert SILENCE in text


def test_a_silence_may_be_dropped_or_narrowed(project: Path) -> None:
    file = with_text(project, "expected_alerts: [{name: InstanceDown, host_label: ''}]\n")
    assert checked(file, "expected_alerts=[]").matched
    assert checked(file, "expected_alerts.0.host_label=instance").matched
    assert checked(file, "expected_alerts.0.labels={job: node}").matched


def test_a_file_whose_silence_has_no_host_scope_is_warned_about(project: Path) -> None:
    file = with_text(project, "expected_alerts:\n  - {name: InstanceDown, host_label: ''}\n")
    line = len(GOOD.read_text().splitlines()) + 2
    warning = (
        f"{file}:{line}: expected_alerts[0].host_label: the silence of 'InstanceDown' has no "
        "host scope: while the run lasts it mutes InstanceDown wherever it fires, not only on "
        "the run's targets"
    )
    assert warning in checked(file).warnings
    code, _, stderr = chaosrun("validate", str(file), "-i", str(INVENTORY))
    assert code == 0 and warning in stderr.replace("\n", " "), stderr
    scoped = with_text(project, "expected_alerts: [InstanceDown]\n", "scoped.yml")
    assert not [w for w in checked(scoped).warnings if "host scope" in w]


def audit_lines(project: Path) -> list[dict]:
    log = project / "audit"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("command", ["validate", "plan", "run"])
def test_a_refused_loosening_is_in_the_audit_log_without_secrets(
    project: Path, command: str
) -> None:
    args = [
        command, str(GOOD), "-i", str(INVENTORY),
        "--set", "prometheus.url=https://alice:hunter2@127.0.0.1:1",
        "--set=prometheus.headers={Authorization: Bearer s3cr3t}",
        "--set", "fault.vars.demo_fault_unit=payment-service.service",
        "--set", "duration=2s",
    ]  # fmt: skip
    if command == "run":
        args += ["--runs-dir", str(project / "runs")]
    code, _, stderr = chaosrun(*args)
    assert code == 2, stderr
    assert "(--set prometheus.url): prometheus.url: " in stderr
    assert "hunter2" not in stderr and "s3cr3t" not in stderr
    (entry,) = audit_lines(project)
    assert (entry["action"], entry["outcome"], entry["command"]) == ("refused", "loosened", command)
    assert entry["user"] and entry["host"] and entry["experiment"] == str(GOOD)
    assert entry["overrides"] == {
        "prometheus.url": "https://********@127.0.0.1:1",
        "prometheus.headers": "********",
        "fault.vars.demo_fault_unit": "********",  # the role's secret options are not known here
        "duration": "2s",
    }
    assert [p.split(": ", 1)[1] for p in entry["problems"]] == [
        "prometheus.url: 'https://********@127.0.0.1:1' asked, "
        f"{GOOD} says none (the project's Prometheus) ({TRUTH})",
        f"prometheus.headers: headers with Authorization asked, {GOOD} says none ({TRUTH})",
        # another unit than the file's: named, its value not repeated
        f"fault.vars.demo_fault_unit: a value asked where {GOOD} gives another "
        "(the fault is the experiment file's: change it there)",
    ]
    text = (project / "audit").read_text()
    assert "hunter2" not in text and "s3cr3t" not in text
    assert not (project / "runs").exists()


def test_other_invalid_input_is_not_audited(project: Path) -> None:
    code, _, stderr = chaosrun("run", str(GOOD), "-i", str(INVENTORY), "--set", "duration=soon")
    assert code == 2 and "duration" in stderr, stderr
    assert audit_lines(project) == []


def test_a_schedule_entry_may_not_redirect_the_guardrails_and_is_audited(
    project: Path, monkeypatch
) -> None:
    (project / "ansible.cfg").write_text("[defaults]\n")
    (project / "experiments").mkdir()
    (project / "experiments" / "good.yml").write_text(GOOD.read_text())
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(project))
    monkeypatch.delenv("CHAOSRUN_SCHEDULES", raising=False)
    monkeypatch.chdir(project)
    code, _, stderr = chaosrun(
        "schedule", "add", "sneaky", "--experiment", "experiments/good.yml", "--cron", "0 3 * * *",
        "--set", "prometheus.url=http://127.0.0.1:1", "--set", "expected_alerts=[InstanceDown]",
    )  # fmt: skip
    assert code == 2, stderr
    assert "prometheus.url: 'http://127.0.0.1:1' asked" in stderr, stderr
    assert "expected_alerts[0]: a silence of 'InstanceDown'" in stderr, stderr
    assert not (project / "chaosrun-schedules.yml").exists()
    (entry,) = audit_lines(project)
    assert (entry["outcome"], entry["command"]) == ("loosened", "schedule add")
    assert entry["overrides"] == {
        "prometheus.url": "http://127.0.0.1:1",
        "expected_alerts": "[InstanceDown]",
    }
    assert len(entry["problems"]) == 2 and entry["experiment"].endswith("experiments/good.yml")
    # a `set:` that is merely invalid is not a loosening: refused, not audited
    code, _, stderr = chaosrun(
        "schedule", "add", "typo", "--experiment", "experiments/good.yml", "--cron", "0 3 * * *",
        "--set", "duration=soon",
    )  # fmt: skip
    assert code == 2 and "duration" in stderr, stderr
    assert len(audit_lines(project)) == 1


def test_a_secret_option_of_the_role_may_come_from_an_override() -> None:
    """A credential (no_log in the role's spec) is kept out of the file, not a choice of
    fault: --set may give it; any other option stays the file's."""
    assert checked(GOOD, "fault.vars.demo_fault_token=hunter2").matched
    text = refused(GOOD, "fault.vars.demo_fault_token=hunter2", "fault.vars.demo_fault_unit=x")
    assert "fault.vars.demo_fault_unit: a value asked" in text
    assert "demo_fault_token" not in text and "hunter2" not in text
