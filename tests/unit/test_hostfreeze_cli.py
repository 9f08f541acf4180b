"""`chaosrun freeze|unfreeze -i` and `status`'s frozen hosts, without a lab: the hosts'
shells are a real /bin/sh on a temporary state directory (one host), or a host that does
not answer; the inventory is read by ansible-core as in a real run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaosrun.cli import app
from chaosrun.hosts.hostshell import Answer
from chaosrun.model import audit
from chaosrun.ops import fleet
from chaosrun.run import hostfreeze


class LocalShell:
    """HostShell's run_all, with `web-1` as this machine's /bin/sh and `web-2` down."""

    def __init__(
        self, hosts: list, control: str = "e", persist: int = 600, shells: bool = True
    ) -> None:
        self.hosts = {h.name: h for h in hosts}

    def run_all(self, scripts: dict[str, str], timeout: float = 30.0) -> dict[str, Answer]:
        answers = {}
        for name, script in scripts.items():
            if name == "web-2":
                answers[name] = Answer(255, "ssh: connect to host web-2: No route to host", 3.0)
                continue
            done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True)
            answers[name] = Answer(done.returncode, done.stdout + done.stderr, 0.01)
        return answers

    def close(self, keep_connections: bool = False) -> None:
        pass


@pytest.fixture(name="project")
def project_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "chaosrun.yml").write_text(
        f"audit: {{path: {tmp_path}/audit.jsonl}}\nfreeze_file: {tmp_path}/freeze.json\n"
    )
    (tmp_path / "hosts").write_text(
        "[web]\nweb-1 ansible_host=127.0.0.1\nweb-2 ansible_host=127.0.0.2\n"
    )
    monkeypatch.setattr(hostfreeze, "HostShell", LocalShell)
    monkeypatch.setenv("CHAOSRUN_CONFIG", str(tmp_path / "chaosrun.yml"))
    monkeypatch.setenv("CHAOSRUN_INVENTORY", str(tmp_path / "hosts"))
    return tmp_path


def cli(project: Path, *args: str):
    return CliRunner().invoke(app, [*args, "--state-dir", str(project / "state")])


def test_freeze_on_the_hosts_names_the_unreachable_and_exits_nonzero(project: Path) -> None:
    fault = project / "state" / "active" / "run-1" / "service_stop"
    fault.mkdir(parents=True)
    (fault / "revert.sh").write_text(f'rm -rf "{fault}"\n')
    done = cli(project, "freeze", "-i", str(project / "hosts"), "--reason", "INC-42", "--json")
    assert done.exit_code == 1, done.output
    out = json.loads(done.output)
    assert out["hosts"] == ["web-1"] and out["reverted"] == {"web-1": ["run-1/service_stop"]}
    assert list(out["frozen_at"]) == ["web-1"]
    assert out["unreachable"] == {"web-2": "ssh: connect to host web-2: No route to host"}
    assert out["frozen"]["reason"] == "INC-42" and out["frozen"]["project"] == str(project)
    assert not fault.exists() and (project / "state" / "frozen").is_file()
    # The controller's own freeze file is another switch: untouched.
    assert not (project / "freeze.json").exists()
    (entry,) = audit.read(project / "audit.jsonl")
    assert (entry["action"], entry["outcome"], entry["scope"]) == ("freeze", "partial", "hosts")
    assert entry["targets"] == ["web-1"] and "web-2" in entry["unreachable"]


def test_freeze_of_reachable_hosts_exits_0_and_unfreeze_lifts_it(project: Path) -> None:
    done = cli(project, "freeze", "-i", str(project / "hosts"), "-l", "web-1", "-r", "INC-7")
    assert done.exit_code == 0, done.output
    assert "frozen 1 host(s): web-1: INC-7" in done.output
    lifted = cli(project, "unfreeze", "-i", str(project / "hosts"), "-l", "web-1", "-r", "over")
    assert lifted.exit_code == 0, lifted.output
    assert "unfrozen web-1 (was: INC-7" in lifted.output
    assert not (project / "state" / "frozen").exists()
    again = cli(project, "unfreeze", "-i", str(project / "hosts"), "-l", "web-1", "-r", "over")
    assert again.exit_code == 0 and "no host was frozen" in again.output
    outcomes = [(e["action"], e["outcome"]) for e in audit.read(project / "audit.jsonl")]
    assert outcomes == [("freeze", "frozen"), ("unfreeze", "unfrozen"), ("unfreeze", "not_frozen")]


def test_a_failed_revert_is_the_loudest_exit(project: Path) -> None:
    fault = project / "state" / "active" / "run-1" / "file_corrupt"
    fault.mkdir(parents=True)
    (fault / "revert.sh").write_text("echo 'restore failed' >&2; exit 1\n")
    done = cli(project, "freeze", "-i", str(project / "hosts"), "-l", "web-1", "-r", "INC-8")
    assert done.exit_code == 5, done.output
    assert "REVERT FAILED web-1: run-1/file_corrupt" in done.output


def test_without_i_only_this_controller_is_frozen(project: Path) -> None:
    # CHAOSRUN_INVENTORY is set (as for `status`), yet the hosts are frozen only when asked.
    done = cli(project, "freeze", "--reason", "local only")
    assert done.exit_code == 0, done.output
    assert (project / "freeze.json").is_file() and not (project / "state").exists()


def test_a_limit_matching_nothing_is_refused_touching_nothing(project: Path) -> None:
    done = cli(project, "freeze", "-i", str(project / "hosts"), "-l", "db", "-r", "x")
    assert done.exit_code != 0
    assert "--limit 'db' matches no host" in str(done.exception or done.output)
    assert not (project / "state").exists() and not (project / "audit.jsonl").exists()


def test_status_reads_frozen_hosts_as_the_listing_module_does(project, monkeypatch):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))
    from ansible_collections.chaosrun.chaos.plugins.modules import fault_status

    monkeypatch.setattr(fleet, "HostShell", LocalShell)
    done = cli(project, "status", "--json")
    assert done.exit_code == 1, done.output  # web-2 did not answer
    assert json.loads(done.output)["frozen_hosts"] == {}
    state = project / "state"
    marker = hostfreeze.marker_text(hostfreeze.killswitch.Freeze("INC-9", "t", "carol", "ops-3"))
    subprocess.run(["/bin/sh", "-c", hostfreeze.freeze_script(str(state), marker)], check=True)
    out = json.loads(cli(project, "status", "--json").output)
    assert [u["host"] for u in out["unreachable"]] == ["web-2"]
    by_module = fault_status.read_frozen(str(state))
    for frozen in (by_module, out["frozen_hosts"]["web-1"]):
        assert frozen["reason"] == "INC-9" and frozen["user"] == "carol"
        assert frozen["line"] == "frozen since t by carol@ops-3: INC-9"


def test_a_host_that_did_not_answer_is_asked_once_more(project, monkeypatch) -> None:
    asked: list[str] = []

    class SlowFirst(LocalShell):
        def run_all(self, scripts, timeout=30.0):
            asked.extend(scripts)
            if asked.count("web-1") == 1:  # its first login timed out
                return {
                    n: Answer(255, "Connection timed out during banner exchange", 15.0)
                    for n in scripts
                }
            return super().run_all(scripts, timeout)

    monkeypatch.setattr(hostfreeze, "HostShell", SlowFirst)
    done = cli(project, "freeze", "-i", str(project / "hosts"), "-l", "web-1", "-r", "INC-5")
    assert done.exit_code == 0, done.output
    assert asked == ["web-1", "web-1"] and (project / "state" / "frozen").is_file()
