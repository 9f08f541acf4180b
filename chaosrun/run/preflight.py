"""Preflight: the checks that must pass before any host is touched (refusal = exit 4).

Irreversible faults need an explicit flag; the project's safety rules (kill switch,
blackout windows, blast radius, hosts held by live runs) must allow the run; Prometheus
must be ready when probes use it; every selected host must answer over SSH, carry no
freeze marker (`chaosrun freeze -i`) and hold no active fault of another run (the on-host
lock; the role's lock step checks both again when it arms, which is the guarantee). The
SSH connections opened here stay open for the fast rollback path.

`chaosrun run` asks the hosts as soon as its plan passes the local checks (the run's
guardian is up by then: chaosrun.run.early), while the engine is still being imported and
set up; the engine's preflight makes the local checks again and takes those answers.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from chaosrun.base.errors import Refused
from chaosrun.hosts.hostshell import Answer, HostShell, explain, holders_script, run_control_dir
from chaosrun.model import safety
from chaosrun.plan.planning import Plan
from chaosrun.run import hostfreeze
from chaosrun.run.early import Started

# Ansible's connection plugins whose hosts chaosrun's own SSH path reaches the same way
# ("smart" is ssh wherever OpenSSH is there).
SSH_CONNECTIONS = ("ssh", "smart")
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


class Readiness(Protocol):
    """What preflight asks of the probes' Prometheus (chaosrun.probes.prometheus, whose HTTP
    client is the engine's to import, after the hosts were asked)."""

    def ready(self) -> tuple[bool, str]: ...


def local_checks(plan: Plan, shell: HostShell, run_id: str) -> None:
    """What refuses the run without asking anything over the network: the irreversible
    flag, the project's safety rules, the hosts' privilege escalation. Raises Refused."""
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
    unfit = access_problems(shell)
    if unfit:
        raise Refused("host access: " + "; ".join(f"{h}: {why}" for h, why in unfit.items()))


def run_shell(plan: Plan, run_id: str, started: Started | None = None) -> HostShell:
    """The shell to the run's selected hosts, on the run's own connections (those of the
    run begun before its plan, when it was)."""
    hosts = [plan.inventory.host_info(h) for h in plan.selection.selected]
    control_dir = started.control_dir if started is not None else None
    return HostShell(hosts, control_dir=control_dir or run_control_dir(run_id))


def ask_ahead(plan: Plan, started: Started) -> None:
    """Preflight's question to the selected hosts of a run begun before its plan, asked now
    in the background (the run's guardian ends its connections with the run), when the plan
    passes the local checks; else nothing is asked and the engine's preflight says why it
    refuses."""
    shell = run_shell(plan, started.run_id, started)
    try:
        local_checks(plan, shell, started.run_id)
    except Refused:
        return
    started.shell, started.asked = shell, ask_hosts(plan, shell)


def ask_hosts(plan: Plan, shell: HostShell) -> Future[dict[str, Answer]]:
    """Preflight's one script on every host (read only: root and systemd-run there, the
    freeze marker, the runs holding the host), started in the background: the answers
    for run_checks. Only after local_checks passed, so that a run the project's rules
    refuse opens no connection."""
    script = f"{PREREQUISITES}; {hostfreeze.check_script(plan.state_dir)}; "
    script += holders_script(plan.state_dir)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="preflight")
    try:
        return pool.submit(shell.run_all, dict.fromkeys(shell.hosts, script), 60)
    finally:
        pool.shutdown(wait=False)


def run_checks(
    plan: Plan,
    shell: HostShell,
    prometheus: Readiness | None,
    run_id: str,
    asked: Future[dict[str, Answer]] | None = None,
) -> dict[str, str]:
    """Host -> "ok"; raises Refused naming what is wrong. `asked`: ask_hosts's answers when
    the hosts were asked before (the local checks are made again: a kill switch may have
    been thrown since)."""
    local_checks(plan, shell, run_id)
    kinds = {p.kind for _, p in plan.experiment.all_probes()}
    if "prometheus" in kinds:
        if prometheus is None:
            raise Refused(
                "probes need Prometheus but no URL is known (experiment, "
                "CHAOSRUN_PROMETHEUS_URL or the inventory's lab_prometheus_url)"
            )
        ready, evidence = prometheus.ready()
        if not ready:
            raise Refused(f"Prometheus is not ready: {evidence}")
    answers = (asked or ask_hosts(plan, shell)).result()
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
    """Hosts whose connection or privilege escalation the fast rollback path cannot reproduce."""
    found = {}
    for name, host in shell.hosts.items():
        if host.connection not in SSH_CONNECTIONS:
            found[name] = (
                f"connection {host.connection!r} is not supported: chaosrun reverts over "
                "its own SSH connections (ansible_connection ssh only)"
            )
            continue
        if host.password:
            found[name] = (
                "an SSH password is set; chaosrun reverts without Ansible and needs key or "
                "agent authentication (no prompt)"
            )
            continue
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
