"""Runbook -> a real playbook: one play per step, named after its heading.

Probes become tasks of the collection's modules (chaosrun.chaos.prometheus_probe,
http_probe, alert_probe) delegated to the controller, so the playbook also runs in AWX
or with plain ansible-playbook. Manual steps print their text and pause; the `auto_ack`
variable (`-e auto_ack=true`) skips the pause and reports the step as acknowledged.

Headings, prose and probe fields are text the author typed: they are written as
`!unsafe`, so Jinja in them is never evaluated, not even when the playbook is only
loaded. `tasks` blocks and the front matter's `variables` are Ansible the author wrote
and are templated as usual.
"""

from __future__ import annotations

from typing import Any

import yaml

from chaosrun.base.durations import parse_duration
from chaosrun.base.usertext import MarkedDumper, Unsafe, mark
from chaosrun.runbook.parse import Runbook, Step

PROMETHEUS_URL = "{{ chaosrun_prometheus_url | default(lab_prometheus_url) }}"
ALERTMANAGER_URL = "{{ chaosrun_alertmanager_url | default(lab_alertmanager_url) }}"
# The access settings (CA, credentials) the inventory gives beside the URL it names.
PROMETHEUS_ACCESS = (
    "{{ chaosrun_prometheus_access | default({}) if chaosrun_prometheus_url is defined"
    " else lab_prometheus_access | default({}) }}"
)
ALERTMANAGER_ACCESS = (
    "{{ chaosrun_alertmanager_access | default({}) if chaosrun_alertmanager_url is defined"
    " else lab_alertmanager_access | default({}) }}"
)
AUTO_ACK = "auto_ack | default(false) | bool"


def playbook(book: Runbook) -> list[dict[str, Any]]:
    """Every step as one play, in order."""
    return [play(book, step) for step in book.steps]


def play(book: Runbook, step: Step) -> dict[str, Any]:
    """The play of one step (the drill runs them one at a time)."""
    kind = step.kind
    body: dict[str, Any] = {"name": play_name(step)}
    if kind == "tasks":
        data = step.block.data
        body.update(hosts=data["hosts"], gather_facts=False)
        if "become" in data:
            body["become"] = bool(data["become"])
    else:
        # Probes and prompts run once, on the controller; hosts: all gives them the
        # inventory's variables (the lab's Prometheus and Alertmanager URLs).
        body.update(hosts="all", gather_facts=False)
    variables = {**_front_vars(book), **(_block_vars(step))}
    if variables:
        body["vars"] = variables
    body["tags"] = [f"step_{step.number}"]
    body["tasks"] = _tasks(step)
    return body


def play_name(step: Step) -> str:
    return Unsafe(f"Step {step.number}: {step.title}")


class _Dumper(MarkedDumper):
    """Indents lists inside mappings, as yamllint (and so ansible-lint) expects."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def _yaml(plays: list[dict[str, Any]]) -> str:
    return yaml.dump(plays, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def dump(book: Runbook) -> str:
    header = (
        f"---\n# Compiled from {book.file.name} by `chaosrun runbook compile`: {book.title}.\n"
        "# Edit the runbook, not this file. Manual steps pause; -e auto_ack=true skips them.\n"
    )
    return header + "\n".join(_yaml([p]) for p in playbook(book))


def dump_step(book: Runbook, step: Step) -> str:
    return "---\n" + _yaml([play(book, step)])


def _front_vars(book: Runbook) -> dict[str, Any]:
    front = book.front if isinstance(book.front, dict) else {}
    variables = front.get("variables") or {}
    return dict(variables) if isinstance(variables, dict) else {}


def _block_vars(step: Step) -> dict[str, Any]:
    if step.kind != "tasks":
        return {}
    return dict(step.block.data.get("vars") or {})


def _tasks(step: Step) -> list[dict[str, Any]]:
    kind = step.kind
    if kind == "manual":
        return _manual(step)
    if kind == "tasks":
        return list(step.block.data["tasks"])
    data = step.block.data
    within = parse_duration(data["within"])
    common = {"within": within, "interval": parse_duration(data.get("interval", "1s"))}
    if "timeout" in data:
        common["timeout"] = parse_duration(data["timeout"])
    if kind == "prometheus":
        args = {"url": _text(data, "url", PROMETHEUS_URL), "query": mark(data["prometheus"])}
        args.update(common)
        args.update({k: data[k] for k in ("max", "min") if k in data})
        if "url" not in data:
            args["access"] = PROMETHEUS_ACCESS
        module, what = "chaosrun.chaos.prometheus_probe", "Wait until the query passes"
    elif kind == "http":
        args = {"url": mark(data["http"]), **common}
        if "status" in data:
            status = data["status"]
            args["status_code"] = status if isinstance(status, list) else [status]
        args.update({k: mark(data[k]) for k in ("body_contains", "method") if k in data})
        module, what = "chaosrun.chaos.http_probe", "Wait until the endpoint answers as expected"
    else:
        args = {
            "url": _text(data, "url", ALERTMANAGER_URL),
            "api": mark(data.get("api", "alertmanager")),
            "alertname": mark(data["alert"]),
            "state": data.get("state", "firing"),
            **common,
        }
        if data.get("labels"):
            args["labels"] = mark(data["labels"])
        if "url" not in data:
            args["access"] = ALERTMANAGER_ACCESS
        module, what = "chaosrun.chaos.alert_probe", f"Wait until alert {data['alert']} is firing"
        if args["state"] == "not_firing":
            what = f"Wait until alert {data['alert']} is resolved"
    return [
        {
            "name": Unsafe(f"{what} (within {within:g}s)"),
            module: args,
            "delegate_to": "localhost",
            "run_once": True,
        }
    ]


def _manual(step: Step) -> list[dict[str, Any]]:
    text = step.text or step.title
    return [
        {
            "name": "Show the manual step",
            "ansible.builtin.debug": {"msg": mark(text.splitlines())},
            "run_once": True,
        },
        {
            "name": "Wait until the operator has done the step",
            "ansible.builtin.pause": {
                "prompt": Unsafe(f"{play_name(step)}: press Enter when done")
            },
            "run_once": True,
            "when": f"not ({AUTO_ACK})",
        },
        {
            "name": "Report the step as acknowledged by auto_ack",
            "ansible.builtin.debug": {"msg": f"manual step {step.number} skipped (auto_ack)"},
            "run_once": True,
            "when": AUTO_ACK,
        },
    ]


def _text(data: dict[str, Any], key: str, default: str) -> str:
    """The author's value as unsafe text, or chaosrun's own template as the default."""
    return mark(data[key]) if key in data else default
