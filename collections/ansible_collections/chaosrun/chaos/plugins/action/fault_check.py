# Copyright: chaosrun developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Run a read-only check script on the host and judge its output, in one task."""

from __future__ import annotations

import typing as t
from collections import ChainMap

from ansible.plugins.action import ActionBase

# Judged after the script ran, with its result in the variables: not templated before.
_LATE = frozenset(("that", "fail_msg", "success_msg"))


class ActionModule(ActionBase):
    """raw's remote step and assert's judgement in one worker: a fault's verify costs one
    task per host, not two (each task is a process forked on the controller per host)."""

    TRANSFERS_FILES = False

    @classmethod
    def finalize_task_arg(cls, name: str, value: t.Any, templar: t.Any, context: t.Any) -> t.Any:
        if name in _LATE:
            return value
        return super().finalize_task_arg(name, value, templar, context)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars or {})
        del tmp
        dummy, args = self.validate_argument_spec(
            argument_spec={
                "script": {"type": "str", "required": True},
                "executable": {"type": "str", "default": "/bin/sh"},
                "that": {"type": "list", "elements": "raw", "default": []},
                "fail_msg": {"type": "raw", "default": "the check does not match"},
                "success_msg": {"type": "raw", "default": "All assertions passed"},
                "quiet": {"type": "bool", "default": False},
            },
        )
        if self._task.check_mode:
            result["skipped"] = True
            return result
        ran = self._low_level_execute_command(args["script"], executable=args["executable"])
        result.update(ran)
        if ran.get("rc") != 0:
            result["failed"] = True
            result["msg"] = f"the check script failed (rc {ran.get('rc')}): {ran.get('stderr', '')[-500:]}"
            return result
        # The checks read the script's result by the task's register name, as a later task
        # would; the host's own variables are not copied.
        name = self._task.register or "fault_check"
        judge = self._templar.copy_with_new_env(
            available_variables=ChainMap({name: dict(result)}, task_vars or {})
        )
        if not args["quiet"]:
            result["_ansible_verbose_always"] = True
        for that in args["that"]:
            if not judge.evaluate_conditional(conditional=that):
                result["failed"] = True
                result["assertion"] = that
                result["msg"] = judge.template(args["fail_msg"])
                return result
        result["msg"] = judge.template(args["success_msg"])
        return result
