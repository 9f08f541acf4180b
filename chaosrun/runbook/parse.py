"""Markdown runbook -> title, front matter and steps, each with the line it starts at.

Structure only: `---` front matter, the first `#` heading as title, each `##` section a
step, and at most one fenced block tagged `chaosrun` per step (its YAML is loaded with
line positions that count from the top of the runbook). chaosrun.runbook.check judges
the content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrun.base.errors import InvalidInput
from chaosrun.base.yamlpos import Positions, YamlProblem, load_yaml

FENCE = re.compile(r"^(\s{0,3})(`{3,}|~{3,})\s*([^`\s]*)")


@dataclass
class Block:
    data: Any
    line: int  # the line of the opening fence
    positions: Positions
    valid: bool = True  # False when its YAML did not load (already reported)


@dataclass
class Step:
    number: int
    title: str
    line: int
    text: str  # the prose of the section, for humans and manual prompts
    block: Block | None = None

    @property
    def kind(self) -> str:
        """manual | prometheus | http | alert | tasks (judged loosely; check.py is strict)."""
        if self.block is None:
            return "manual"
        data = self.block.data if isinstance(self.block.data, dict) else {}
        for kind in ("prometheus", "http", "alert", "tasks"):
            if kind in data:
                return kind
        return "unknown"


@dataclass
class Runbook:
    file: Path
    title: str
    title_line: int
    front: Any  # the front matter mapping (None when absent)
    front_line: int
    front_positions: Positions
    steps: list[Step] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def where(self, line: int) -> str:
        return f"{self.file}:{line}"


def load(path: Path) -> Runbook:
    """Read and parse a runbook; raises InvalidInput only when the file cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such runbook") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from None
    return parse(text, path)


def parse(text: str, path: Path) -> Runbook:
    lines = text.splitlines()
    book = Runbook(path, "", 0, None, 0, Positions())
    start = _front_matter(lines, book)
    fence: tuple[str, int, str, list[str]] | None = None  # marker, line, tag, body
    step: Step | None = None
    prose: list[str] = []
    for index in range(start, len(lines)):
        raw, number = lines[index], index + 1
        if fence is not None:
            if raw.strip().startswith(fence[0]) and raw.strip().strip(fence[0][0]) == "":
                _close_block(book, step, fence)
                fence = None
            else:
                fence[3].append(raw)
            continue
        match = FENCE.match(raw)
        if match:
            fence = (match.group(2), number, match.group(3).lower(), [])
            continue
        if raw.startswith("## "):
            _end_step(step, prose)
            step = Step(len(book.steps) + 1, raw[3:].strip(), number, "")
            book.steps.append(step)
            prose = []
        elif raw.startswith("# ") and not book.title and step is None:
            book.title, book.title_line = raw[2:].strip(), number
        elif step is not None:
            prose.append(raw)
    if fence is not None:
        book.errors.append(f"{book.where(fence[1])}: code block is never closed")
    _end_step(step, prose)
    return book


def _front_matter(lines: list[str], book: Runbook) -> int:
    if not lines or lines[0].strip() != "---":
        return 0
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            body = "\n".join(lines[1:index])
            book.front_line = 2
            book.front, book.front_positions = _yaml(book, body, 2)
            return index + 1
    book.errors.append(f"{book.where(1)}: front matter starts with --- but never ends")
    return len(lines)


def _close_block(book: Runbook, step: Step | None, fence: tuple) -> None:
    _marker, line, tag, body = fence
    if tag != "chaosrun":  # other code blocks are prose for the reader only
        return
    if step is None:
        book.errors.append(f"{book.where(line)}: a chaosrun block must be inside a ## step")
        return
    if step.block is not None:
        book.errors.append(
            f"{book.where(line)}: step {step.title!r} has a second chaosrun block "
            f"(the first is at line {step.block.line}); one step, one action"
        )
        return
    before = len(book.errors)
    data, positions = _yaml(book, "\n".join(body), line + 1)
    step.block = Block(data, line, positions, valid=len(book.errors) == before)


def _yaml(book: Runbook, body: str, first_line: int) -> tuple[Any, Positions]:
    """Load YAML that starts at `first_line` of the runbook, so positions are runbook lines."""
    try:
        return load_yaml("\n" * (first_line - 1) + body)
    except YamlProblem as exc:
        book.errors.append(f"{book.where(exc.line)}: {exc.message}")
        return None, Positions()


def _end_step(step: Step | None, prose: list[str]) -> None:
    if step is not None:
        step.text = "\n".join(prose).strip()
