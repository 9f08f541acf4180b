#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chaosrun developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: fault_status
short_description: List the chaosrun faults active on a host
version_added: "0.1.0"
description:
  - Reads the host's chaosrun state directory and lists every fault found under
    C(<state_dir>/active/<run_id>/<role>/) with its run, role, start, lease expiry,
    controller and whether its revert script exists, and the host's freeze marker
    (written by C(chaosrun freeze -i)) when there is one.
  - The hosts are the source of truth for active faults; this module lists them for
    playbooks (AWX, a recovery play), as C(chaosrun status) and C(chaosrun recover) read
    them from any controller. To recover a fault, run the reported C(revert_script) on
    the host (C(sh <revert_script> recover)).
  - The module only reads; it never reports a change and supports check mode. It needs
    only the Python standard library on the host.
author:
  - chaosrun developers (@chaosrun)
options:
  state_dir:
    description: Where chaosrun keeps its state on the host (the roles' C(chaos_state_dir)).
    type: path
    default: /var/lib/chaosrun
  run_id:
    description: Only list the faults of this run.
    type: str
  history:
    description: Also return the last this-many records of reverted faults (0 for none).
    type: int
    default: 0
attributes:
  check_mode:
    description: Can run in check mode and return the same listing.
    support: full
  diff_mode:
    description: Has nothing to show as a diff; it never changes the host.
    support: none
notes:
  - The expiry reported is the run's lease file, which the orchestrator renews while the
    experiment runs; C(meta_expires_at) is the expiry written at injection.
"""

EXAMPLES = r"""
- name: List the faults active on the fleet
  chaosrun.chaos.fault_status:
  register: faults

- name: Show faults of one run, with the last five reverts
  chaosrun.chaos.fault_status:
    run_id: "{{ chaos_run_id }}"
    history: 5
  register: run_faults

- name: Recover every fault a host holds by running its revert script
  ansible.builtin.command: sh {{ item.revert_script }} recover
  loop: "{{ faults.faults | selectattr('revert_script_exists') | list }}"
  changed_when: true
"""

RETURN = r"""
faults:
  description: The faults active on the host, oldest first.
  returned: always
  type: list
  elements: dict
  sample:
    - run_id: 20261127T2100-kill-order
      role: process_kill
      since: 1795813250
      expires_at: 1795813280
      meta_expires_at: 1795813270
      expired: false
      controller: 10.213.0.1
      revert_script: /var/lib/chaosrun/active/20261127T2100-kill-order/process_kill/revert.sh
      revert_script_exists: true
      revert_failed: false
      deadman_unit: chaosrun-deadman-20261127T2100-kill-order-process-kill
  contains:
    run_id:
      description: The run that injected the fault.
      type: str
    role:
      description: The fault role's name.
      type: str
    since:
      description: When the fault was armed, in epoch seconds of the host's clock (null if unknown).
      type: int
    expires_at:
      description: When the dead-man reverts the fault unless the lease is renewed, epoch seconds.
      type: int
    meta_expires_at:
      description: The expiry written at injection, before any renewal.
      type: int
    expired:
      description: Whether the lease has already expired on the host's clock.
      type: bool
    controller:
      description: Who injected the fault (the controller's name or SSH client address).
      type: str
    revert_script:
      description: Path of the fault's one revert script.
      type: str
    revert_script_exists:
      description: Whether the revert script exists (false for an inject that failed before arming).
      type: bool
    revert_failed:
      description: Whether a revert was attempted and failed (see revert.log beside the script).
      type: bool
    deadman_unit:
      description: Name of the transient systemd unit of the dead-man (without suffix).
      type: str
    pre_state:
      description: What the role recorded before the fault.
      type: dict
history:
  description: The last O(history) revert records, each with run_id, role, by, began and at
    (epoch seconds, when the revert script started and ended) and ok.
  returned: when O(history) is above 0
  type: list
  elements: dict
frozen:
  description: The host's freeze marker (C(chaosrun freeze -i)), null when the host is not
    frozen. While it is there the fault roles refuse every inject on the host. A marker that
    cannot be parsed is returned with only RV(frozen.line), the marker's first line.
  returned: always
  type: dict
  sample:
    reason: incident INC-42
    at: "2026-11-27T21:05:01.123Z"
    user: alice
    host: ops-1
    project: /srv/ops
    line: "frozen since 2026-11-27T21:05:01.123Z by alice@ops-1: incident INC-42"
  contains:
    reason:
      description: Why the host was frozen.
      type: str
    at:
      description: When, as an ISO 8601 time of the controller's clock.
      type: str
    user:
      description: Who froze it.
      type: str
    host:
      description: The controller machine the freeze came from.
      type: str
    project:
      description: The controller's project directory.
      type: str
    line:
      description: The marker's first line, the one a refused inject prints.
      type: str
now:
  description: The host's clock, epoch seconds, to compare expiries with.
  returned: always
  type: int
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule


def _read_json(path):
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_int(path):
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def _subdirs(path):
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return []
    return [name for name in names if os.path.isdir(os.path.join(path, name))]


def list_faults(state_dir, run_id=None, now=None):
    """Every fault directory under state_dir/active, as dicts, oldest first."""
    now = int(time.time()) if now is None else now
    active = os.path.join(state_dir, "active")
    faults = []
    for run in _subdirs(active):
        if run_id and run != run_id:
            continue
        lease = _read_int(os.path.join(active, run, "lease"))
        for role in _subdirs(os.path.join(active, run)):
            fault_dir = os.path.join(active, run, role)
            meta = _read_json(os.path.join(fault_dir, "meta.json"))
            script = os.path.join(fault_dir, "revert.sh")
            expires = lease if lease is not None else meta.get("expires_at")
            faults.append(
                {
                    "run_id": run,
                    "role": role,
                    "since": meta.get("since"),
                    "expires_at": expires,
                    "meta_expires_at": meta.get("expires_at"),
                    "expired": expires is not None and now >= expires,
                    "controller": meta.get("controller"),
                    "revert_script": script,
                    "revert_script_exists": os.path.isfile(script),
                    "revert_failed": os.path.exists(os.path.join(fault_dir, "revert.failed")),
                    "deadman_unit": meta.get("deadman_unit"),
                    "pre_state": meta.get("pre_state") or {},
                }
            )
    faults.sort(key=lambda fault: (fault["since"] or 0, fault["run_id"], fault["role"]))
    return faults


def read_history(state_dir, count):
    """The last `count` revert records (one JSON object a line)."""
    try:
        with open(os.path.join(state_dir, "history.jsonl")) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    records = []
    for line in lines[-count:]:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def read_frozen(state_dir):
    """The freeze marker (first line: the refusal's text; last line: JSON), or None."""
    path = os.path.join(state_dir, "frozen")
    if not os.path.lexists(path):
        return None
    try:
        with open(path) as handle:
            lines = handle.read().strip().splitlines()
    except (OSError, ValueError):
        lines = []
    line = lines[0] if lines else "frozen (marker unreadable)"
    try:
        data = json.loads(lines[-1])
    except (ValueError, IndexError):
        data = None
    frozen = dict(data) if isinstance(data, dict) else {}
    frozen["line"] = line
    return frozen


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state_dir=dict(type="path", default="/var/lib/chaosrun"),
            run_id=dict(type="str"),
            history=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    now = int(time.time())
    state_dir = module.params["state_dir"]
    result = dict(
        changed=False,
        now=now,
        faults=list_faults(state_dir, module.params["run_id"], now),
        frozen=read_frozen(state_dir),
    )
    if module.params["history"] > 0:
        result["history"] = read_history(state_dir, module.params["history"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
