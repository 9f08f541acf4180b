"""A stdlib HTTP server on 127.0.0.1 that plays Prometheus, Alertmanager or any endpoint.

Each path maps to a list of answers `(status, body, delay_s)`; requests take them in order
and the last one repeats, so a test can script "breach twice, then pass".
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

Answer = tuple[int, Any, float]


class FakeHTTP:
    def __init__(self) -> None:
        self.routes: dict[str, list[Answer]] = {}
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                params = parse_qs(url.query) | parse_qs(body)
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": url.path,
                        "params": params,
                        "headers": dict(self.headers),
                    }
                )
                answers = fake.routes.get(url.path) or [(404, {"error": "no route"}, 0.0)]
                status, payload, delay = answers.pop(0) if len(answers) > 1 else answers[0]
                time.sleep(delay)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_HEAD = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def route(self, path: str, *answers: Answer) -> None:
        self.routes[path] = list(answers)

    def start(self) -> FakeHTTP:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def vector(*values: float | str, **labels: str) -> dict[str, Any]:
    """A Prometheus instant-query answer with one series per value."""
    result = [
        {"metric": dict(labels, instance=f"i{i}"), "value": [time.time(), str(v)]}
        for i, v in enumerate(values)
    ]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}
