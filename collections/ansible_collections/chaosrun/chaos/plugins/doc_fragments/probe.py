# -*- coding: utf-8 -*-
# Copyright: chaosrun developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The options every probe module shares, as module_utils.probe_http.common_argument_spec declares them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  within:
    description:
      - Seconds to keep checking until the verdict is PASS. V(0) checks once.
    type: float
    default: 0.0
  interval:
    description: Seconds between checks when O(within) is set.
    type: float
    default: 1.0
  fail_on:
    description:
      - Which final verdicts make the task fail. An empty list never fails, so the verdict
        can be inspected with a registered result (for example in an C(until) loop of
        guardrail checks).
    type: list
    elements: str
    choices: [breach, unknown]
    default: [breach, unknown]
  validate_certs:
    description: Verify the TLS certificate of an C(https) URL.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA that signed the server's certificate, when it is not one the
        system trusts (a company CA, the lab's own CA).
    type: path
  headers:
    description:
      - Extra HTTP headers, for example an C(Authorization) header. They are never logged.
    type: dict
    default: {}
  access:
    description:
      - How to reach the server, with the keys of the C(prometheus) block of C(chaosrun.yml)
        (absolute paths), that is C(ca_file), C(cert_file) and C(key_file), C(insecure_skip_verify),
        C(basic_auth) (C(username) and C(password_env) or C(password_file)),
        C(bearer_token_env) or C(bearer_token_file), C(headers).
      - Secrets are read on the controller from the named environment variable or file, so
        they never appear in task arguments or logs, and are masked in what the module returns
        (a server that echoes the request's credentials in its body). The lab's inventory holds one such
        block as C(lab_prometheus_access) and C(lab_alertmanager_access).
      - O(ca_path) and O(headers) are used as well; O(validate_certs=false) or
        C(insecure_skip_verify) turns verification off.
    type: dict
    default: {}
"""
