"""A real Prometheus on loopback behind TLS and basic auth (its own web config file),
with certificates made by openssl for the test: the access settings are tested against
the server users run, not a stand-in."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import requests

USER, PASSWORD = "chaos", "s3cret-for-tests"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert))  # fmt: skip
    return key, cert


def make_server_cert(directory: Path, ca_key: Path, ca_cert: Path) -> tuple[Path, Path]:
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", str(key), "-out", str(csr))  # fmt: skip
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    return key, cert


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class TlsPrometheus:
    url: str
    ca: Path
    other_ca: Path
    process: subprocess.Popen[bytes]

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start(directory: Path) -> TlsPrometheus:
    ca_key, ca = make_ca(directory, "test-ca")
    _, other_ca = make_ca(directory, "other-ca")
    key, cert = make_server_cert(directory, ca_key, ca)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web = directory / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        f"basic_auth_users:\n  {USER}: '{hashed}'\n"
    )
    (directory / "prometheus.yml").write_text("global: {scrape_interval: 1h}\n")
    port = free_port()
    process = subprocess.Popen(
        ["prometheus", f"--config.file={directory / 'prometheus.yml'}",
         f"--storage.tsdb.path={directory / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         f"--web.config.file={web}"],
        stdout=subprocess.DEVNULL, stderr=(directory / "prometheus.log").open("wb"),
    )  # fmt: skip
    server = TlsPrometheus(f"https://127.0.0.1:{port}", ca, other_ca, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            ready = requests.get(
                f"{server.url}/-/ready", verify=str(ca), auth=(USER, PASSWORD), timeout=1
            )
            if ready.status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server.close()
    raise RuntimeError(f"prometheus did not start: {(directory / 'prometheus.log').read_text()}")
