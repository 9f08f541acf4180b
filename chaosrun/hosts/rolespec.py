"""Fault roles on disk: find a role by FQCN and check vars against its argument specs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from chaosrun.base import yamlpos
from chaosrun.hosts import collection

ENTRY_POINTS = ("inject", "verify", "rollback")
# Supplied by the engine on every run, never by the experiment.
ENGINE_VARS = {
    "chaos_run_id",
    "chaos_ttl",
    "chaos_state_dir",
    "chaos_controller",
    "chaos_experiment",
}


@dataclass(frozen=True)
class RoleSpec:
    fqcn: str
    path: Path
    entry_points: dict[str, dict[str, Any]]  # entry point -> {"options": {...}, ...}

    @property
    def short(self) -> str:
        return self.fqcn.rsplit(".", 1)[-1]

    def options(self, entry_point: str) -> dict[str, Any]:
        return dict((self.entry_points.get(entry_point) or {}).get("options") or {})

    def all_options(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for name in self.entry_points:
            merged.update(self.options(name))
        return merged

    def secret_options(self) -> set[str]:
        return {k for k, v in self.all_options().items() if isinstance(v, dict) and v.get("no_log")}

    def missing_entry_points(self) -> list[str]:
        """ENTRY_POINTS without a tasks file: the engine's playbook imports all three."""
        tasks = self.path / "tasks"
        return [
            name
            for name in ENTRY_POINTS
            if not (tasks / f"{name}.yml").is_file() and not (tasks / f"{name}.yaml").is_file()
        ]

    def irreversible(self) -> bool:
        return any(bool((ep or {}).get("irreversible")) for ep in self.entry_points.values())


def collection_paths() -> list[Path]:
    """Where collections are looked up: Ansible's configured roots, then the bundled one
    (chaosrun.hosts.collection), in the order the engine's Ansible runs use."""
    return [Path(p) for p in collection.ansible_paths().split(":") if p]


def find_role(fqcn: str) -> Path | None:
    parts = fqcn.split(".")
    if len(parts) != 3 or not all(p.isidentifier() for p in parts):
        return None
    for base in collection_paths():
        root = base if base.name == "ansible_collections" else base / "ansible_collections"
        candidate = root / parts[0] / parts[1] / "roles" / parts[2]
        if (candidate / "tasks").is_dir():
            return candidate
    return None


@lru_cache(maxsize=64)
def load_role(fqcn: str) -> RoleSpec | None:
    """The role and its argument specs, or None when no such role is installed."""
    path = find_role(fqcn)
    if path is None:
        return None
    specs: dict[str, Any] = {}
    for name in ("argument_specs.yml", "argument_specs.yaml"):
        spec_file = path / "meta" / name
        if spec_file.is_file():
            data = yamlpos.safe_load(spec_file.read_text()) or {}
            specs = dict(data.get("argument_specs") or {})
            break
    return RoleSpec(fqcn=fqcn, path=path, entry_points=specs)


def check_vars(role: RoleSpec, values: dict[str, Any]) -> list[tuple[str | None, str]]:
    """Problems with `values` for the role's inject entry point as (var name or None, message)."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    problems: list[tuple[str | None, str]] = []
    known = role.all_options()
    for name in values:
        if name not in known:
            problems.append((name, f"not an option of {role.fqcn} (known: {_names(known)})"))
    spec = {k: dict(v or {}) for k, v in role.options("inject").items()}
    for option in spec.values():
        option.pop("version_added", None)
        option.pop("description", None)
    params = {k: v for k, v in values.items() if k in spec}
    for name in ENGINE_VARS & spec.keys():
        params.setdefault(name, "validate" if name == "chaos_run_id" else 60)
    result = ArgumentSpecValidator(spec).validate(params)
    for err in result.errors:
        message = str(err)
        if "Unsupported parameters" in message:
            continue
        var = next((k for k in params if k in message), None)
        problems.append((var, message))
    return problems


def _names(options: dict[str, Any]) -> str:
    visible = sorted(k for k in options if k not in ENGINE_VARS and not k.startswith("__"))
    return ", ".join(visible) or "none"
