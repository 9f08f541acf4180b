"""The engine is composed, not subclassed: modes (the drill, the ramp) reach it through its
named seams, never through its private methods or the journal's internals."""

from __future__ import annotations

import ast
from pathlib import Path

import chaosrun
from chaosrun.run.engine import Engine
from chaosrun.runbook.drill import DrillEngine

PACKAGE = Path(chaosrun.__file__).parent
# Their own internals; commands/ is the CLI layer, kept out of this rule's scope.
OWNERS = {PACKAGE / "engine.py", PACKAGE / "journal.py"}


def _modules() -> list[Path]:
    return [
        p
        for p in sorted(PACKAGE.rglob("*.py"))
        if p not in OWNERS and "commands" not in p.relative_to(PACKAGE).parts
    ]


def test_no_module_subclasses_the_engine_or_reaches_into_the_journal() -> None:
    assert not issubclass(DrillEngine, Engine)
    found = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                getattr(b, "id", getattr(b, "attr", "")) == "Engine" for b in node.bases
            ):
                found.append(f"{path.name}:{node.lineno}: subclasses Engine")
            if isinstance(node, ast.Attribute) and node.attr in {"data", "_lock"}:
                owner = node.value
                name = getattr(owner, "attr", getattr(owner, "id", ""))
                if name == "journal":
                    found.append(f"{path.name}:{node.lineno}: journal.{node.attr}")
    assert found == []
