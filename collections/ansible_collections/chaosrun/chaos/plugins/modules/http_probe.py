#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chaosrun developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: http_probe
short_description: Judge an HTTP endpoint by status, body and latency
version_added: "0.1.0"
description:
  - Sends one HTTP request and judges the answer. C(PASS) when the status is one of
    O(status_code), the body contains O(body_contains) (if given) and the response
    arrived within O(max_latency) seconds (if given); C(BREACH) when the endpoint
    answered but one of those checks failed; C(UNKNOWN) when no HTTP answer arrived at all
    (connection refused, DNS failure, timeout).
  - With O(within) the request is repeated every O(interval) seconds until it passes or
    the deadline expires.
  - The module only reads; it never reports a change and supports check mode. It needs
    only the Python standard library.
author:
  - chaosrun developers (@chaosrun)
options:
  url:
    description: The URL to request.
    type: str
    required: true
  method:
    description: HTTP method.
    type: str
    default: GET
    choices: [GET, HEAD, POST, PUT, DELETE, OPTIONS]
  body:
    description: Request body, sent as UTF-8.
    type: str
  status_code:
    description: Statuses that pass.
    type: list
    elements: int
    default: [200]
  body_contains:
    description: Text the response body must contain to pass.
    type: str
  body_regex:
    description: A regular expression the response body must match (anywhere) to pass.
    type: str
  max_latency:
    description: Largest time in seconds from sending the request to reading the whole body that passes.
    type: float
  timeout:
    description: Seconds to wait for one answer; no answer in time is C(UNKNOWN).
    type: float
    default: 5.0
extends_documentation_fragment:
  - chaosrun.chaos.probe
notes:
  - Supports check mode.
seealso:
  - module: chaosrun.chaos.prometheus_probe
"""

EXAMPLES = r"""
- name: Check that the order frontend answers healthy within 300 ms
  chaosrun.chaos.http_probe:
    url: http://lb-1:8080/health
    body_contains: ok
    max_latency: 0.3
  delegate_to: localhost

- name: Wait up to 30 seconds for the payment service to answer again
  chaosrun.chaos.http_probe:
    url: http://payment-1:8000/health
    within: 30
    interval: 1
"""

RETURN = r"""
verdict:
  description: C(PASS), C(BREACH) or C(UNKNOWN).
  returned: always
  type: str
  sample: PASS
status:
  description: The HTTP status of the last answer; null when none arrived.
  returned: always
  type: int
  sample: 200
latency:
  description: Seconds from sending the last request to reading its body.
  returned: always
  type: float
  sample: 0.012
body:
  description: The start of the last response body (at most 4096 characters).
  returned: always
  type: str
  sample: ok
evidence:
  description: One line a human can read, saying what was seen and why.
  returned: always
  type: str
  sample: "HTTP 200 in 0.012s"
attempts:
  description: How many requests were sent.
  returned: always
  type: int
  sample: 1
elapsed:
  description: Seconds from the first attempt to the last.
  returned: always
  type: float
  sample: 0.0
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chaosrun.chaos.plugins.module_utils.probe_http import (
    BREACH,
    MAX_BODY,
    PASS,
    UNKNOWN,
    common_argument_spec,
    resolved_params,
    finish,
    http_request,
    poll,
)


def evaluate(params):
    """Send the request once and judge the answer."""
    answer = http_request(
        params["url"],
        method=params["method"],
        data=params["body"],
        timeout=params["timeout"],
        **params["_request"]
    )
    latency = round(answer.latency, 4)
    result = dict(status=answer.status, latency=latency, body=answer.text()[:MAX_BODY])
    if answer.status is None:
        return dict(result, verdict=UNKNOWN, evidence="no answer: %s" % answer.error)
    problems = []
    if answer.status not in params["status_code"]:
        problems.append("status %s not in %s" % (answer.status, params["status_code"]))
    if params["body_contains"] is not None and params["body_contains"] not in answer.text():
        problems.append("body lacks %r" % params["body_contains"])
    if params["body_regex"] is not None and not re.search(params["body_regex"], answer.text()):
        problems.append("body does not match %r" % params["body_regex"])
    if params["max_latency"] is not None and answer.latency > params["max_latency"]:
        problems.append("latency %.3fs over %ss" % (answer.latency, params["max_latency"]))
    seen = "HTTP %s in %.3fs" % (answer.status, answer.latency)
    if problems:
        return dict(result, verdict=BREACH, evidence="%s: %s" % (seen, "; ".join(problems)))
    return dict(result, verdict=PASS, evidence=seen)


def argument_spec():
    """The module's options; DOCUMENTATION describes each one."""
    spec = common_argument_spec()
    spec.update(
        url=dict(type="str", required=True),
        method=dict(type="str", default="GET", choices=["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]),
        body=dict(type="str"),
        status_code=dict(type="list", elements="int", default=[200]),
        body_contains=dict(type="str"),
        body_regex=dict(type="str"),
        max_latency=dict(type="float"),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = resolved_params(module)
    finish(module, poll(lambda: evaluate(params), params["within"], params["interval"]))


if __name__ == "__main__":
    main()
