"""Python's cyclic garbage collector around a command's start and its exit.

Nearly everything a command allocates while it starts (the modules of Typer, Ansible and
the engine, the inventory, the plan) lives until the process exits, and the collector
would walk all of it again and again for nothing: during start-up, in every full
collection of a long run, and most of all at exit, where the interpreter's last
collections over a process that loaded Ansible take 0.2-0.5 s after the command's own
work, its exit code and reports, is done (docs/performance.md). Freezing moves what
exists into the collector's permanent generation, which it never walks; reference
counting still frees everything as before, and so does the exit.
"""

from __future__ import annotations

import atexit
import gc


def free_exit() -> None:
    """At the interpreter's exit, skip the collector's final walks. Only then: a test that
    calls main() in-process keeps its collector as it was until the test process exits.
    Registered once however often main() runs."""
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


def pause() -> None:
    """No collection while a command starts: what it allocates then is not garbage."""
    gc.disable()


def settle() -> None:
    """Start-up done: what it made goes to the permanent generation, collections resume
    over what the work allocates from now on."""
    gc.freeze()
    gc.enable()
