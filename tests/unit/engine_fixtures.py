"""Shared helpers for the engine's unit tests: fixture paths, a tiny Prometheus, and the
command line run in a fresh interpreter or in this one."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from chaosrun import cli

FIXTURES = Path(__file__).parent / "fixtures" / "engine"
INVENTORY = FIXTURES / "inventory.yml"
GOOD = FIXTURES / "good.yml"
COLLECTIONS = FIXTURES / "collections"


def run_fresh(tmp_path: Path, probe: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `probe` (Python that calls chaosrun's main() with `args`) in a fresh interpreter,
    with the fixture collections and a config of its own under `tmp_path`."""
    config = tmp_path / "chaosrun.yml"
    config.write_text(f"run_dir: {tmp_path / 'runs'}\n")
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "CHAOSRUN_CONFIG": str(config),
    }
    return subprocess.run(
        [sys.executable, "-c", probe, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


class FakePrometheus:
    """A real HTTP server speaking the bits of the Prometheus API the probes use.

    `answers` maps a PromQL string to a list of values (floats or "NaN"), to [] for "no
    series", or to an int HTTP status for an error; unknown queries get no series.
    """

    def __init__(self) -> None:
        self.answers: dict[str, object] = {}
        self.queries: list[str] = []
        self.ready = True
        self.firing: list[str] = []  # alert names /api/v1/alerts reports as firing
        self.delay = 0.0  # seconds before answering /health
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/-/ready":
                    self._send(200 if outer.ready else 503, {"status": "ok"})
                    return
                if url.path == "/api/v1/alerts":
                    alerts = [{"labels": {"alertname": n}, "state": "firing"} for n in outer.firing]
                    self._send(200, {"status": "success", "data": {"alerts": alerts}})
                    return
                if url.path.startswith("/health"):
                    time.sleep(outer.delay)
                    code = int(url.path.rsplit("/", 1)[-1]) if url.path != "/health" else 200
                    self._send(code, {"status": "healthy" if code == 200 else "sick"})
                    return
                query = parse_qs(url.query).get("query", [""])[0]
                outer.queries.append(query)
                answer = outer.answers.get(query, [])
                if isinstance(answer, int):
                    self._send(answer, {"status": "error"})
                    return
                result = [
                    {"metric": {"i": str(i)}, "value": [0, str(v)]} for i, v in enumerate(answer)
                ]
                self._send(200, {"status": "success", "data": {"result": result}})

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main_in_process(*args: str) -> tuple[int, str, str]:
    """The command line's own entry point in this process: (exit code, stdout, stderr), as
    `chaosrun` exits and prints (one-line errors); a fresh interpreter per call is slow."""
    out, err = io.StringIO(), io.StringIO()
    old, sys.argv = sys.argv, ["chaosrun", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    return code, out.getvalue(), err.getvalue()


def isolated_project(monkeypatch: Any, tmp_path: Path) -> Path:
    """The test's own chaosrun.yml (runs and audit log under `tmp_path`), the fixture
    collections and a Prometheus nobody answers; the chaosrun.yml's path."""
    from chaosrun.hosts import rolespec

    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
    monkeypatch.setenv("CHAOSRUN_PROMETHEUS_URL", "http://127.0.0.1:9")
    config = tmp_path / "chaosrun.yml"
    config.write_text(f"run_dir: {tmp_path / 'runs'}\naudit: {{path: {tmp_path / 'audit'}}}\n")
    monkeypatch.setenv("CHAOSRUN_CONFIG", str(config))
    rolespec.load_role.cache_clear()
    return config


def validated(file: Path, *overrides: str) -> Any:
    """validate's check of `file` with `overrides` against the fixture inventory and the
    project's caps (its Report; InvalidInput when refused)."""
    from chaosrun.hosts.inventory import load_inventory
    from chaosrun.model import config as project_config
    from chaosrun.model.experiment import load_experiment
    from chaosrun.plan.planning import defaults_from
    from chaosrun.plan.validation import check

    cfg = project_config.load()
    exp = load_experiment(file, list(overrides), defaults_from(cfg))
    return check(exp, load_inventory(str(INVENTORY)), cfg.caps)
