"""Zones: hosts grouped by their `zone` inventory variable, and whole-zone selection.

A zone (availability zone, rack, datacenter) is the unit of a regional experiment: a
zone outage takes every host of the zone down at once, and the blast-radius caps count
zones as well as hosts. A host's zone is its `zone` variable, set per host or as a group
var of a zone group (`zone_a: {vars: {zone: zone_a}}`), so any inventory can say it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from chaosrun.base.errors import Refused

ZONE_VAR = "zone"


class HostVars(Protocol):
    def host_vars(self, name: str) -> Mapping[str, Any]: ...


def zone_map(inventory: HostVars, hosts: Sequence[str]) -> dict[str, list[str]]:
    """Zone -> its hosts (inventory order); Refused naming the hosts that have no zone."""
    zones: dict[str, list[str]] = {}
    missing = []
    for host in hosts:
        zone = inventory.host_vars(host).get(ZONE_VAR)
        if zone in (None, ""):
            missing.append(host)
        else:
            zones.setdefault(str(zone), []).append(host)
    if missing:
        raise Refused(
            f"targets.zones: {', '.join(missing)} have no `{ZONE_VAR}` variable; whole-zone "
            f"selection needs every matched host to name its zone"
        )
    return zones


def choose_zones(
    zones: dict[str, list[str]], named: Sequence[str], count: int, seed: int | None
) -> list[str]:
    """The zones to take down: the named ones (each must exist), or `count` at random."""
    if named:
        unknown = [z for z in named if z not in zones]
        if unknown:
            known = ", ".join(sorted(zones)) or "none"
            raise Refused(
                f"targets.zones: no matched host is in {', '.join(unknown)} (zones: {known})"
            )
        return [z for z in sorted(zones) if z in named]
    if count > len(zones):
        raise Refused(
            f"targets.zones: asked for {count} zones but the hosts span only {len(zones)} "
            f"({', '.join(sorted(zones))})"
        )
    return sorted(random.Random(seed).sample(sorted(zones), count))


def hosts_in(zones: dict[str, list[str]], chosen: Sequence[str], order: Sequence[str]) -> list[str]:
    """Every host of the chosen zones, in the order of `order` (the inventory's)."""
    wanted = {h for z in chosen for h in zones[z]}
    return [h for h in order if h in wanted]


def largest_hosts(zones: dict[str, list[str]], count: int) -> int:
    """The most hosts `count` zones can hold: the worst case a random choice can reach."""
    sizes = sorted((len(hosts) for hosts in zones.values()), reverse=True)
    return sum(sizes[:count])


def journal_fields(selection: Any) -> dict[str, Any]:
    """The journal's `targets.zones` for a whole-zone selection, else nothing."""
    if not getattr(selection, "zones", None):
        return {}
    return {
        "zones": {
            "selected": list(selection.selected_zones),
            "hosts": {zone: list(hosts) for zone, hosts in sorted(selection.zones.items())},
        }
    }


def plan_lines(selection: Any) -> list[str]:
    """What `chaosrun plan` says about the zones: which go down, which must carry on."""
    if not getattr(selection, "zones", None):
        return []
    down = set(selection.selected_zones)
    return [
        f"zone {zone}: {'taken down whole' if zone in down else 'survives'} ({', '.join(hosts)})"
        for zone, hosts in sorted(selection.zones.items())
    ]
