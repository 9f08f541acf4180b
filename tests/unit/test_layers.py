"""Imports point down: every module of the package sits in one layer and imports only
its own layer and those below; no chaosrun import hides inside a function outside
chaosrun/commands/ and the entry chaosrun.launch (lazy imports keep `--help` fast).

The rule is read from the source (ast) and checked for real: the lower layers imported
in a fresh interpreter load neither the engine nor Ansible.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import chaosrun

PACKAGE = Path(chaosrun.__file__).resolve().parent
# Bottom to top. A name stands for the module and, for a package, everything in it.
LAYERS: list[tuple[str, list[str]]] = [
    ("base", ["chaosrun", "chaosrun.base"]),
    ("report", ["chaosrun.report"]),
    ("model", ["chaosrun.model"]),
    ("hosts", ["chaosrun.hosts"]),
    ("plan", ["chaosrun.plan"]),
    ("probes", ["chaosrun.probes"]),
    ("run", ["chaosrun.run"]),
    ("modes", ["chaosrun.modes", "chaosrun.runbook"]),
    ("ops", ["chaosrun.ops"]),
    ("lab", ["chaosrun.lab"]),
    ("commands", ["chaosrun.commands", "chaosrun.cli"]),
    # The executable's entry and the warm process, which loads every command.
    ("warm", ["chaosrun.warm", "chaosrun.launch", "chaosrun.__main__"]),
]
# Where a chaosrun import may wait inside a function: the commands (it keeps `--help`
# fast) and the executable's entry (no command line loaded when a warm process runs it).
LAZY = ("chaosrun.commands", "chaosrun.launch")
# What the lower layers must never load: the run, the planning, the ramp runner, Ansible.
HEAVY = (
    "chaosrun.run.engine",
    "chaosrun.plan.planning",
    "chaosrun.modes.ramp",
    "ansible",
    "ansible_runner",
)


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def layer_of(module: str) -> int:
    """The index of the layer holding `module` (the longest name that covers it)."""
    best, index = "", -1
    for i, (_, names) in enumerate(LAYERS):
        for name in names:
            covers = module == name or module.startswith(name + ".")
            if covers and len(name) > len(best):
                best, index = name, i
    if index < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS (and the docs' map)")
    return index


def imports(path: Path, known: dict[str, Path]) -> list[tuple[int, str, bool]]:
    """(line, imported chaosrun module, at module level) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from PKG import NAME` imports the module PKG.NAME if there is one, else PKG.
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                for a in node.names
            ]
        else:
            continue
        for name in names:
            if name == "chaosrun" or name.startswith("chaosrun."):
                found.append((node.lineno, name, id(node) in top))
    return found


def test_no_chaosrun_import_inside_a_function_outside_the_commands() -> None:
    known = modules()
    hidden = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {name}"
        for module, path in known.items()
        if not module.startswith(LAZY)
        for line, name, at_top in imports(path, known)
        if not at_top
    ]
    assert hidden == []


def test_every_module_imports_only_its_layer_and_those_below() -> None:
    known = modules()
    upward = []
    for module, path in known.items():
        mine = layer_of(module)
        for line, name, _ in imports(path, known):
            theirs = layer_of(name)
            if theirs > mine:
                upward.append(
                    f"{path.relative_to(PACKAGE.parent)}:{line}: {module} ({LAYERS[mine][0]}) "
                    f"imports {name} ({LAYERS[theirs][0]})"
                )
    assert upward == []


def test_the_lower_layers_load_neither_the_run_nor_ansible() -> None:
    # Loading is a union: what the lower layers load together, each of them loads at most.
    below = {
        name
        for name, i in ((m, layer_of(m)) for m in modules())
        if i <= layer_of("chaosrun.hosts.hostshell")
    }
    probe = (
        "import importlib, json, sys\n"
        f"for name in {sorted(below)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(proc.stdout.splitlines()[-1]))
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == []
