"""Runbook parsing and checking: structure, step kinds, and errors that name the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosrun.base.errors import InvalidInput
from chaosrun.runbook.check import check, check_file
from chaosrun.runbook.parse import parse

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"

GOOD = """\
---
variables:
  unit_name: demo.service
---

# Demo down

Intro prose.

## Detect the failure

```chaosrun
prometheus: up{job="demo"}
max: 0
within: 30s
measure: detect
```

## Restart the unit

```yaml
# not a chaosrun block: prose for the reader
## not a heading either
```

```chaosrun
hosts: app
tasks:
  - name: Start the unit
    ansible.builtin.systemd_service: {name: "{{ unit_name }}", state: started}
```

## Write the postmortem

Who, what, when.
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(InvalidInput) as info:
        check(parse(text, Path("rb.md")))
    return str(info.value).splitlines()


def test_parses_title_steps_kinds_and_lines() -> None:
    book = parse(GOOD, Path("rb.md"))
    assert (book.title, book.title_line) == ("Demo down", 6)
    assert [(s.number, s.title, s.line, s.kind) for s in book.steps] == [
        (1, "Detect the failure", 10, "prometheus"),
        (2, "Restart the unit", 19, "tasks"),
        (3, "Write the postmortem", 33, "manual"),
    ]
    assert book.steps[0].block.line == 12
    assert book.steps[2].text == "Who, what, when."
    assert book.front == {"variables": {"unit_name": "demo.service"}}
    assert check(book) is None  # no fault: compiles, cannot be drilled


def test_unknown_key_and_missing_deadline_name_their_lines() -> None:
    text = GOOD.replace("within: 30s\n", "withn: 30s\n")
    lines = errors_of(text)
    assert len(lines) == 2, lines
    assert lines[0].startswith("rb.md:13:") and "missing required key 'within'" in lines[0]
    assert lines[1].startswith("rb.md:15: withn: unknown key 'withn'")


def test_broken_yaml_in_a_block_names_the_runbook_line() -> None:
    text = GOOD.replace("max: 0\n", "max: [0\n")
    lines = errors_of(text)
    assert len(lines) == 1 and lines[0].startswith("rb.md:15: not valid YAML"), lines


def test_task_without_name_and_bad_measure() -> None:
    text = GOOD.replace("  - name: Start the unit\n    ansible", "  - ansible").replace(
        "measure: detect", "measure: later"
    )
    lines = errors_of(text)
    assert any(line.startswith("rb.md:16: measure:") for line in lines), lines
    assert any(
        line.startswith("rb.md:29: tasks[0]:") and "needs a name" in line for line in lines
    ), lines


def test_structure_errors() -> None:
    unclosed = GOOD.split("## Write")[0].rsplit("```", 1)[0]
    assert errors_of(unclosed) == ["rb.md:26: code block is never closed"]
    second = GOOD.replace("## Write the postmortem\n", "```chaosrun\nalert: X\nwithin: 1s\n```\n")
    assert any(
        e.startswith("rb.md:33:") and "second chaosrun block" in e for e in errors_of(second)
    )
    assert any("# Title" in e for e in errors_of(GOOD.replace("# Demo down\n", "")))


def test_front_matter_is_checked_as_an_experiment_with_lines() -> None:
    text = GOOD.replace(
        "variables:", "fault: {role: chaosrun.chaos.service_stop}\ntargets: {hosts: 3}\nvariables:"
    )
    lines = errors_of(text)
    assert any(line.startswith("rb.md:3: targets.hosts:") for line in lines), lines


@pytest.mark.parametrize("path", sorted(RUNBOOKS.glob("*.md")), ids=lambda p: p.name)
def test_shipped_runbooks_check_and_drill_a_fault(path: Path) -> None:
    book, experiment = check_file(path)
    assert experiment is not None and experiment.fault.role.startswith("chaosrun.chaos.")
    assert any(s.kind == "manual" for s in book.steps)
    assert any(s.kind == "tasks" for s in book.steps)
