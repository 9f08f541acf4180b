"""The HTML report of one run: verdict, timeline, a chart per probe, hosts, steps."""

from __future__ import annotations

import json
from typing import Any

from chaosrun.report import alerts, impact, impact_text, observations, svg, verdicts
from chaosrun.report.journal import Journal, experiment_title, parse_time, seconds_between
from chaosrun.report.page import document, e, status_class, table


def _seconds(value: Any) -> str:
    return f"{value:.1f} s" if verdicts.is_number(value) else "n/a"


def _recovery_text(journal: Journal) -> str:
    recovery = journal.get("recovery") or {}
    ttr = recovery.get("time_to_recover_s")
    within = recovery.get("within_s")
    budget = f" (budget {_seconds(within)})" if verdicts.is_number(within) else ""
    if recovery.get("recovered") is False:
        return f"not recovered{budget}"
    return f"{_seconds(ttr)}{budget}" if verdicts.is_number(ttr) else "n/a"


def _facts(journal: Journal) -> str:
    exp = journal.get("experiment") or {}
    targets = journal.get("targets") or {}
    fault = journal.get("fault") or {}
    controller = journal.get("controller") or {}
    rows = [
        ("Run", journal.get("run_id")),
        ("Kind", journal.get("kind", "run")),
        ("Experiment file", exp.get("file")),
        ("Severity", exp.get("severity")),
        ("Started", journal.get("started_at")),
        ("Duration", _seconds(seconds_between(journal.get("started_at"), journal.get("ended_at")))),
        (
            "Targets",
            f"{targets.get('pattern', '')}: {', '.join(map(str, targets.get('selected') or []))}",
        ),
        ("Fault", fault.get("role")),
        *_recovery_facts(journal),
        ("Rollback", _rollback_text(journal)),
        ("Exit code", journal.get("exit_code")),
        (
            "Controller",
            f"{controller.get('user', '')}@{controller.get('host', '')}" if controller else None,
        ),
    ]
    items = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in rows if v not in (None, ""))
    return f'<dl class="facts">{items}</dl>'


def _recovery_facts(journal: Journal) -> list[tuple[str, str]]:
    """The two measured recovery figures, or the engine's time to recover for a journal
    without steady-state samples during the fault."""
    found = impact.of(journal)
    if not found:
        return [("Time to recover", _recovery_text(journal))]
    after = impact_text.seconds(found.get("after_rollback_s"), "not recovered")
    budget = (journal.get("recovery") or {}).get("within_s")
    if verdicts.is_number(budget):
        after += f" (budget {_seconds(budget)})"
    return [
        ("Self-healing", impact_text.seconds(found.get("self_healing_s"), "none")),
        ("Recovery after rollback", after),
    ]


def _impact(journal: Journal) -> str:
    """What the steady state went through: one sentence, then a row per probe."""
    found = impact.of(journal)
    if not found:
        return ""
    start = parse_time(found.get("from"))
    rows = []
    for entry in found.get("probes") or []:
        bound = impact_text.limit_text(entry)
        rows.append(
            [
                entry.get("name"),
                bound,
                impact_text.value_text(entry, entry.get("worst")),
                f"{entry.get('beyond_s', 0):.1f} s",
                _after_inject(start, entry.get("back_within_at"), entry.get("beyond_s")),
            ]
        )
    sentence = found.get("summary") or impact_text.sentence(journal, found)
    return (
        f'<h2>Impact</h2><p class="impact"><strong>{e(sentence)}</strong></p>'
        + table(["Steady-state probe", "Limit", "Worst", "Beyond the limit", "Back within"], rows)
        + f'<p class="sub">Sampled every {e(_seconds(found.get("interval_s")))} from inject until '
        "recovery held; each sample counts until the next one.</p>"
    )


def _after_inject(start: Any, when: Any, beyond: Any) -> str:
    if not beyond:
        return "never left"
    back = parse_time(when)
    if back is None or start is None:
        return "never came back"
    return f"{(back - start).total_seconds():.1f} s after inject"


def _rollback_text(journal: Journal) -> str | None:
    rollback = journal.get("rollback")
    if not rollback:
        return None
    return "ok" if rollback.get("ok") else "FAILED: check `chaosrun status` and `chaosrun recover`"


def _abort(journal: Journal) -> str:
    abort = journal.get("abort")
    if not abort:
        return ""
    return (
        '<h2>Abort</h2><p class="abort-reason">'
        f"<strong>{e(abort.get('reason') or 'aborted')}</strong><br>"
        f'<span class="sub">at {e(abort.get("at"))}</span></p>'
    )


def _timeline(journal: Journal, axis: svg.TimeAxis | None) -> str:
    phases = journal.get("phases") or []
    if not phases:
        return "<h2>Timeline</h2><p>No phase was recorded.</p>"
    rows, classes = [], []
    for p in phases:
        took = seconds_between(p.get("started_at"), p.get("ended_at"))
        rows.append([p.get("name"), p.get("outcome"), _seconds(took), p.get("detail") or ""])
        classes.append(["", verdicts.phase_class(p.get("outcome")), "", ""])
    chart = svg.timeline_chart(journal, axis) if axis else ""
    return f"<h2>Timeline</h2>{chart}{_legend()}" + table(
        ["Phase", "Outcome", "Took", "Detail"], rows, classes
    )


def _legend() -> str:
    swatches = [
        ("#ffebe9", "fault (inject to rollback)"),
        ("#fff8c5", "rollback"),
        ("#cf222e", "abort / threshold"),
        ("#1a7f37", "recovered / PASS"),
        ("#8c959f", "UNKNOWN"),
    ]
    spans = "".join(
        f'<span><i class="sw" style="background:{c}"></i>{e(t)}</span>' for c, t in swatches
    )
    return f'<p class="legend">{spans}</p>'


def _probe(journal: Journal, probe: dict[str, Any], axis: svg.TimeAxis | None) -> str:
    result = verdicts.probe_result(probe)
    chart = svg.probe_chart(journal, probe, axis) if axis else ""
    query = probe.get("query")
    return (
        f"<h3>{e(probe.get('name', 'probe'))} "
        f'<span class="sub">({e(probe.get("role", ""))}, {e(probe.get("kind", ""))})</span></h3>'
        f'<p><span class="chip {e(result.verdict)}">{e(result.verdict)}</span>: '
        f"{e(result.message)}</p>" + (f"<pre>{e(query)}</pre>" if query else "") + chart
    )


def _probes(journal: Journal, axis: svg.TimeAxis | None) -> str:
    probes = [p for p in journal.get("probes") or [] if isinstance(p, dict)]
    if not probes:
        return ""
    return "<h2>Probes</h2>" + "".join(_probe(journal, p, axis) for p in probes)


def _hosts(journal: Journal) -> str:
    hosts, columns, cells = verdicts.host_results(journal)
    if not hosts:
        return ""
    rows = [[h, *(cells.get((h, c), "") for c in columns)] for h in hosts]
    classes = [
        ["", *(verdicts.phase_class(cells.get((h, c))) if (h, c) in cells else "" for c in columns)]
        for h in hosts
    ]
    return "<h2>Hosts</h2>" + table(["Host", *columns], rows, classes)


def _steps(journal: Journal) -> str:
    steps = [s for s in journal.get("steps") or [] if isinstance(s, dict)]
    if not steps and journal.get("kind") != "drill":
        return ""
    rows, classes = [], []
    for i, s in enumerate(steps, 1):
        took = s.get("duration_s")
        if not verdicts.is_number(took):
            took = seconds_between(s.get("started_at"), s.get("ended_at"))
        outcome = s.get("outcome") or s.get("status") or ""
        rows.append(
            [
                i,
                s.get("name") or s.get("title") or "",
                s.get("kind", ""),
                outcome,
                _seconds(took),
                s.get("detail") or "",
            ]
        )
        classes.append(["", "", "", verdicts.phase_class(outcome), "", ""])
    if not rows:
        return "<h2>Runbook steps</h2><p>No step was recorded.</p>"
    return "<h2>Runbook steps</h2>" + table(
        ["#", "Step", "Kind", "Outcome", "Took", "Detail"], rows, classes
    )


def _configuration(journal: Journal) -> str:
    fault = journal.get("fault") or {}
    shown = {
        "fault": {"role": fault.get("role"), "vars": verdicts.redact(fault.get("vars") or {})},
        "overrides": verdicts.redact(journal.get("overrides") or {}),
        "inventory": journal.get("inventory"),
    }
    text = json.dumps(shown, indent=2, sort_keys=True, default=str)
    return f"<h2>Configuration</h2><pre>{e(text)}</pre>"


def render_run(journal: Journal) -> str:
    """The complete, self-contained HTML report of one run."""
    status = str(journal.get("status"))
    headline = verdicts.headline(status, journal)
    title = experiment_title(journal)
    exp = journal.get("experiment") or {}
    axis = svg.time_axis(journal)
    body = "".join(
        [
            f"<h1>{e(title)}</h1>",
            f'<p class="sub">{e(exp.get("description") or "")}</p>'
            if exp.get("description")
            else "",
            f'<div class="banner {status_class(status)}">{e(headline)}</div>',
            _facts(journal),
            _abort(journal),
            _impact(journal),
            observations.zones_section(journal),
            observations.cascade_section(journal),
            alerts.html_section(journal),
            _timeline(journal, axis),
            _probes(journal, axis),
            observations.observations_section(journal, axis),
            _hosts(journal),
            _steps(journal),
            _configuration(journal),
        ]
    )
    return document(f"chaosrun: {title}: {status}", body)
