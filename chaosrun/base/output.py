"""Printing for humans (rich on a terminal) and machines (--json), and what becomes of the
lines nobody reads (a closed pipe): they are dropped, and the command carries on to its own
exit code."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import IO, Any

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def reattach() -> None:
    """Look at stdout and stderr afresh (a terminal or not, its colours and width): a warm
    process's fork is handed the command's own after these consoles were made."""
    console.__init__(highlight=False)  # type: ignore[misc]
    err_console.__init__(stderr=True, highlight=False)  # type: ignore[misc]


def error(message: str) -> None:
    err_console.print(f"[bold red]chaosrun: error:[/] {message}", markup=True, soft_wrap=True)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {message}", soft_wrap=True)


def info(message: str) -> None:
    err_console.print(message, soft_wrap=True)


def emit_json(data: Any) -> None:
    write_out(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def write_out(text: str) -> None:
    """Write a command's output to stdout; when nobody reads it any more, drop it."""
    try:
        sys.stdout.write(text)
    except OSError:
        into_nothing(sys.stdout)


def into_nothing(stream: IO[str]) -> None:
    """Point a stream nobody reads any more into /dev/null: what it still holds, and what
    is written to it later, goes nowhere instead of failing again."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


def flush_or_drop() -> None:
    """Flush stdout and stderr, and point each that can no longer be written into nothing.
    A buffered stream (PYTHONUNBUFFERED unset, as in most shells) keeps what it failed to
    write, and the interpreter flushes it again as it exits: a failure there makes the exit
    code 120."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            into_nothing(stream)


def _drop_unread(self: Console) -> None:
    """A rich console's broken pipe: quiet from now on, its own stream into nothing."""
    self.quiet = True
    into_nothing(self.file)


def drop_unread_lines() -> None:
    """Every rich console in the process (ours, Typer's help) drops what nobody reads.
    rich's own answer to a broken pipe raises SystemExit(1) from inside whatever printed,
    so a command cut there exits 1 whatever its own code, and it points only stdout away,
    whichever stream broke (`2>&1 | head`: stderr too)."""
    Console.on_broken_pipe = _drop_unread  # type: ignore[method-assign]
