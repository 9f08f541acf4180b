"""YAML loading that remembers the line of every value, so errors can name file and line.

Values become plain dicts, lists and scalars; `Positions` maps a field path such as
("guardrails", "probes", 0, "max") to its 1-based line. `!vault` scalars become
`VaultValue`s (the ciphertext, decrypted later by chaosrun.base.secrets). Anything else
unusual (other tags, duplicate keys, non-string keys, cycles) is an error with a line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[str | int, ...]
MAX_NODES = 20000
_STANDARD_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}


@dataclass(frozen=True)
class VaultValue:
    """An Ansible Vault encrypted scalar as found in the file (still ciphertext)."""

    ciphertext: str

    def __repr__(self) -> str:
        return "VaultValue(********)"


class YamlProblem(Exception):
    """Malformed YAML, with the 1-based line it was found at."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Positions:
    """Lines of every field path; unknown paths fall back to their closest parent."""

    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


# libyaml's parser when PyYAML was built with it: the same nodes, several times faster.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose(text: str) -> Node | None:
    """One YAML document's node tree. A malformed document raises what PyYAML's own parser
    raises for it (its messages name the problem as users have seen them), whichever parser
    read it first."""
    try:
        return yaml.compose(text, Loader=_FAST_LOADER)
    except (yaml.YAMLError, ValueError):
        return yaml.compose(text, Loader=yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """yaml.safe_load, with libyaml's parser when there is one (files chaosrun reads for
    itself, whose errors need no line: role argument specs, collection metadata)."""
    return yaml.load(text, Loader=_FAST_LOADER)


def construct(node: Node) -> Any:
    """The plain data of a node tree from `compose`, as yaml.safe_load would give it."""
    return SafeConstructor().construct_document(node)


def load_yaml(text: str) -> tuple[Any, Positions]:
    """Parse one YAML document; raise YamlProblem naming the line when it is malformed."""
    try:
        node = compose(text)
    except yaml.reader.ReaderError as exc:  # a control character: a binary file, mostly
        line = text.count("\n", 0, exc.position) + 1
        raise YamlProblem(line, f"not a text file: {exc.reason}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlProblem(line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(1, f"not valid YAML: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise YamlProblem(1, f"not valid YAML: {exc}") from None
    positions = Positions()
    if node is None:
        return None, positions
    converter = _Converter(positions)
    return converter.convert(node, ()), positions


class _Converter:
    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self.constructor = SafeConstructor()
        self.count = 0
        self.active: set[int] = set()

    def convert(self, node: Node, path: Path) -> Any:
        self.count += 1
        line = node.start_mark.line + 1
        if self.count > MAX_NODES:
            raise YamlProblem(line, f"document too large (more than {MAX_NODES} values)")
        self.positions.lines.setdefault(path, line)
        if id(node) in self.active:
            raise YamlProblem(line, "recursive YAML alias")
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
            return self._scalar(node, line)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        if node.tag != "tag:yaml.org,2002:map":
            raise YamlProblem(node.start_mark.line + 1, f"unsupported YAML tag {node.tag}")
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlProblem(line, "YAML merge keys (<<) are not supported")
            key = self._scalar(key_node, line) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                raise YamlProblem(line, "mapping keys must be plain strings")
            if key in result:
                raise YamlProblem(line, f"duplicate key {key!r}")
            self.positions.lines[(*path, key)] = line
            result[key] = self.convert(value_node, (*path, key))
        return result

    def _scalar(self, node: Node, line: int) -> Any:
        if not isinstance(node, ScalarNode):
            raise YamlProblem(line, "expected a scalar")
        if node.tag == "!vault":
            return VaultValue(str(node.value))
        if node.tag not in _STANDARD_TAGS:
            raise YamlProblem(line, f"unsupported YAML tag {node.tag}")
        try:
            value = self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            raise YamlProblem(line, f"bad scalar {node.value!r}: {exc}") from None
        if not isinstance(value, str | int | float | bool | type(None)):
            return str(node.value)  # timestamps and friends: keep the text as written
        return value
