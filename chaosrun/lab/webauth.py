"""HTTPS and basic auth for the lab's Prometheus and Alertmanager, as a company runs them.

`lab up` makes a CA of its own, a server certificate for 127.0.0.1 signed by it, a random
password in a 0600 file and one web config file (`--web.config.file` of both servers)
holding the certificate and the password's bcrypt hash. A user of the lab gets what a user
of a company Prometheus gets: a CA file to trust and a password file; the inventory names
both (`lab_prometheus_access`), no experiment ever holds them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from chaosrun.base.errors import ChaosrunError
from chaosrun.lab.state import LabPaths
from chaosrun.model.apiaccess import ApiAccess

USERNAME = "chaosrun"
# A lab password is random and long, and both servers check it on every request: a low
# bcrypt cost keeps queries fast without making the hash guessable.
BCRYPT_ROUNDS = 6
CA_DAYS = "3650"
SERVER_DAYS = "825"


@dataclass(frozen=True)
class WebFiles:
    """The files of one lab's HTTPS and basic auth, under its state directory."""

    dir: Path

    @classmethod
    def of(cls, paths: LabPaths) -> WebFiles:
        return cls(paths.root / "tls")

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def cert(self) -> Path:
        return self.dir / "server.pem"

    @property
    def key(self) -> Path:
        return self.dir / "server.key"

    @property
    def password(self) -> Path:
        return self.dir / "password"

    @property
    def web_config(self) -> Path:
        return self.dir / "web.yml"


def ensure(paths: LabPaths) -> bool:
    """Make whatever is missing (CA, certificate, password, web config); True if anything
    was made, so the servers reading them are restarted or reloaded."""
    files = WebFiles.of(paths)
    files.dir.mkdir(parents=True, exist_ok=True)
    os.chmod(files.dir, 0o700)
    made = False
    if not (files.ca.is_file() and files.ca_key.is_file()):
        _make_ca(files)
        files.cert.unlink(missing_ok=True)
        made = True
    if not (files.cert.is_file() and files.key.is_file()):
        _make_server_cert(files)
        made = True
    if not files.password.is_file():
        _write_private(files.password, secrets.token_urlsafe(24) + "\n")
        made = True
    if not _web_config_current(files):
        _write_private(files.web_config, render_web_config(files))
        made = True
    return made


def render_web_config(files: WebFiles) -> str:
    hashed = bcrypt.hashpw(read_password(files).encode(), bcrypt.gensalt(BCRYPT_ROUNDS))
    config = {
        "tls_server_config": {"cert_file": str(files.cert), "key_file": str(files.key)},
        "basic_auth_users": {USERNAME: hashed.decode()},
    }
    return "# Written by `chaosrun lab up`.\n" + yaml.safe_dump(config, sort_keys=False)


def _web_config_current(files: WebFiles) -> bool:
    """The web config names our certificate and holds the hash of the current password
    (bcrypt salts differ on every render, so the text alone cannot be compared)."""
    try:
        config = yaml.safe_load(files.web_config.read_text())
        hashed = config["basic_auth_users"][USERNAME].encode()
        tls = config["tls_server_config"]
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return False
    same_tls = tls == {"cert_file": str(files.cert), "key_file": str(files.key)}
    return same_tls and bcrypt.checkpw(read_password(files).encode(), hashed)


def read_password(files: WebFiles) -> str:
    return files.password.read_text(encoding="utf-8").strip()


def access(paths: LabPaths, url: str) -> ApiAccess:
    """How the lab's own code and tests reach one of its servers: its CA, its credentials."""
    files = WebFiles.of(paths)
    try:
        password = read_password(files)
    except OSError:
        password = None  # lab not up: the call fails and says so
    return ApiAccess(url=url, ca_file=files.ca, username=USERNAME, password=password)


def access_block(paths: LabPaths) -> dict[str, Any]:
    """The inventory's access settings (chaosrun.model.apiaccess keys): file names, no secret."""
    files = WebFiles.of(paths)
    return {
        "ca_file": str(files.ca),
        "basic_auth": {"username": USERNAME, "password_file": str(files.password)},
    }


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)


def _openssl(*args: str) -> None:
    try:
        subprocess.run(["openssl", *args], check=True, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise ChaosrunError("openssl is not installed (Debian/Ubuntu package: openssl)") from None
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or "").strip().splitlines()[-1:] or ["failed"]
        raise ChaosrunError(f"openssl {args[0]}: {last[0]}") from None


def _make_ca(files: WebFiles) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", CA_DAYS, "-subj", f"/CN=chaosrun lab CA {files.dir.parent.name}",
             "-keyout", str(files.ca_key), "-out", str(files.ca))  # fmt: skip
    os.chmod(files.ca_key, 0o600)


def _make_server_cert(files: WebFiles) -> None:
    csr, ext = files.dir / "server.csr", files.dir / "server.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", str(files.key), "-out", str(csr))  # fmt: skip
    os.chmod(files.key, 0o600)
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(files.ca), "-CAkey", str(files.ca_key),
             "-CAcreateserial", "-days", SERVER_DAYS, "-extfile", str(ext),
             "-out", str(files.cert))  # fmt: skip
    csr.unlink(missing_ok=True)
    ext.unlink(missing_ok=True)
