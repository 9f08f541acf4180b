# -*- coding: utf-8 -*-
# Copyright: chaosrun developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Shared code of the controller-side probe modules: HTTP with the standard library,
three-valued verdicts and a polling loop with a deadline.

A probe never says PASS when it cannot see: an unreachable endpoint, a timeout, an
error status, an empty result or NaN all give UNKNOWN.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import os
import time

from urllib.error import HTTPError, URLError
from urllib.parse import urlencode

from ansible.module_utils.urls import open_url

PASS = "PASS"
BREACH = "BREACH"
UNKNOWN = "UNKNOWN"

# Bodies kept in results are cut to this size so a large page never floods a job log.
MAX_BODY = 4096


def common_argument_spec():
    """Options every probe module takes: timing, failure policy and TLS."""
    return dict(
        timeout=dict(type="float", default=5.0),
        within=dict(type="float", default=0.0),
        interval=dict(type="float", default=1.0),
        fail_on=dict(type="list", elements="str", choices=["breach", "unknown"], default=["breach", "unknown"]),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        headers=dict(type="dict", default={}, no_log=True),
        access=dict(type="dict", default={}),
    )


# Keys of O(access): those of chaosrun.yml's prometheus/alertmanager blocks.
ACCESS_KEYS = (
    "ca_file", "cert_file", "key_file", "insecure_skip_verify", "basic_auth",
    "bearer_token_env", "bearer_token_file", "headers",
)


def _secret(block, name):
    """A secret named by `<name>_env` (a variable of the controller) or `<name>_file`."""
    env, path = block.get(name + "_env"), block.get(name + "_file")
    if env:
        if env not in os.environ:
            raise ValueError("access: $%s is not set" % env)
        return os.environ[env]
    if path:
        try:
            with open(os.path.expanduser(path), "r") as handle:
                return handle.read().strip()
        except (IOError, OSError) as exc:
            raise ValueError("access: cannot read %s: %s" % (path, exc.strerror or exc))
    return None


def request_options(params, secrets=None):
    """Keyword arguments of http_request for the TLS, credential and header options,
    O(access) included; the secrets read for them are added to `secrets` (a list) when
    given. Raises ValueError naming a bad setting."""
    access = params.get("access") or {}
    unknown = sorted(k for k in access if k not in ACCESS_KEYS)
    if unknown:
        raise ValueError("access: unknown key %s (known: %s)" % (unknown[0], ", ".join(ACCESS_KEYS)))
    headers = dict(access.get("headers") or {})
    headers.update(params.get("headers") or {})
    options = dict(
        headers=headers,
        validate_certs=params["validate_certs"] and not access.get("insecure_skip_verify", False),
        ca_path=params.get("ca_path") or access.get("ca_file"),
    )
    if access.get("cert_file"):
        options.update(client_cert=access["cert_file"], client_key=access.get("key_file"))
    auth = access.get("basic_auth")
    if auth:
        password = _secret(auth, "password")
        if not auth.get("username") or password is None:
            raise ValueError("access: basic_auth needs username and password_env or password_file")
        options.update(url_username=auth["username"], url_password=password, force_basic_auth=True)
    token = _secret(access, "bearer_token")
    if token:
        headers["Authorization"] = "Bearer " + token
    if secrets is not None:
        secrets.extend(v for v in (options.get("url_password"), token) if v)
    return options


class HttpResult(object):
    """What one request gave: a status and body, or an error, and how long it took."""

    def __init__(self, status=None, body=b"", latency=0.0, error=None):
        self.status = status
        self.body = body
        self.latency = latency
        self.error = error

    def text(self):
        return self.body.decode("utf-8", "replace")


def http_request(url, method="GET", data=None, form=None, headers=None, timeout=5.0, validate_certs=True, ca_path=None, **auth):
    """One HTTP request. Never raises for network trouble: the error is in the result.
    `auth`: client_cert, client_key, url_username, url_password, force_basic_auth."""
    hdrs = dict(headers or {})
    if form is not None:
        data = urlencode(form).encode("utf-8")
        hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif data is not None and not isinstance(data, bytes):
        data = data.encode("utf-8")
    started = time.monotonic()
    try:
        response = open_url(
            url, data=data, headers=hdrs, method=method, timeout=timeout, validate_certs=validate_certs, ca_path=ca_path, **auth
        )
        with response:
            body = response.read()
            return HttpResult(response.status, body, time.monotonic() - started)
    except HTTPError as exc:
        body = exc.read() if hasattr(exc, "read") else b""
        return HttpResult(exc.code, body, time.monotonic() - started, "HTTP %s" % exc.code)
    except (URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return HttpResult(None, b"", time.monotonic() - started, "%s: %s" % (type(exc).__name__, reason))


def get_json(url, method="GET", form=None, timeout=5.0, **options):
    """Fetch JSON. Returns (document, error); exactly one of them is None.
    `options`: those of http_request (see request_options)."""
    result = http_request(url, method=method, form=form, timeout=timeout, **options)
    if result.error and result.status is None:
        return None, result.error
    try:
        document = json.loads(result.text())
    except ValueError:
        return None, "%s: response is not JSON" % (result.error or "HTTP %s" % result.status)
    if result.status is not None and result.status >= 400 and not isinstance(document, dict):
        return None, "HTTP %s" % result.status
    return document, None


def finite(value):
    """A float from a Prometheus sample value, or None when it is not a finite number.
    +Inf and -Inf are numbers a threshold can judge; NaN is not."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(number):
        return None
    return number


def judge(value, minimum=None, maximum=None):
    """PASS, BREACH or UNKNOWN for one value against optional bounds."""
    if value is None:
        return UNKNOWN
    if maximum is not None and value > maximum:
        return BREACH
    if minimum is not None and value < minimum:
        return BREACH
    return PASS


def poll(check, within, interval, clock=time.monotonic, sleep=time.sleep):
    """Call `check()` (returning a dict with a `verdict`) until it passes or `within`
    seconds have gone by. Returns the last result with `attempts` and `elapsed`."""
    started = clock()
    attempts = 0
    while True:
        attempts += 1
        result = check()
        elapsed = clock() - started
        if result["verdict"] == PASS or elapsed + interval > within:
            result["attempts"] = attempts
            result["elapsed"] = round(elapsed, 3)
            return result
        sleep(max(interval, 0.05))


def resolved_params(module):
    """The module's params plus the request options resolved once (`_request`), in a copy:
    Ansible echoes module.params back, and the options hold the password. The secrets read
    are masked in whatever the module returns (a server that echoes the request's
    credentials in its body). Fails the module on a bad setting."""
    found = []
    try:
        options = request_options(module.params, found)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    module.no_log_values.update(found)
    return dict(module.params, _request=options)


def finish(module, result):
    """Exit or fail the module according to `fail_on`. A probe never changes anything."""
    result["changed"] = False
    verdict = result["verdict"]
    if verdict != PASS and verdict.lower() in module.params["fail_on"]:
        module.fail_json(msg="probe verdict %s: %s" % (verdict, result.get("evidence", "")), **result)
    module.exit_json(**result)
