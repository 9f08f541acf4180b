"""Failed scheduled slots: recorded in the audit log, posted to the webhooks and shown by
`schedule list`, whether chaosrun fails (bad input) or cannot start at all; and installed
entries that run from any directory in a bare environment.

Real parts: the chaosrun CLI in a subprocess, /bin/sh running the rendered cron entry
under `env -i` from another directory, and the lab's webhook receiver on loopback."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from chaosrun.lab import webhook
from chaosrun.model import audit
from chaosrun.modes import schedule_install, schedules

CRON_ENV = ["env", "-i", "HOME=/root", "LOGNAME=root", "SHELL=/bin/sh", "PATH=/usr/bin:/bin"]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The lab's webhook receiver on a free loopback port: (url, its record file)."""
    record = tmp_path / "notifications.jsonl"
    server = webhook.serve(0, record)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/chaos", record
    server.shutdown()
    server.server_close()


def project(tmp_path: Path, hook_url: str) -> Path:
    """A project with an audit log, a webhook, one schedule and a broken experiment."""
    root = tmp_path / "ops"
    (root / "experiments").mkdir(parents=True)
    (root / "ansible.cfg").write_text("[defaults]\n")
    (root / "experiments" / "broken.yml").write_text("title: broken\nfault: 3\n")
    (root / "hosts").write_text("web-1 ansible_host=127.0.0.1\n")
    conf = {"notifications": {"webhooks": [{"name": "pager", "url": hook_url}]}}
    (root / "chaosrun.yml").write_text(yaml.safe_dump(conf))
    sched = {
        "name": "nightly",
        "experiment": "experiments/broken.yml",
        "inventory": "hosts",
        "cron": "@daily",
    }
    (root / "chaosrun-schedules.yml").write_text(yaml.safe_dump({"schedules": [sched]}))
    return root


def clean_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAOSRUN_", "ANSIBLE_"))}
    return {**env, "CHAOSRUN_PROJECT": str(root), "COLUMNS": "250"}


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaosrun", *args],
        capture_output=True,
        text=True,
        env=clean_env(root),
        cwd=root,
        timeout=120,
    )


def posted(record: Path) -> list[dict]:
    return [r["body"] for r in webhook.read_all(record) if r["path"] == "/chaos"]


def test_a_slot_that_fails_is_audited_posted_and_listed(
    tmp_path: Path, receiver: tuple[str, Path]
) -> None:
    url, record = receiver
    root = project(tmp_path, url)
    done = cli(root, "run", "--scheduled", "nightly", "experiments/broken.yml", "-i", "hosts")
    assert done.returncode == 2, done.stderr
    entries = list(audit.read(root / ".chaosrun" / "audit.jsonl"))
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("run", "scheduled"),
        ("slot", "failed"),
    ]
    slot = entries[-1]
    assert slot["schedule"] == "nightly" and slot["exit_code"] == 2
    assert "broken.yml" in slot["reason"] and "fault" in slot["reason"]
    [body] = posted(record)
    assert body["event"] == "slot_failed" and body["schedule"] == "nightly"
    assert "slot failed (exit 2)" in body["text"] and "broken.yml" in body["text"]
    [row] = json.loads(cli(root, "schedule", "list", "--json").stdout)
    assert row["last_result"]["result"] == "failed" and row["last_result"]["exit_code"] == 2
    table = cli(root, "schedule", "list")
    assert "FAILED exit 2" in table.stdout, table.stdout


def test_a_skipped_slot_is_not_a_failure(tmp_path: Path, receiver: tuple[str, Path]) -> None:
    url, record = receiver
    root = project(tmp_path, url)
    text = (root / "chaosrun-schedules.yml").read_text()
    (root / "chaosrun-schedules.yml").write_text(
        text.replace("name: nightly", "name: nightly\n  probability: 0")
    )
    done = cli(root, "run", "--scheduled", "nightly", "experiments/broken.yml")
    assert done.returncode == 0, done.stderr
    [entry] = list(audit.read(root / ".chaosrun" / "audit.jsonl"))
    assert entry["outcome"] == "skipped"
    assert posted(record) == []
    [row] = json.loads(cli(root, "schedule", "list", "--json").stdout)
    assert row["last_result"]["result"] == "skipped"


def entry_command(cron_text: str) -> str:
    """The shell command of the one entry in a cron.d file (after five fields and user)."""
    [line] = [x for x in cron_text.splitlines() if x.startswith("@daily root ")]
    command = line.removeprefix("@daily root ").replace("\\%", "%")
    words = shlex.split(command)
    if words[0] == "/bin/sh" and len(words) == 2:  # too long for cron: the entry script's
        return Path(words[1]).read_text().splitlines()[-1]
    return command


def install_cron(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for key in [k for k in os.environ if k.startswith(("CHAOSRUN_", "ANSIBLE_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(root))
    cron_file = tmp_path / "cron.d" / "chaosrun"
    found = schedules.load(root / "chaosrun-schedules.yml")
    schedule_install.install(
        found, "cron", cron_path=cron_file, schedule_file=root / "chaosrun-schedules.yml"
    )
    return entry_command(cron_file.read_text())


def test_installed_entry_names_everything_absolutely(
    tmp_path: Path, receiver: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run by hand as cron would (bare environment, another directory): it finds the
    project, the schedule file, experiment and inventory, and its failure is recorded."""
    url, record = receiver
    root = project(tmp_path, url)
    command = install_cron(root, tmp_path, monkeypatch)
    words = shlex.split(command.split(";")[0])
    assert str(root / "experiments" / "broken.yml") in words
    assert words[words.index("--inventory") + 1] == str(root / "hosts")
    assert f"CHAOSRUN_SCHEDULES={root / 'chaosrun-schedules.yml'}" in words
    assert Path(words[words.index("run") - 1]).is_absolute()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([*CRON_ENV, "/bin/sh", "-c", command], cwd=elsewhere, timeout=120)
    assert done.returncode == 0
    entries = list(audit.read(root / ".chaosrun" / "audit.jsonl"))
    assert [(e["action"], e["outcome"]) for e in entries][-1] == ("slot", "failed")
    log = (root / ".chaosrun" / "schedules" / "nightly.log").read_text()
    assert "schedule nightly: go" in log and "broken.yml" in log
    assert len(posted(record)) == 1


def test_entry_whose_chaosrun_is_gone_still_records_the_slot(
    tmp_path: Path, receiver: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, record = receiver
    root = project(tmp_path, url)
    gone = tmp_path / "old-venv" / "bin" / "chaosrun"
    monkeypatch.setattr(schedule_install, "chaosrun_command", lambda: [str(gone)])
    command = install_cron(root, tmp_path, monkeypatch)
    subprocess.run([*CRON_ENV, "/bin/sh", "-c", command], cwd="/", timeout=60)
    [entry] = list(audit.read(root / ".chaosrun" / "audit.jsonl"))
    assert entry["action"] == "slot" and entry["outcome"] == "failed"
    assert entry["schedule"] == "nightly" and entry["exit_code"] == 127
    assert entry["reason"] == f"chaosrun could not be started: {gone}"
    [body] = posted(record)
    assert body["event"] == "slot_failed" and str(gone) in body["text"]
    assert "exit 127" in (root / ".chaosrun" / "schedules" / "nightly.log").read_text()
    monkeypatch.undo()
    [row] = json.loads(cli(root, "schedule", "list", "--json").stdout)
    assert row["last_result"]["result"] == "failed" and row["last_result"]["exit_code"] == 127


def test_fallback_script_escapes_what_it_writes(tmp_path: Path) -> None:
    log = tmp_path / "a" / "audit.jsonl"
    script = tmp_path / "slot-failed"
    script.write_text(schedule_install.fallback_script(log, []))
    reason = 'a "quoted" back\\slash\tand tab'
    subprocess.run(["/bin/sh", str(script), "n", reason, "126"], check=True, timeout=30)
    [entry] = list(audit.read(log))
    assert entry["reason"] == 'a "quoted" back\\slashand tab' and entry["exit_code"] == 126


def test_unreadable_config_hands_the_slot_to_the_fallback(
    tmp_path: Path, receiver: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, record = receiver
    root = project(tmp_path, url)
    command = install_cron(root, tmp_path, monkeypatch)
    (root / "chaosrun.yml").write_text("prometheus: [\n")
    subprocess.run([*CRON_ENV, "/bin/sh", "-c", command], cwd="/", timeout=120)
    [entry] = list(audit.read(root / ".chaosrun" / "audit.jsonl"))
    assert entry["action"] == "slot" and entry["exit_code"] == 2
    assert "chaosrun.yml" in entry["reason"] and "not valid YAML" in entry["reason"]
    assert len(posted(record)) == 1


def test_entries_call_the_chaosrun_that_installed_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "venv" / "bin" / "chaosrun"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    link = tmp_path / "bin" / "chaosrun"  # as pipx links it
    link.parent.mkdir()
    link.symlink_to(script)
    monkeypatch.setattr(sys, "argv", [str(link), "schedule", "install"])
    assert schedule_install.chaosrun_command() == [str(script)]
    monkeypatch.setattr(sys, "argv", ["/somewhere/chaosrun/__main__.py"])
    command = schedule_install.chaosrun_command()
    assert Path(command[0]).is_absolute() and Path(command[0]).parent == Path(sys.executable).parent


def test_guard_records_the_exit_code_a_run_ends_with(
    tmp_path: Path, receiver: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that ends with `typer.Exit(4)` (how `run` leaves on a refusal) is a failed
    slot with that code and the reason the run noted; a passing one is a passed slot."""
    import typer

    from chaosrun.modes import slots

    url, record = receiver
    root = project(tmp_path, url)
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(root))
    monkeypatch.delenv("CHAOSRUN_CONFIG", raising=False)
    with pytest.raises(typer.Exit), slots.guard("nightly", "x.yml") as slot:
        slot.run_id, slot.reason = "r-1", "refused: blackout window"
        raise typer.Exit(4)
    with slots.guard("nightly", "x.yml") as slot:
        slot.run_id = "r-2"
    first, second = audit.read(root / ".chaosrun" / "audit.jsonl")
    assert (first["outcome"], first["exit_code"], first["run_id"]) == ("failed", 4, "r-1")
    assert first["reason"] == "refused: blackout window"
    assert (second["outcome"], second["exit_code"], second["run_id"]) == ("passed", 0, "r-2")
    [body] = posted(record)
    assert body["run_id"] == "r-1" and "exit 4" in body["text"]


def test_a_slot_whose_set_loosens_the_experiment_fails_naming_the_field(
    tmp_path: Path, receiver: tuple[str, Path]
) -> None:
    """A schedule entry's `set:` may only tighten, as `--set` may: this one widens the blast
    radius, so the slot is refused before a host is contacted, and recorded as failed."""
    url, record = receiver
    root = project(tmp_path, url)
    (root / "experiments" / "stop.yml").write_text(
        "title: stop one web\n"
        "targets: {hosts: all, select: {count: 1}}\n"
        "fault: {role: chaosrun.chaos.service_stop, vars: {service_stop_units: [web.service]}}\n"
        "duration: 5s\n"
    )
    sched = {
        "name": "nightly",
        "experiment": "experiments/stop.yml",
        "inventory": "hosts",
        "cron": "@daily",
        "set": {"blast_radius.allow_whole_group": "true", "targets.select": "all"},
    }
    (root / "chaosrun-schedules.yml").write_text(yaml.safe_dump({"schedules": [sched]}))
    [entry] = schedules.load(root / "chaosrun-schedules.yml")
    assert "blast_radius.allow_whole_group=true" in entry.run_args()  # what cron would run
    done = cli(root, *entry.run_args())
    assert done.returncode == 2, done.stderr
    expected = (
        "stop.yml (--set blast_radius.allow_whole_group): blast_radius.allow_whole_group: "
        "true asked, looser than the ceiling false from the built-in default"
    )
    assert expected in done.stderr, done.stderr
    slot = list(audit.read(root / ".chaosrun" / "audit.jsonl"))[-1]
    assert (slot["action"], slot["outcome"], slot["exit_code"]) == ("slot", "failed", 2)
    assert expected in slot["reason"]
    [body] = posted(record)
    assert body["event"] == "slot_failed"
    assert not (root / ".chaosrun" / "runs").exists()
