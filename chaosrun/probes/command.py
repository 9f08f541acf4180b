"""Command probes: a shell command on a host pattern through Ansible; PASS when every host
answers with the expected exit code (and stdout matches, when asked)."""

from __future__ import annotations

import re
from pathlib import Path

from chaosrun.base.verdict import ProbeResult, Verdict
from chaosrun.hosts.runner import run_command
from chaosrun.model.experiment import ProbeSpec


def evaluate(probe: ProbeSpec, inventory: Path, work_dir: Path, timeout: float) -> ProbeResult:
    cfg = probe.config
    answers = run_command(
        pattern=cfg["hosts"],
        command=cfg["cmd"],
        inventory=inventory,
        work_dir=work_dir,
        timeout=max(probe.timeout or timeout, 10),
    )
    if not answers:
        return ProbeResult.unknown(f"no host of {cfg['hosts']!r} answered")
    unreachable = [h for h, (rc, _) in answers.items() if rc == -1]
    if unreachable:
        return ProbeResult.unknown(f"unreachable: {', '.join(sorted(unreachable))}")
    bad = []
    for host, (rc, out) in sorted(answers.items()):
        if rc != cfg["rc"]:
            bad.append(f"{host}: rc {rc}")
        elif cfg.get("stdout") and not re.search(cfg["stdout"], out):
            bad.append(f"{host}: stdout does not match")
    evidence = f"{len(answers) - len(bad)}/{len(answers)} hosts as expected"
    if bad:
        return ProbeResult(Verdict.BREACH, float(len(bad)), f"{evidence}; {'; '.join(bad)}"[:400])
    return ProbeResult(Verdict.PASS, 0.0, evidence)
