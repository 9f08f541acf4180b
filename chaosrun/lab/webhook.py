"""The lab's pager: an HTTP receiver that records every notification it gets.

Every POST (any path) is appended as one JSON line `{time, path, body}` to a file in the
lab's state directory; `GET /notifications` returns them as a JSON list (`?since=ISO`
keeps the ones received at or after that time). Alertmanager posts to `/alertmanager`;
chaosrun's own notifications use other paths. Run as
`python -m chaosrun.lab.webhook --port PORT --file FILE`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 1024 * 1024


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decode(raw: bytes) -> Any:
    """JSON bodies are stored as JSON, anything else as text."""
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_all(path: Path, since: str | None = None) -> list[dict[str, Any]]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    records = [json.loads(line) for line in lines if line.strip()]
    if since:
        records = [r for r in records if r.get("time", "") >= since]
    return records


class Recorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, path: str, body: bytes) -> dict[str, Any]:
        record = {"time": now_iso(), "path": path, "body": decode(body)}
        with self.lock, self.path.open("a") as out:
            out.write(json.dumps(record, sort_keys=True) + "\n")
        return record


def handler_for(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
            recorder.append(self.path, self.rfile.read(length))
            self._reply(200, {"status": "recorded"})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/notifications":
                since = parse_qs(url.query).get("since", [None])[0]
                self._reply(200, read_all(recorder.path, since))
            elif url.path in ("/-/healthy", "/-/ready"):
                self._reply(200, {"status": "ok"})
            else:
                self._reply(404, {"error": "GET /notifications or POST anything"})

        def _reply(self, code: int, data: Any) -> None:
            body = json.dumps(data).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{now_iso()} {self.command} {self.path}\n")

    return Handler


def serve(port: int, path: Path, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A started-but-not-serving server (call serve_forever), for main and for tests."""
    server = ThreadingHTTPServer((host, port), handler_for(Recorder(path)))
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True, help="JSON lines file to append to")
    args = parser.parse_args(argv)
    server = serve(args.port, args.file)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
