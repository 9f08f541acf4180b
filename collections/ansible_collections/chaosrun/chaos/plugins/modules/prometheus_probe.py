#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chaosrun developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: prometheus_probe
short_description: Judge an instant PromQL query against thresholds
version_added: "0.1.0"
description:
  - Runs one instant query against the Prometheus HTTP API (C(/api/v1/query)) and judges
    the result against O(min) and O(max).
  - The verdict is three-valued. C(PASS) when every returned sample is within bounds,
    C(BREACH) when any sample is out of bounds, C(UNKNOWN) when Prometheus cannot be
    reached, times out, answers with an error, returns an empty result, a NaN or a
    non-numeric result. UNKNOWN is never treated as PASS.
  - With O(within) the query is repeated every O(interval) seconds until it passes or
    the deadline expires, which is what runbooks use for "recovered within 60 s".
  - The module only reads; it never reports a change and supports check mode.
  - Run it on the controller (with C(delegate_to) V(localhost)) or on any host that can reach
    Prometheus. It needs only the Python standard library.
author:
  - chaosrun developers (@chaosrun)
options:
  url:
    description:
      - Base URL of Prometheus, for example V(http://prometheus:9090). The module
        appends C(/api/v1/query).
    type: str
    required: true
    aliases: [prometheus_url]
  query:
    description: The PromQL expression, evaluated at the current time.
    type: str
    required: true
  max:
    description: Largest value that passes. A sample above it is a BREACH.
    type: float
  min:
    description: Smallest value that passes. A sample below it is a BREACH.
    type: float
  timeout:
    description:
      - Seconds allowed for one query, both as the HTTP timeout and as the
        Prometheus query timeout. A query that takes longer is UNKNOWN.
    type: float
    default: 5.0
extends_documentation_fragment:
  - chaosrun.chaos.probe
notes:
  - Supports check mode; the query runs in check mode too because it changes nothing.
seealso:
  - module: chaosrun.chaos.alert_probe
  - module: chaosrun.chaos.http_probe
"""

EXAMPLES = r"""
- name: Check that the error ratio is under 1 percent
  chaosrun.chaos.prometheus_probe:
    url: http://127.0.0.1:9090
    query: sum(rate(demo_requests_total{code=~"5.."}[15s])) / sum(rate(demo_requests_total[15s]))
    max: 0.01
  delegate_to: localhost

- name: Wait up to 60 seconds for every order-service instance to be up again
  chaosrun.chaos.prometheus_probe:
    url: "{{ lab_prometheus_url }}"
    query: min(up{job="order_service"})
    min: 1
    within: 60
    interval: 2
  delegate_to: localhost

- name: Sample a guardrail without failing, to decide in a later task
  chaosrun.chaos.prometheus_probe:
    url: "{{ lab_prometheus_url }}"
    query: histogram_quantile(0.99, sum by (le) (rate(demo_request_duration_seconds_bucket[15s])))
    max: 0.5
    fail_on: []
  delegate_to: localhost
  register: p99
"""

RETURN = r"""
verdict:
  description: C(PASS), C(BREACH) or C(UNKNOWN).
  returned: always
  type: str
  sample: PASS
value:
  description:
    - The judged value; the first out-of-bounds sample on a BREACH, otherwise the first
      sample. Null when there is no numeric value.
  returned: always
  type: float
  sample: 0.004
values:
  description: Every returned series with its labels and value (null for NaN).
  returned: always
  type: list
  elements: dict
  sample: [{"labels": {"instance": "order-1"}, "value": 1.0}]
evidence:
  description: One line a human can read, saying what was seen and why.
  returned: always
  type: str
  sample: "value 0.004 within max 0.01"
query:
  description: The query that was run.
  returned: always
  type: str
attempts:
  description: How many times the query ran.
  returned: always
  type: int
  sample: 1
elapsed:
  description: Seconds from the first attempt to the last.
  returned: always
  type: float
  sample: 0.0
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chaosrun.chaos.plugins.module_utils.probe_http import (
    BREACH,
    PASS,
    UNKNOWN,
    common_argument_spec,
    resolved_params,
    finish,
    finite,
    get_json,
    judge,
    poll,
)


def bounds_text(minimum, maximum):
    parts = []
    if minimum is not None:
        parts.append("min %s" % minimum)
    if maximum is not None:
        parts.append("max %s" % maximum)
    return " and ".join(parts) or "no bounds"


def samples(data):
    """(labels, value) pairs from a query's `data`, or None for result types we cannot judge."""
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "vector":
        return [(item.get("metric", {}), finite(item.get("value", [None, None])[1])) for item in result]
    if kind == "scalar":
        return [({}, finite(result[1]))]
    return None


def evaluate(params):
    """Run the query once and judge it."""
    url = params["url"].rstrip("/") + "/api/v1/query"
    form = {"query": params["query"], "timeout": "%gs" % params["timeout"]}
    document, error = get_json(
        url,
        method="POST",
        form=form,
        timeout=params["timeout"],
        **params["_request"]
    )
    empty = dict(verdict=UNKNOWN, value=None, values=[])
    if error:
        return dict(empty, evidence="query failed: %s" % error)
    if not isinstance(document, dict) or document.get("status") != "success":
        reason = document.get("error", "no status") if isinstance(document, dict) else "bad document"
        return dict(empty, evidence="Prometheus answered an error: %s" % reason)
    pairs = samples(document.get("data", {}))
    if pairs is None:
        return dict(empty, evidence="result type %r cannot be judged" % document["data"].get("resultType"))
    if not pairs:
        return dict(empty, evidence="empty result (no series matched)")
    minimum, maximum = params["min"], params["max"]
    verdicts = [judge(value, minimum, maximum) for _labels, value in pairs]
    values = [dict(labels=labels, value=value) for labels, value in pairs]
    bounds = bounds_text(minimum, maximum)
    if BREACH in verdicts:
        index = verdicts.index(BREACH)
        labels, value = pairs[index]
        where = " at %s" % labels if len(pairs) > 1 else ""
        return dict(verdict=BREACH, value=value, values=values, evidence="value %s%s outside %s" % (value, where, bounds))
    if UNKNOWN in verdicts:
        return dict(verdict=UNKNOWN, value=None, values=values, evidence="result is NaN or not a number")
    value = pairs[0][1]
    shown = "value %s" % value if len(pairs) == 1 else "%d series, first %s" % (len(pairs), value)
    return dict(verdict=PASS, value=value, values=values, evidence="%s within %s" % (shown, bounds))


def argument_spec():
    """The module's options; DOCUMENTATION describes each one."""
    spec = common_argument_spec()
    spec.update(
        url=dict(type="str", required=True, aliases=["prometheus_url"]),
        query=dict(type="str", required=True),
        max=dict(type="float"),
        min=dict(type="float"),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = resolved_params(module)
    result = poll(lambda: evaluate(params), params["within"], params["interval"])
    result["query"] = params["query"]
    finish(module, result)


if __name__ == "__main__":
    main()
