"""Preflight: the checks that must pass before any host is touched (refusal = exit 4).

Irreversible faults need an explicit flag; the project's safety rules (kill switch,
blackout windows, blast radius, hosts held by live runs) must allow the run; Prometheus
must be ready when probes use it; every selected host must answer over SSH and hold no
active fault of another run (the on-host lock). The SSH connections opened here stay
open for the fast rollback path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaosrun import safety
from chaosrun.errors import Refused
from chaosrun.hostshell import HostShell, holders_script

if TYPE_CHECKING:
    from chaosrun.planning import Plan
    from chaosrun.probes import Prober


def run_checks(plan: Plan, shell: HostShell, prober: Prober, run_id: str) -> dict[str, str]:
    """Host -> "ok"; raises engine.Refusal naming what is wrong."""
    from chaosrun.engine import Refusal

    if plan.role.irreversible() and not plan.allow_irreversible:
        raise Refusal(f"{plan.role.fqcn} is irreversible; it needs --allow-irreversible")
    sel = plan.selection
    try:
        safety.preflight(
            plan.config,
            pattern=sel.pattern,
            matched=sel.matched,
            selected=sel.selected,
            caps=plan.caps,
            run_id=run_id,
            zones=sel.zone_counts(),
        )
    except Refused as exc:
        raise Refusal(str(exc)) from None
    kinds = {p.kind for _, p in plan.experiment.all_probes()}
    if "prometheus" in kinds:
        if prober.source is None:
            raise Refusal(
                "probes need Prometheus but no URL is known (experiment, "
                "CHAOSRUN_PROMETHEUS_URL or the inventory's lab_prometheus_url)"
            )
        ready, evidence = prober.source.ready()
        if not ready:
            raise Refusal(f"Prometheus is not ready: {evidence}")
    answers = shell.run_all(dict.fromkeys(shell.hosts, holders_script(plan.state_dir)), 60)
    unreachable = {h: a.out for h, a in answers.items() if a.rc != 0}
    if unreachable:
        detail = "; ".join(f"{h}: {out[-160:] or 'no answer'}" for h, out in unreachable.items())
        raise Refusal(f"hosts unreachable over SSH: {detail}")
    held = {h: a.out.split() for h, a in answers.items() if a.out.split()}
    others = {h: [r for r in runs if r != run_id] for h, runs in held.items()}
    others = {h: runs for h, runs in others.items() if runs}
    if others:
        detail = "; ".join(f"{h} held by run {', '.join(r)}" for h, r in others.items())
        raise Refusal(f"hosts hold active faults of other runs: {detail}")
    return dict.fromkeys(answers, "ok")
