#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chaosrun developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: alert_probe
short_description: Check that an alert is firing, or not, in Prometheus or Alertmanager
version_added: "0.1.0"
description:
  - Reads the active alerts from Prometheus (C(/api/v1/alerts)) or Alertmanager
    (C(/api/v2/alerts)) and looks for alerts named O(alertname) whose labels include
    O(labels).
  - C(PASS) when the alert is in the expected O(state), C(BREACH) when it is not,
    C(UNKNOWN) when the API cannot be read.
  - With O(within) the check repeats every O(interval) seconds until it passes or the
    deadline expires; RV(elapsed) then measures how long the alert took, which is the
    time to detect in a drill.
  - In Prometheus only alerts in state C(firing) count (not C(pending)); in Alertmanager
    only alerts in state C(active) count (not suppressed by a silence or inhibition).
  - The module only reads; it never reports a change and supports check mode. It needs
    only the Python standard library.
author:
  - chaosrun developers (@chaosrun)
options:
  url:
    description: Base URL of Prometheus or Alertmanager.
    type: str
    required: true
  api:
    description: Which API O(url) points at.
    type: str
    choices: [prometheus, alertmanager]
    default: prometheus
  alertname:
    description: The alert's name (its C(alertname) label).
    type: str
    required: true
  labels:
    description: Labels the alert must also carry, with these exact values.
    type: dict
    default: {}
  state:
    description: What passes, the alert C(firing) or C(not_firing).
    type: str
    choices: [firing, not_firing]
    default: firing
  timeout:
    description: Seconds allowed for one API request.
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
- name: Expect the on-call to be paged within two minutes
  chaosrun.chaos.alert_probe:
    url: "{{ lab_alertmanager_url }}"
    api: alertmanager
    alertname: OrderServiceInstanceDown
    labels:
      instance: order-2
    within: 120
    interval: 2
  delegate_to: localhost

- name: Check that no replication alert is firing before the drill
  chaosrun.chaos.alert_probe:
    url: "{{ lab_prometheus_url }}"
    alertname: PostgresReplicationLag
    state: not_firing
  delegate_to: localhost
"""

RETURN = r"""
verdict:
  description: C(PASS), C(BREACH) or C(UNKNOWN).
  returned: always
  type: str
  sample: PASS
firing:
  description: Whether a matching alert was firing at the last check; null when unknown.
  returned: always
  type: bool
  sample: true
alerts:
  description: The matching alerts at the last check, with labels, state and start time.
  returned: always
  type: list
  elements: dict
  sample: [{"labels": {"alertname": "OrderServiceInstanceDown"}, "state": "firing", "since": "2026-11-27T21:00:00Z"}]
evidence:
  description: One line a human can read, saying what was seen.
  returned: always
  type: str
  sample: "1 matching alert firing"
attempts:
  description: How many checks ran.
  returned: always
  type: int
  sample: 3
elapsed:
  description: Seconds from the first check to the last.
  returned: always
  type: float
  sample: 4.01
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.chaosrun.chaos.plugins.module_utils.probe_http import (
    BREACH,
    PASS,
    UNKNOWN,
    common_argument_spec,
    resolved_params,
    finish,
    get_json,
    poll,
)


def fetch(params):
    """Every alert the API knows as (labels, state, since, firing), or an error string."""
    base = params["url"].rstrip("/")
    path = "/api/v2/alerts" if params["api"] == "alertmanager" else "/api/v1/alerts"
    document, error = get_json(
        base + path,
        timeout=params["timeout"],
        **params["_request"]
    )
    if error:
        return None, error
    if params["api"] == "alertmanager":
        if not isinstance(document, list):
            return None, "Alertmanager answered an unexpected document"
        return [
            (a.get("labels", {}), a.get("status", {}).get("state"), a.get("startsAt"), a.get("status", {}).get("state") == "active")
            for a in document
        ], None
    if not isinstance(document, dict) or document.get("status") != "success":
        return None, "Prometheus answered an error"
    return [
        (a.get("labels", {}), a.get("state"), a.get("activeAt"), a.get("state") == "firing")
        for a in document.get("data", {}).get("alerts", [])
    ], None


def evaluate(params):
    """Check once whether the expected state holds."""
    alerts, error = fetch(params)
    if error:
        return dict(verdict=UNKNOWN, firing=None, alerts=[], evidence="cannot read alerts: %s" % error)
    wanted = dict(params["labels"], alertname=params["alertname"])
    matching = [
        dict(labels=labels, state=state, since=since, firing=firing)
        for labels, state, since, firing in alerts
        if all(str(labels.get(k)) == str(v) for k, v in wanted.items())
    ]
    firing = any(item["firing"] for item in matching)
    count = sum(1 for item in matching if item["firing"])
    evidence = "%d matching alert(s) firing, %d matching in total" % (count, len(matching))
    expected = params["state"] == "firing"
    verdict = PASS if firing == expected else BREACH
    return dict(verdict=verdict, firing=firing, alerts=matching, evidence=evidence)


def argument_spec():
    """The module's options; DOCUMENTATION describes each one."""
    spec = common_argument_spec()
    spec.update(
        url=dict(type="str", required=True),
        api=dict(type="str", choices=["prometheus", "alertmanager"], default="prometheus"),
        alertname=dict(type="str", required=True),
        labels=dict(type="dict", default={}),
        state=dict(type="str", choices=["firing", "not_firing"], default="firing"),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = resolved_params(module)
    finish(module, poll(lambda: evaluate(params), params["within"], params["interval"]))


if __name__ == "__main__":
    main()
