"""Preflight: the checks that must pass before any host is touched (refusal = exit 4).

Irreversible faults need an explicit flag; the project's safety rules (kill switch,
blackout windows, blast radius, hosts held by live runs) must allow the run; Prometheus
must be ready when probes use it; every selected host must answer over SSH, carry no
freeze marker (`chaosrun freeze -i`) and hold no active fault of another run (the on-host
lock; the role's lock step checks both again when it arms, which is the guarantee). The
SSH connections opened here stay open for the fast rollback path.
"""

from __future__ import annotations

from chaosrun.base.errors import Refused
from chaosrun.hosts.hostshell import HostShell, explain, holders_script
from chaosrun.model import safety
from chaosrun.plan.planning import Plan
from chaosrun.probes import Prober
from chaosrun.run import hostfreeze

LACKING_RC = 9  # the prerequisites script's answer when the host lacks something
# What every role needs on a host, checked as the fast path runs there: root (the state
# directory, the dead-man timer; a revert run unprivileged would find nothing to revert)
# and systemd-run (the dead-man timer).
PREREQUISITES = (
    'm=""; [ "$(id -u)" = 0 ] || m="$m not root (commands run as $(id -un); set '
    'ansible_become: true with passwordless sudo);"; '
    'command -v systemd-run >/dev/null 2>&1 || m="$m no systemd-run;"; '
    f'[ -z "$m" ] || {{ echo "missing:$m"; exit {LACKING_RC}; }}'
)


def run_checks(plan: Plan, shell: HostShell, prober: Prober, run_id: str) -> dict[str, str]:
    """Host -> "ok"; raises Refused naming what is wrong."""
    if plan.role.irreversible() and not plan.allow_irreversible:
        raise Refused(f"{plan.role.fqcn} is irreversible; it needs --allow-irreversible")
    sel = plan.selection
    safety.preflight(
        plan.config,
        pattern=sel.pattern,
        matched=sel.matched,
        selected=sel.selected,
        caps=plan.caps,
        run_id=run_id,
        zones=sel.zone_counts(),
    )
    kinds = {p.kind for _, p in plan.experiment.all_probes()}
    if "prometheus" in kinds:
        if prober.source is None:
            raise Refused(
                "probes need Prometheus but no URL is known (experiment, "
                "CHAOSRUN_PROMETHEUS_URL or the inventory's lab_prometheus_url)"
            )
        ready, evidence = prober.source.ready()
        if not ready:
            raise Refused(f"Prometheus is not ready: {evidence}")
    unfit = access_problems(shell)
    if unfit:
        raise Refused("host access: " + "; ".join(f"{h}: {why}" for h, why in unfit.items()))
    frozen_check = hostfreeze.check_script(plan.state_dir)
    script = f"{PREREQUISITES}; {frozen_check}; {holders_script(plan.state_dir)}"
    answers = shell.run_all(dict.fromkeys(shell.hosts, script), 60)
    lacking = {h: a.out for h, a in answers.items() if a.rc == LACKING_RC}
    if lacking:
        detail = "; ".join(f"{h}: {out[-200:]}" for h, out in lacking.items())
        raise Refused(f"hosts lack what chaosrun needs: {detail}")
    unreachable = {h: a.out for h, a in answers.items() if a.rc != 0}
    if unreachable:
        detail = "; ".join(f"{h}: {explain(out)}" for h, out in unreachable.items())
        raise Refused(f"hosts unreachable over SSH: {detail}")
    frozen = [(h, hostfreeze.frozen_in(a.out)) for h, a in answers.items()]
    frozen = [(h, line) for h, line in frozen if line]
    if frozen:
        raise Refused(hostfreeze.hosts_message(frozen))
    held = {h: a.out.split() for h, a in answers.items() if a.out.split()}
    others = {h: [r for r in runs if r != run_id] for h, runs in held.items()}
    others = {h: runs for h, runs in others.items() if runs}
    if others:
        detail = "; ".join(f"{h} held by run {', '.join(r)}" for h, r in others.items())
        raise Refused(f"hosts hold active faults of other runs: {detail}")
    return dict.fromkeys(answers, "ok")


def access_problems(shell: HostShell) -> dict[str, str]:
    """Hosts whose privilege escalation the fast rollback path cannot reproduce."""
    found = {}
    for name, host in shell.hosts.items():
        if not host.become:
            continue
        if host.become_method != "sudo":
            found[name] = f"become method {host.become_method!r} is not supported (sudo only)"
        elif host.become_password:
            found[name] = (
                "a become password is set; chaosrun reverts without Ansible and needs "
                "non-interactive sudo (NOPASSWD) on the hosts"
            )
    return found
