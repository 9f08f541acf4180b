"""Target selection: which of the hosts matching the pattern get the fault.

Hosts are picked one by one (count, percent, all), or whole zones at a time
(`targets.zones`, see chaosrun.model.zones): then every candidate host of the chosen zones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from chaosrun.base.errors import Refused
from chaosrun.base.percent import hosts_for_percent
from chaosrun.hosts.inventory import Inventory
from chaosrun.model import zones as zoning
from chaosrun.model.experiment import TargetSpec


@dataclass(frozen=True)
class Selection:
    pattern: str
    matched: list[str]
    excluded: list[str]
    selected: list[str]
    # Zone mode only: zone -> candidate hosts, and the zones taken down whole.
    zones: dict[str, list[str]] = field(default_factory=dict)
    selected_zones: tuple[str, ...] = ()

    def zone_counts(self) -> tuple[int, int] | None:
        """(zones selected, zones the candidates span), or None outside zone mode."""
        return (len(self.selected_zones), len(self.zones)) if self.zones else None


def select_hosts(spec: TargetSpec, inventory: Inventory, seed: int | None = None) -> Selection:
    """Pick the hosts; the same seed and inventory always give the same choice."""
    matched = inventory.match(spec.hosts)
    excluded = sorted({h for pattern in spec.exclude for h in inventory.match(pattern)})
    candidates = [h for h in matched if h not in excluded]
    if not candidates:
        raise Refused(f"targets: pattern {spec.hosts!r} leaves no host to target")
    seed = spec.seed if spec.seed is not None else seed
    if spec.mode == "zones":
        zones = zoning.zone_map(inventory, candidates)
        picked = zoning.choose_zones(zones, spec.zones, spec.zone_count, seed)
        chosen = zoning.hosts_in(zones, picked, candidates)
        return Selection(spec.hosts, matched, excluded, chosen, zones, tuple(picked))
    chosen = choose(candidates, spec.mode, spec.amount, seed)
    return Selection(spec.hosts, matched, excluded, chosen)


def choose(candidates: list[str], mode: str, amount: float, seed: int | None) -> list[str]:
    if mode == "all":
        return list(candidates)
    count = hosts_for_percent(len(candidates), amount) if mode == "percent" else int(amount)
    if count > len(candidates):
        raise Refused(
            f"targets: asked for {count} hosts but only {len(candidates)} match "
            f"({', '.join(candidates)})"
        )
    rng = random.Random(seed)
    picked = set(rng.sample(candidates, count))
    return [h for h in candidates if h in picked]
