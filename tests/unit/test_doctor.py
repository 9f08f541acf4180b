"""`chaosrun doctor`: the controller's checks against real local parts (a loopback HTTP
server standing in for Prometheus, this machine's tools), the host script run by a real
shell, and the host checks over a stand-in fast path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from chaosrun.hosts.hostaccess import HostInfo
from chaosrun.hosts.hostshell import Answer
from chaosrun.ops import doctor
from chaosrun.run.preflight import LACKING_RC


@pytest.fixture
def prometheus() -> Iterator[tuple[str, list[int]]]:
    """A loopback server answering /-/ready with the status in `codes[0]`."""
    codes = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(codes[0] if self.path == "/-/ready" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", codes
    server.shutdown()
    server.server_close()


def test_prometheus_ready_and_refusing(prometheus: tuple[str, list[int]]) -> None:
    from chaosrun.model.apiaccess import ApiAccess

    url, codes = prometheus
    assert doctor.ready_check("prometheus", ApiAccess(url), 5).ok
    codes[0] = 401
    check = doctor.ready_check("prometheus", ApiAccess(url), 5)
    assert not check.ok and "401 unauthorized" in check.detail and "credentials" in check.fix


def test_ansible_outside_the_requirement_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    assert doctor.ansible_check().ok
    monkeypatch.setattr(importlib.metadata, "requires", lambda _: ["ansible-core>=99"])
    check = doctor.ansible_check()
    assert not check.ok and "ansible-core>=99" in check.detail and "pip install" in check.fix


def test_collection_found_with_its_version() -> None:
    check = doctor.collection_check()
    assert check.ok and "chaosrun.chaos 0.1" in check.detail


def test_tools_follow_the_project_roles(tmp_path: Path) -> None:
    assert doctor.project_roles(tmp_path) is None
    assert doctor.tools_for(None) == ["python3", "systemd", "firewall", "tc"]
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "a.yml").write_text("fault: {role: chaosrun.chaos.process_kill}\n")
    (tmp_path / "experiments" / "b.yml").write_text("not: [valid\n")
    assert doctor.project_roles(tmp_path) == {"process_kill"}
    assert doctor.tools_for({"process_kill"}) == ["python3", "systemd"]
    assert doctor.tools_for({"network_partition"}) == ["python3", "systemd", "firewall"]
    assert "tc" in doctor.tools_for({"network_bandwidth"})


def test_host_script_in_a_real_shell(tmp_path: Path) -> None:
    """This machine: root, no systemd as PID 1; an unwritable state directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("systemd-run", "tc", "iptables"):
        (bin_dir / tool).write_text("#!/bin/sh\n")
        (bin_dir / tool).chmod(0o755)
    script = doctor.host_script(["python3", "systemd", "tc"], "/proc/chaosrun-doctor")
    done = subprocess.run(
        ["/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        timeout=30,
    )
    checks = doctor.read_answer("web-1", done.returncode, done.stdout, "/proc/chaosrun-doctor")
    problems = {c.name: c for c in checks if not c.ok}
    assert "python3" not in problems and "tc" not in problems
    assert "state_dir" in problems and "/proc/chaosrun-doctor" in problems["state_dir"].detail
    if not Path("/run/systemd/system").is_dir():
        assert problems["systemd"].detail == "systemd is not running as PID 1"


def test_read_answer_names_each_problem_with_its_fix() -> None:
    out = "lack tc\nlack firewall\nmissing: no systemd-run;"
    checks = doctor.read_answer("db-1", LACKING_RC, out, "/var/lib/chaosrun")
    lines = [c.line() for c in checks]
    assert lines == [
        "db-1: no tc; fix: install iproute2 (latency, loss and bandwidth faults use tc)",
        "db-1: neither iptables nor nft; fix: install iptables "
        "(network faults tag their rules there)",
        "db-1: no systemd-run; fix: install systemd (systemd-run arms the on-host dead-man timer)",
    ]
    [ok] = doctor.read_answer("db-1", 0, "", "/var/lib/chaosrun")
    assert ok.ok
    [lost] = doctor.read_answer("db-2", 255, "Host key verification failed.", "/x")
    assert not lost.ok and "host key verification failed" in lost.detail


class FakeShell:
    """The fast path's interface, answering from a table."""

    answers: ClassVar[dict[str, Answer]] = {}
    seen: ClassVar[dict[str, str]] = {}

    def __init__(self, hosts: list[HostInfo], persist: int = 600, shells: bool = True) -> None:
        self.hosts = {h.name: h for h in hosts}

    def run_all(self, scripts: dict[str, str], timeout: float) -> dict[str, Answer]:
        FakeShell.seen = scripts
        return {n: self.answers[n] for n in scripts}

    def argv(self, name: str) -> list[str]:
        """A plain "ssh" for the retry: a local shell that answers for the host."""
        script = "exit 0" if name == "a" else "echo 'Connection reset'; exit 255"
        return ["/bin/sh", "-c", script, "ssh", "-o", "ControlMaster=auto", "ControlPath=x"]

    def remote(self, name: str, command: str) -> str:
        return command

    def close(self) -> None:
        pass


class FakeInventory:
    def __init__(self, infos: list[HostInfo]) -> None:
        self.infos = {h.name: h for h in infos}

    def match(self, pattern: str) -> list[str]:
        return list(self.infos)

    def host_info(self, name: str) -> HostInfo:
        return self.infos[name]

    def host_vars(self, name: str) -> dict[str, str]:
        return {"chaos_state_dir": "/srv/chaos"} if name == "b" else {}


def test_host_checks_in_parallel_over_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setattr(doctor, "HostShell", FakeShell)
    FakeShell.answers = {"a": Answer(0, "", 0.1), "b": Answer(LACKING_RC, "lack tc", 0.1)}
    infos = [
        HostInfo("a", "10.0.0.1", "ops", None, None, become=True),
        HostInfo("b", "10.0.0.2", "ops", None, None, become=True),
        HostInfo("c", "10.0.0.3", "ops", None, None, become=True, become_password=True),
    ]
    checks = doctor.host_checks(FakeInventory(infos))
    assert set(FakeShell.seen) == {"a", "b"}  # c's sudo cannot be reproduced: not run
    assert "/srv/chaos" in FakeShell.seen["b"] and "/var/lib/chaosrun" in FakeShell.seen["a"]
    problems = [c.line() for c in checks if not c.ok]
    assert len(problems) == 2
    assert problems[0].startswith("c: a become password is set") and "NOPASSWD" in problems[0]
    assert problems[1].startswith("b: no tc; fix: install iproute2")


def test_cli_exit_code_and_json(tmp_path: Path, prometheus: tuple[str, list[int]]) -> None:
    url, codes = prometheus
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAOSRUN_")}
    env.update(CHAOSRUN_PROJECT=str(Path.cwd()), CHAOSRUN_PROMETHEUS_URL=url)
    env["CHAOSRUN_CONFIG"] = str(tmp_path / "none.yml")
    (tmp_path / "none.yml").write_text("{}\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chaosrun", "doctor", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    good = run()
    assert good.returncode == 0, good.stdout + good.stderr
    assert "all good on the controller" in good.stderr
    codes[0] = 503
    bad = run("--json")
    assert bad.returncode == 1
    doc = json.loads(bad.stdout)
    assert doc["ok"] is False and len(doc["problems"]) == 1
    assert doc["problems"][0].startswith("controller: prometheus: ") and "503" in doc["problems"][0]


def test_a_host_that_drops_its_first_connection_is_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    monkeypatch.setattr(doctor, "HostShell", FakeShell)
    dropped = Answer(255, "could not open a shell: Broken pipe", 0.1)
    FakeShell.answers = {"a": dropped, "b": dropped}
    infos = [HostInfo(n, "10.0.0.1", "ops", None, None) for n in ("a", "b")]
    checks = doctor.host_checks(FakeInventory(infos))
    assert [c.ok for c in checks] == [True, False]
    assert checks[1].where == "b" and "Connection reset" in checks[1].detail


def test_the_summary_says_where_the_problems_are() -> None:
    def check(where: str, ok: bool) -> doctor.Check:
        return doctor.Check(where, "x", ok, "detail")

    good = [check("controller", True), check("a", True), check("b", True), check("c", True)]
    assert doctor.summary(good, hosts_checked=True) == "all good on the controller and 3 host(s)"
    assert doctor.summary(good[:1], hosts_checked=False) == "all good on the controller"
    controller = [check("controller", False), *good]
    assert doctor.summary(controller, hosts_checked=True) == (
        "1 problem(s) on the controller; all 3 host(s) good"
    )
    assert doctor.summary(controller[:2], hosts_checked=False) == "1 problem(s) on the controller"
    hosts = [*good, check("b", False), check("b", False), check("c", False)]
    assert doctor.summary(hosts, hosts_checked=True) == (
        "3 problem(s) on 2 of 3 host(s); the controller is good"
    )
    both = [check("controller", False), *hosts]
    assert doctor.summary(both, hosts_checked=True) == (
        "4 problem(s): 1 on the controller, 3 on 2 of 3 host(s)"
    )
