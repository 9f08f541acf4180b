"""Inline SVG charts: a probe's samples over time with its threshold and the fault,
rollback and abort marks, and a timeline of phases. No script, no external resources;
every piece of text is escaped."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from chaosrun.report import verdicts
from chaosrun.report.journal import Journal, parse_time

WIDTH = 760
# The left margin fits phase names, so every chart of a run shares one time axis.
LEFT, RIGHT, TOP, BOTTOM = 136, 16, 18, 30
VERDICT_COLOURS = {"PASS": "#1a7f37", "BREACH": "#cf222e", "UNKNOWN": "#8c959f"}
TICK_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
PHASE_COLOURS = {"ok": "#2da44e", "failed": "#cf222e", "skipped": "#afb8c1", "pending": "#54aeff"}


def fmt(value: float) -> str:
    """A compact number for axes and labels."""
    if value == 0:
        return "0"
    return f"{value:.4g}"


@dataclass(frozen=True)
class TimeAxis:
    """Maps datetimes of one run onto the chart's horizontal pixels."""

    start: datetime
    end: datetime
    left: float = LEFT
    right: float = WIDTH - RIGHT

    @property
    def span(self) -> float:
        return max((self.end - self.start).total_seconds(), 1e-3)

    def x(self, when: datetime) -> float:
        offset = (when - self.start).total_seconds()
        clamped = min(max(offset, 0.0), self.span)
        return self.left + (self.right - self.left) * clamped / self.span

    def ticks(self) -> list[tuple[float, str]]:
        """About six ticks labelled in the unit that suits the span (s, min, h or d)."""
        unit, size = next((u, n) for u, n in TICK_UNITS if self.span >= 3 * n or n == 1)
        step = _nice_step(self.span / size / 6) * size
        count = int(self.span // step) + 1
        width = self.right - self.left
        return [
            (self.left + width * (i * step) / self.span, f"+{fmt(i * step / size)}{unit}")
            for i in range(count)
        ]


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def time_axis(journal: Journal) -> TimeAxis | None:
    """One axis for every chart of a run, so the charts line up."""
    start, end = verdicts.run_start(journal), verdicts.run_end(journal)
    if start is None or end is None:
        return None
    return TimeAxis(start, max(end, start))


def caption(x: float, y: float, text: str, anchor: str = "start", cls: str = "lbl") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{cls}">{escape(text)}</text>'
    )


def _band(
    axis: TimeAxis,
    window: tuple[datetime, datetime] | None,
    cls: str,
    label: str,
    top: float,
    bottom: float,
) -> str:
    if window is None:
        return ""
    x0, x1 = axis.x(window[0]), axis.x(window[1])
    return (
        f'<rect class="{cls}" x="{x0:.1f}" y="{top:.1f}" width="{max(x1 - x0, 1.5):.1f}" '
        f'height="{bottom - top:.1f}"><title>{escape(label)}</title></rect>'
        + caption(x0 + 3, top + 11, label, cls="band-lbl")
    )


def _vline(
    axis: TimeAxis, when: datetime | None, cls: str, label: str, top: float, bottom: float
) -> str:
    if when is None:
        return ""
    x = axis.x(when)
    # Near the right edge the label goes on the line's left, or it would be cut off.
    at, anchor = (x - 3, "end") if x > axis.right - 60 else (x + 3, "start")
    return (
        f'<line class="{cls}" x1="{x:.1f}" x2="{x:.1f}" y1="{top:.1f}" y2="{bottom:.1f}"/>'
        + caption(at, bottom - 4, label, anchor, cls=f"{cls}-lbl")
    )


def _marks(journal: Journal, axis: TimeAxis, top: float, bottom: float) -> str:
    """The fault and rollback bands, and the abort and recovered lines."""
    return "".join(
        [
            _band(axis, verdicts.fault_window(journal), "band-fault", "fault", top, bottom),
            _band(
                axis, verdicts.rollback_window(journal), "band-rollback", "rollback", top, bottom
            ),
            _vline(axis, verdicts.abort_time(journal), "abort", "abort", top, bottom),
            _vline(axis, verdicts.recovered_time(journal), "recovered", "recovered", top, bottom),
        ]
    )


def x_axis(axis: TimeAxis, y: float) -> str:
    parts = [f'<line class="axis" x1="{axis.left}" x2="{axis.right}" y1="{y}" y2="{y}"/>']
    for x, label in axis.ticks():
        parts.append(f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + 4}"/>')
        parts.append(caption(x, y + 16, label, anchor="middle"))
    return "".join(parts)


def _value_range(values: Iterable[float], marks: Iterable[float]) -> tuple[float, float]:
    points = [*values, *marks, 0.0]
    low, high = min(points), max(points)
    if high == low:
        high = low + 1.0
    pad = (high - low) * 0.1
    return (low - pad if low < 0 else low), high + pad


def hline(axis: TimeAxis, y: float, cls: str) -> str:
    return f'<line class="{cls}" x1="{axis.left}" x2="{axis.right}" y1="{y:.1f}" y2="{y:.1f}"/>'


def _sample_dot(x: float, y: float, sample: dict[str, Any]) -> str:
    verdict = str(sample.get("verdict") or "UNKNOWN")
    colour = VERDICT_COLOURS.get(verdict, VERDICT_COLOURS["UNKNOWN"])
    tip = (
        f"{sample.get('at', '')} [{sample.get('phase', '')}] value={sample.get('value')} "
        f"{verdict} {sample.get('evidence') or ''}"
    )
    title = f"<title>{escape(tip)}</title>"
    if verdict == "UNKNOWN":  # no value to plot: a grey square on the floor of the chart
        box = f'x="{x - 2.5:.1f}" y="{y - 2.5:.1f}" width="5" height="5"'
        return f'<rect {box} fill="{colour}">{title}</rect>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{colour}">{title}</circle>'


def _series(axis: TimeAxis, samples: list[dict[str, Any]], y: Any, floor: float) -> list[str]:
    """Polylines through numeric samples (broken at gaps and phase changes), then dots."""
    segments: list[list[str]] = [[]]
    previous_phase = None
    for s in samples:
        # A line across phases would invent values for the time nobody sampled.
        if s.get("phase") != previous_phase and segments[-1]:
            segments.append([])
        previous_phase = s.get("phase")
        if verdicts.is_number(s.get("value")):
            segments[-1].append(f"{axis.x(parse_time(s['at'])):.1f},{y(float(s['value'])):.1f}")
        elif segments[-1]:
            segments.append([])
    parts = [f'<polyline class="series" points="{" ".join(g)}"/>' for g in segments if len(g) > 1]
    for s in samples:
        value = s.get("value")
        at_y = y(float(value)) if verdicts.is_number(value) else floor - 3
        parts.append(_sample_dot(axis.x(parse_time(s["at"])), at_y, s))
    return parts


def probe_chart(journal: Journal, probe: dict[str, Any], axis: TimeAxis, height: int = 200) -> str:
    """A line chart of one probe's samples with its threshold lines and the run's marks."""
    top, bottom = TOP, height - BOTTOM
    threshold = probe.get("threshold") or {}
    limits = verdicts.limits(probe)
    base = probe.get("baseline") if verdicts.is_number(probe.get("baseline")) else None
    samples = [
        s for s in probe.get("samples") or [] if isinstance(s, dict) and parse_time(s.get("at"))
    ]
    values = [float(s["value"]) for s in samples if verdicts.is_number(s.get("value"))]
    low, high = _value_range(values, [*limits.values(), *([base] if base is not None else [])])

    def y(v: float) -> float:
        return bottom - (bottom - top) * (v - low) / (high - low)

    parts = [_marks(journal, axis, top, bottom), x_axis(axis, bottom)]
    for i in range(5):
        v = low + (high - low) * i / 4
        parts += [hline(axis, y(v), "grid"), caption(axis.left - 6, y(v) + 4, fmt(v), "end")]
    if base is not None:
        parts.append(hline(axis, y(base), "baseline"))
        parts.append(
            caption(axis.left + 4, y(base) - 4, f"baseline {fmt(base)}", cls="baseline-lbl")
        )
    for key, limit in limits.items():
        parts.append(hline(axis, y(limit), "threshold"))
        label = f"{key} {fmt(limit)}"
        parts.append(caption(axis.right - 2, y(limit) - 4, label, "end", "threshold-lbl"))
    parts += _series(axis, samples, y, bottom)
    name = probe.get("name", "probe")
    label = f"{name}: samples over time, threshold {verdicts.threshold_text(threshold)}"
    return figure(height, label, parts)


def timeline_chart(journal: Journal, axis: TimeAxis) -> str:
    """One bar per phase on the run's time axis, coloured by outcome."""
    phases = [p for p in journal.get("phases") or [] if parse_time(p.get("started_at"))]
    row = 20
    height = TOP + row * max(len(phases), 1) + BOTTOM
    bottom = height - BOTTOM
    parts = [_marks(journal, axis, TOP - 6, bottom)]
    for i, p in enumerate(phases):
        start = parse_time(p.get("started_at"))
        end = parse_time(p.get("ended_at")) or verdicts.run_end(journal) or start
        x0, x1 = axis.x(start), axis.x(end)
        cls = verdicts.phase_class(p.get("outcome"))
        y0 = TOP + i * row
        took = (end - start).total_seconds()
        tip = f"{p.get('name')}: {p.get('outcome')} in {fmt(took)}s {p.get('detail') or ''}"
        parts.append(
            f'<rect x="{x0:.1f}" y="{y0 + 3}" width="{max(x1 - x0, 2):.1f}" height="{row - 6}" '
            f'fill="{PHASE_COLOURS[cls]}" rx="2"><title>{escape(tip)}</title></rect>'
        )
        parts.append(caption(axis.left - 6, y0 + row - 6, str(p.get("name", "?")), anchor="end"))
    parts.append(x_axis(axis, bottom))
    return figure(height, "Timeline of phases", parts)


def figure(height: int, label: str, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'aria-label="{escape(label)}"><title>{escape(label)}</title>{"".join(parts)}</svg>'
    )
