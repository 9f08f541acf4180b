"""HTTP sessions for Prometheus and Alertmanager as chaosrun.model.apiaccess describes them
(verified TLS or a warned skip, client certificate, credentials, headers), and the one
line that says why a call failed: certificate not trusted, 401, 403, timeout."""

from __future__ import annotations

import requests
import urllib3

from chaosrun.model.apiaccess import ApiAccess


def open_session(access: ApiAccess) -> requests.Session:
    """A requests session that sends what this access needs with every call."""
    session = _Session()
    session.verify = not access.insecure_skip_verify and (str(access.ca_file or "") or True)
    if access.insecure_skip_verify:  # chosen and warned about by `plan`, not per request
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    if access.cert_file:
        key = str(access.key_file) if access.key_file else None
        session.cert = (str(access.cert_file), key) if key else str(access.cert_file)
    if access.username is not None:
        session.auth = (access.username, access.password or "")
    if access.bearer_token:
        session.headers["Authorization"] = f"Bearer {access.bearer_token}"
    session.headers.update(access.headers)
    return session


class _Session(requests.Session):
    """A session whose own CA (or skipped verification) wins over REQUESTS_CA_BUNDLE and
    CURL_CA_BUNDLE, which requests otherwise prefers to the session's setting."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # type: ignore[no-untyped-def]
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and self.verify is not True:
            settings["verify"] = self.verify
        return settings


def explain(exc: BaseException, url: str) -> str:
    """One line for a failed call: what went wrong and what to check."""
    if isinstance(exc, requests.exceptions.SSLError):
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return f"{url}: TLS certificate not trusted (set ca_file to the CA that signed it)"
        return f"{url}: TLS handshake failed: {_last_reason(text)}"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"{url}: no answer in time (timeout)"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"{url}: cannot connect: {_last_reason(str(exc))}"
    response = getattr(exc, "response", None)
    if response is not None:
        return status_line(response.status_code, url)
    return f"{url}: {type(exc).__name__}: {_last_reason(str(exc))}"


def status_line(code: int, url: str) -> str:
    if code == 401:
        return f"{url}: HTTP 401 unauthorized (check basic_auth or the bearer token)"
    if code == 403:
        return f"{url}: HTTP 403 forbidden (the credentials lack access)"
    return f"{url}: HTTP {code}"


def _last_reason(text: str) -> str:
    reason = text.rsplit("(Caused by ", 1)[-1].rstrip(")")
    return reason.splitlines()[0][:200] if reason else "unknown error"
