"""Report sections for what a run watched without judging: the zones it took down, the
cascade (which signal showed first while the fault was on) and the observe-only probes.

An observation that crossed its threshold is a finding, not a failure: it is shown as
"shown" / "quiet", never as a PASS or BREACH of the run.
"""

from __future__ import annotations

from typing import Any

from chaosrun.report import cascade, svg, verdicts
from chaosrun.report.journal import Journal
from chaosrun.report.page import e, table


def zones_section(journal: Journal) -> str:
    """The zones of a whole-zone run: which went down, which had to carry the load."""
    zones = (journal.get("targets") or {}).get("zones") or {}
    hosts = zones.get("hosts") or {}
    if not hosts:
        return ""
    down = set(zones.get("selected") or [])
    rows = [
        [zone, "taken down" if zone in down else "survives", ", ".join(map(str, members))]
        for zone, members in sorted(hosts.items())
    ]
    classes = [["", "failed" if zone in down else "ok", ""] for zone, _ in sorted(hosts.items())]
    return "<h2>Zones</h2>" + table(["Zone", "In this run", "Hosts"], rows, classes)


def cascade_section(journal: Journal) -> str:
    """The watched signals in the order they showed during the fault."""
    signals = journal.get("cascade")
    if signals is None:
        if not journal.get("observations"):
            return ""
        signals = cascade.first_signals(journal)
    quiet = cascade.quiet_signals(journal)
    if not signals and not quiet:
        return ""
    rows = [
        [
            i,
            s.get("signal"),
            s.get("role"),
            _after(s.get("after_inject_s")),
            s.get("evidence") or "",
        ]
        for i, s in enumerate(signals, 1)
    ]
    text = (
        "<h2>Cascade</h2><p>When each watched signal first crossed its threshold while the "
        "fault was on, earliest first.</p>"
    )
    if rows:
        text += table(["#", "Signal", "Kind", "After inject", "Evidence"], rows)
    else:
        text += "<p>No watched signal crossed its threshold.</p>"
    if quiet:
        text += f'<p class="sub">Stayed quiet: {e(", ".join(quiet))}</p>'
    return text


def _after(value: Any) -> str:
    return f"{value:.1f} s" if verdicts.is_number(value) else "n/a"


def observations_section(journal: Journal, axis: svg.TimeAxis | None) -> str:
    """One chart per observe-only probe."""
    found = [p for p in journal.get("observations") or [] if isinstance(p, dict)]
    if not found:
        return ""
    parts = ["<h2>Observations</h2><p>Observe-only probes: watched, never a reason to abort.</p>"]
    for probe in found:
        samples = [s for s in probe.get("samples") or [] if isinstance(s, dict)]
        shown = sum(1 for s in samples if s.get("verdict") == "BREACH")
        state = f"crossed its threshold in {shown} of {len(samples)} samples" if shown else "quiet"
        chart = svg.probe_chart(journal, probe, axis) if axis else ""
        parts.append(
            f"<h3>{e(probe.get('name', 'observation'))} "
            f'<span class="sub">({e(probe.get("kind", ""))})</span></h3>'
            f"<p>{e(state)}</p>"
            + (f"<pre>{e(probe.get('query'))}</pre>" if probe.get("query") else "")
            + chart
        )
    return "".join(parts)
