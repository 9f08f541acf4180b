"""The lab's HTTPS and basic auth files: made once, private where secret, a certificate
for 127.0.0.1 that its CA verifies, and a web config whose hash matches the password."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import bcrypt
import yaml

from chaosrun.lab import webauth
from chaosrun.lab.state import LabPaths


def openssl(*args: str) -> str:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_files_are_made_once_and_fit_together(tmp_path: Path) -> None:
    paths = LabPaths(tmp_path / "lab")
    files = webauth.WebFiles.of(paths)
    assert webauth.ensure(paths) is True
    for secret in (files.password, files.key, files.ca_key, files.web_config):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    assert "OK" in openssl("verify", "-CAfile", str(files.ca), str(files.cert))
    assert "IP Address:127.0.0.1" in openssl(
        "x509", "-in", str(files.cert), "-noout", "-ext", "subjectAltName"
    )
    config = yaml.safe_load(files.web_config.read_text())
    password = webauth.read_password(files)
    assert password not in files.web_config.read_text()
    assert bcrypt.checkpw(password.encode(), config["basic_auth_users"]["chaosrun"].encode())
    before = {p.name: p.read_bytes() for p in files.dir.iterdir()}
    assert webauth.ensure(paths) is False
    assert {p.name: p.read_bytes() for p in files.dir.iterdir()} == before


def test_a_new_password_gets_a_new_hash(tmp_path: Path) -> None:
    paths = LabPaths(tmp_path / "lab")
    files = webauth.WebFiles.of(paths)
    webauth.ensure(paths)
    files.password.unlink()
    assert webauth.ensure(paths) is True
    config = yaml.safe_load(files.web_config.read_text())
    hashed = config["basic_auth_users"]["chaosrun"].encode()
    assert bcrypt.checkpw(webauth.read_password(files).encode(), hashed)
    access = webauth.access(paths, "https://127.0.0.1:1")
    assert access.ca_file == files.ca and access.password == webauth.read_password(files)
    assert webauth.access_block(paths)["basic_auth"]["password_file"] == str(files.password)
