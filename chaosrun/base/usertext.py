"""Text a user typed reaches Ansible as data, never as a template.

Experiment values, `--set` overrides, schedule and survey answers, probe commands and
runbook prose are text, not Ansible someone wrote: Jinja in them must never run on the
controller. Every string chaosrun hands to Ansible from such a source is written with
Ansible's `!unsafe` tag, which Ansible keeps as plain text wherever the value is used.
`jinja_markers` finds the strings that look like templates, so `validate`, `plan` and
`runbook check` can say that they will not be evaluated.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

UNSAFE_TAG = "!unsafe"
STR_TAG = "tag:yaml.org,2002:str"
MARKERS = ("{{", "{%", "{#")


class Unsafe(str):
    """A string to be written with Ansible's `!unsafe` tag by `UnsafeDumper`."""


class UnsafeDumper(yaml.SafeDumper):
    """Writes every string value (not mapping keys: those are variable and option names)
    as `!unsafe`, and never anchors: each value stands where it is used."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_unsafe(self, data: str) -> yaml.Node:
        text = str(data)
        if self.resolve(yaml.ScalarNode, text, (True, False)) != STR_TAG:
            # Ansible resolves an `!unsafe` scalar's type as if it were plain: `!unsafe
            # 'true'` would load as a boolean. Such text (a bool, number, null or date to
            # YAML) holds no template, so a quoted string keeps it text and inert.
            return self.represent_str(text)
        return self.represent_scalar(UNSAFE_TAG, text)

    def represent_plain_keys(self, data: dict[Any, Any]) -> yaml.Node:
        items = [
            (
                self.represent_str(k) if isinstance(k, str) else self.represent_data(k),
                self.represent_data(v),
            )
            for k, v in data.items()
        ]
        return yaml.MappingNode("tag:yaml.org,2002:map", items, self.default_flow_style)


UnsafeDumper.add_representer(str, UnsafeDumper.represent_unsafe)
UnsafeDumper.add_representer(Unsafe, UnsafeDumper.represent_unsafe)
UnsafeDumper.add_representer(dict, UnsafeDumper.represent_plain_keys)


class MarkedDumper(yaml.SafeDumper):
    """Writes only `Unsafe` strings as `!unsafe`: for playbooks that mix Ansible the user
    wrote (templated as usual) with text they typed (headings, prose)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


MarkedDumper.add_representer(Unsafe, UnsafeDumper.represent_unsafe)


class UnsafeLoader(yaml.SafeLoader):
    """Reads what these dumpers wrote back, `!unsafe` strings as plain strings."""


UnsafeLoader.add_constructor(UNSAFE_TAG, lambda loader, node: loader.construct_scalar(node))


def load(text: str) -> Any:
    return yaml.load(text, Loader=UnsafeLoader)


def mark(value: Any) -> Any:
    """Every string inside `value` (lists and mapping values, not keys) as `Unsafe`."""
    if isinstance(value, str):
        return Unsafe(value)
    if isinstance(value, dict):
        return {k: mark(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mark(v) for v in value]
    return value


def jinja_markers(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Paths of the strings inside `value` that hold `{{`, `{%` or `{#`."""
    if isinstance(value, str):
        if any(m in value for m in MARKERS):
            yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from jinja_markers(v, (*path, k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from jinja_markers(v, (*path, i))


def has_jinja(value: Any) -> bool:
    return next(jinja_markers(value), None) is not None


NOT_EVALUATED = "holds Jinja ({{ or {%): it reaches Ansible as plain text and is not evaluated"
