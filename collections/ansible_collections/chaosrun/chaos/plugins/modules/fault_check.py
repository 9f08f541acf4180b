#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: chaosrun developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: fault_check
short_description: Run a read-only check script on a host and judge its output
version_added: "0.1.0"
description:
  - Runs O(script) on the host the way M(ansible.builtin.raw) does (no Python needed
    there), then evaluates O(that) as M(ansible.builtin.assert) does, with the script's
    result (C(rc), C(stdout), C(stderr), C(stdout_lines)) in the variables under the
    task's C(register) name, so the conditions and messages can read it.
  - One task instead of a M(ansible.builtin.raw) and an M(ansible.builtin.assert) task.
    Ansible forks a process per task and host on the controller, so on a large fleet
    the second task was a large part of a fault's verify.
  - O(that), O(fail_msg) and O(success_msg) are templated after the script ran.
  - A script that exits non-zero fails the task with its stderr.
  - The script must only read; in check mode the task is skipped, as a raw task is.
author:
  - chaosrun developers (@chaosrun)
options:
  script:
    description: The shell script to run on the host.
    type: str
    required: true
  executable:
    description: The shell that runs O(script).
    type: str
    default: /bin/sh
  that:
    description: Conditions, as in C(when), that must all hold.
    type: list
    elements: raw
    default: []
  fail_msg:
    description: The message when a condition does not hold.
    type: raw
    default: the check does not match
  success_msg:
    description: The message when every condition holds.
    type: raw
    default: All assertions passed
  quiet:
    description: Do not show the result unless it failed.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  become:
    support: full
  bypass_host_loop:
    support: none
  check_mode:
    support: none
    details: Skipped in check mode, as M(ansible.builtin.raw) is.
  connection:
    support: full
  delegation:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Check the unit is running
  chaosrun.chaos.fault_check:
    script: systemctl is-active -- order-service || true
    that:
      - unit_state.stdout | trim == 'active'
    fail_msg: "order-service is {{ unit_state.stdout | trim }}"
  register: unit_state
  changed_when: false
"""

RETURN = r"""
rc:
  description: The script's exit code.
  returned: when the script ran
  type: int
stdout:
  description: What the script printed.
  returned: when the script ran
  type: str
stderr:
  description: What the script printed on stderr.
  returned: when the script ran
  type: str
msg:
  description: O(success_msg), O(fail_msg), or why the script failed.
  returned: always
  type: str
assertion:
  description: The first condition that did not hold.
  returned: failed
  type: str
"""
