"""How chaosrun reaches an HTTP API it reads (Prometheus, Alertmanager): the URL, whom to
trust for TLS, a client certificate, credentials and extra headers (a tenant id).

TLS is verified unless a setting says otherwise (`insecure_skip_verify`, warned about by
`plan`). Secrets come from an environment variable or a file, never from the journal:
`secrets()` lists them for the run's Redactor. The HTTP side (a session that sends all
this, one-line failure reasons) is chaosrun.probes.session, so reading the settings
does not import an HTTP client.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chaosrun.model.schema import Checker, LocateChecker

# Keys of an access block (chaosrun.yml `prometheus:`/`alertmanager:`, an experiment's
# `prometheus:`), besides the URL.
KEYS = (
    "ca_file",
    "cert_file",
    "key_file",
    "insecure_skip_verify",
    "basic_auth",
    "bearer_token_env",
    "bearer_token_file",
    "headers",
)
BASIC_AUTH_KEYS = ("username", "password_env", "password_file")
SECRET_KEYS = ("basic_auth", "bearer_token_env", "bearer_token_file")


@dataclass(frozen=True)
class ApiAccess:
    url: str
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure_skip_verify: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    # Where each secret came from, as its key and value (`password_env`, a variable's
    # name; `password_file`, an absolute path): what the probe modules are handed.
    password_from: tuple[str, str] | None = None
    token_from: tuple[str, str] | None = None

    def secrets(self) -> list[str]:
        """Values to redact wherever text is written (journal, reports, logs)."""
        return [s for s in (self.password, self.bearer_token) if s]

    def module_access(self) -> dict[str, Any]:
        """The access block of the collection's probe modules (their `access` option): files
        and the secrets' sources, never a secret's value. Plain `str` throughout: values read
        from an inventory are Ansible's own str types, which a YAML dumper refuses."""
        block: dict[str, Any] = {}
        for key in ("ca_file", "cert_file", "key_file"):
            if getattr(self, key) is not None:
                block[key] = str(getattr(self, key))
        if self.insecure_skip_verify:
            block["insecure_skip_verify"] = True
        if self.username is not None and self.password_from is not None:
            key, value = self.password_from
            block["basic_auth"] = {"username": str(self.username), str(key): str(value)}
        if self.token_from is not None:
            block[str(self.token_from[0])] = str(self.token_from[1])
        if self.headers:
            block["headers"] = {str(k): str(v) for k, v in self.headers.items()}
        return block

    def with_url(self, url: str) -> ApiAccess:
        """The same TLS trust and headers for another URL; credentials only when it is the
        same server, so a URL an experiment names never receives the project's secrets."""
        if _origin(url) == _origin(self.url):
            return replace(self, url=url)
        return ApiAccess(
            url=url,
            ca_file=self.ca_file,
            insecure_skip_verify=self.insecure_skip_verify,
        )


def same_server(url: str, other: str) -> bool:
    """Whether two URLs name the same scheme, host and port."""
    return _origin(url) == _origin(other)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


Locate = Callable[[tuple[Any, ...]], str]


def parse(
    url: str, block: Mapping[str, Any], locate: Locate, at: tuple[Any, ...], base: Path
) -> ApiAccess:
    """An ApiAccess from an access block; every problem in one InvalidInput, each named
    by `locate`. Relative files are relative to `base`; secrets are read now."""
    c = LocateChecker(locate)
    access = c.collect(lambda: check(c, url, block, at, base))
    assert access is not None  # no problem reported, so the settings were made
    return access


def check(
    c: Checker, url: str, block: Mapping[str, Any], at: tuple[Any, ...], base: Path
) -> ApiAccess | None:
    """An ApiAccess from an access block, or None after reporting its problems to `c`."""
    errors = len(c.errors)
    for key in block:
        if key not in KEYS:
            c.err((*at, key), f"unknown key (known: {', '.join(KEYS)})")
    files = {k: _file(c, block.get(k), (*at, k), base) for k in KEYS[:3]}
    if block.get("key_file") is not None and block.get("cert_file") is None:
        c.err((*at, "key_file"), "key_file needs cert_file")
    skip = block.get("insecure_skip_verify", False)
    if not isinstance(skip, bool):
        c.err((*at, "insecure_skip_verify"), "must be true or false")
    username, (password, password_from) = _basic_auth(
        c, block.get("basic_auth"), (*at, "basic_auth"), base
    )
    token, token_from = _secret(c, block, "bearer_token", at, base)
    headers = block.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        c.err((*at, "headers"), "must map header names to strings")
    if token_from and username is not None:
        c.err(at, "use basic_auth or a bearer token, not both")
    if len(c.errors) > errors:
        return None
    return ApiAccess(
        url=url.rstrip("/"),
        insecure_skip_verify=skip,
        username=username,
        password=password,
        bearer_token=token,
        headers=dict(headers),
        password_from=password_from,
        token_from=token_from,
        **files,
    )


def _file(c: Checker, value: Any, at: tuple[Any, ...], base: Path) -> Path | None:
    path = secret_path(c, value, at, base)
    if path is None:
        return None
    try:  # a directory this user may not enter raises rather than answering no
        readable = path.is_file() and os.access(path, os.R_OK)
    except OSError:
        readable = False
    if not readable:
        c.err(at, f"{path} is not a readable file")
        return None
    return path


Source = tuple[str, str]  # a secret's key and value as written: ("password_env", "VAR")


def _basic_auth(
    c: Checker, value: Any, at: tuple[Any, ...], base: Path
) -> tuple[str | None, tuple[str | None, Source | None]]:
    if value is None:
        return None, (None, None)
    if not isinstance(value, dict) or "username" not in value:
        c.err(at, "needs username and password_env or password_file")
        return None, (None, None)
    for key in value:
        if key not in BASIC_AUTH_KEYS:
            c.err((*at, key), f"unknown key (known: {', '.join(BASIC_AUTH_KEYS)})")
    username = value["username"]
    if not isinstance(username, str) or not username:
        c.err((*at, "username"), "must be a non-empty string")
    problems = c.problems()
    password, source = _secret(c, value, "password", at, base)
    if source is None and c.problems() == problems:
        c.err(at, "needs password_env or password_file")
    return username, (password, source)


def _secret(
    c: Checker, block: Mapping[str, Any], name: str, at: tuple[Any, ...], base: Path
) -> tuple[str | None, Source | None]:
    """`<name>_env` (an environment variable's name) or `<name>_file` (a file's path): the
    secret (None when unread) and where it comes from (None when neither is given)."""
    env, file = block.get(f"{name}_env"), block.get(f"{name}_file")
    if env is not None and file is not None:
        c.err((*at, f"{name}_env"), f"give {name}_env or {name}_file")
        return None, None
    if env is not None:
        if not isinstance(env, str) or not env:
            c.err((*at, f"{name}_env"), "must name a variable")
            return None, None
        c.reads_env((*at, f"{name}_env"), env)
        if env not in os.environ:
            c.secret_err((*at, f"{name}_env"), f"${env} is not set")
        return os.environ.get(env), (f"{name}_env", env)
    path = secret_path(c, file, (*at, f"{name}_file"), base)
    if path is None:
        return None, None
    return read_secret(c, path, (*at, f"{name}_file")), (f"{name}_file", str(path))


def secret_path(c: Checker, value: Any, at: tuple[Any, ...], base: Path) -> Path | None:
    """A secret file's absolute path (relative to `base`)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        c.err(at, "must be a file path")
        return None
    path = Path(os.path.expanduser(value.strip()))
    return path if path.is_absolute() else base / path


def read_secret(c: Checker, path: Path, at: tuple[Any, ...]) -> str | None:
    """A secret file's text; a file this user cannot read is an unread secret."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        c.secret_err(at, f"{path} is not a readable file")
        return None
