"""Field checks that collect problems with their file, line and dotted field name."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from chaosrun.base import secrets
from chaosrun.base.durations import parse_duration
from chaosrun.base.errors import InvalidInput
from chaosrun.base.yamlpos import Positions, VaultValue

MAX_SHOWN = 20
T = TypeVar("T")


def field_name(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(document)"


def place(file: Path, positions: Positions, overridden: Iterable[str], path: tuple) -> str:
    """`file:line` of a field, or `file (--set key)` when an override supplied it."""
    key = override_of(overridden, path)
    return f"{file} (--set {key})" if key else f"{file}:{positions.line(path)}"


def override_of(overridden: Iterable[str], path: tuple) -> str | None:
    """The `--set` key that supplied the field at `path`, if one did."""
    dotted = ".".join(str(p) for p in path)
    for key in overridden:
        if dotted == key or dotted.startswith(key + "."):
            return key
    return None


class Checker:
    """Collects problems; `raise_if_errors` turns them into one InvalidInput."""

    def __init__(self, file: Path, positions: Positions, overridden: set[str] | None = None):
        self.file = file
        self.positions = positions
        self.overridden = overridden or set()
        self.errors: list[str] = []
        # Those of `errors` an override caused by loosening (chaosrun.model.tighten's rule).
        self.loosened: list[str] = []
        # A list: secrets that cannot be read now go here, not to `errors` (chaosrun.yml's,
        # so commands that send no secret work from a shell without them).
        self.unread: list[str] | None = None
        # (where, variable) of every secret read from an environment variable.
        self.env_reads: list[tuple[str, str]] = []

    def where(self, path: tuple) -> str:
        return place(self.file, self.positions, self.overridden, path)

    def err(self, path: tuple, message: str) -> None:
        self.errors.append(f"{self.where(path)}: {field_name(path)}: {message}")

    def secret_err(self, path: tuple, message: str) -> None:
        """A secret that cannot be read now (its variable not set, its file not there)."""
        self.err(path, message)
        if self.unread is not None:
            self.unread.append(self.errors.pop())

    def reads_env(self, path: tuple, variable: str) -> None:
        """A secret comes from this environment variable (a scheduled slot lacks it, and
        the plays chaosrun starts are not handed it: chaosrun.base.secrets)."""
        self.env_reads.append((self.place_of(path), variable))
        secrets.note_secret_env(variable)

    def place_of(self, path: tuple) -> str:
        """`file:line: field` as an error about the field begins."""
        return f"{self.where(path)}: {field_name(path)}"

    def problems(self) -> int:
        """How many problems were reported, unread secrets included."""
        return len(self.errors) + len(self.unread or ())

    def locate(self, path: tuple) -> str:
        """`file:line: a.b.0` for a field: where a loaded value says it came from."""
        dotted = ".".join(str(p) for p in path)
        return f"{self.where(path)}: {dotted}" if dotted else self.where(path)

    def flag(self, value: Any, path: tuple) -> bool | None:
        if not isinstance(value, bool):
            self.err(path, f"must be true or false, got {self.kind(value)}")
            return None
        return value

    def raise_if_errors(self) -> None:
        if self.errors:
            shown = self.errors[:MAX_SHOWN]
            more = len(self.errors) - len(shown)
            text = "\n".join(shown) + (f"\n(and {more} more problems)" if more > 0 else "")
            raise InvalidInput(text)

    @staticmethod
    def kind(value: Any) -> str:
        if value is None:
            return "nothing"
        if isinstance(value, VaultValue):
            return "a vault value"
        return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
            type(value), "a number" if isinstance(value, int | float) else type(value).__name__
        )

    def collect(self, check: Callable[[], T]) -> T:
        """The result of `check()`, raising InvalidInput with every problem it found."""
        result = check()
        self.raise_if_errors()
        return result

    def mapping(
        self,
        value: Any,
        path: tuple,
        required: set[str],
        optional: set[str] | None,
        hint: str = "",
    ) -> dict[str, Any] | None:
        """Check a mapping's keys; `optional=None` allows any key."""
        if not isinstance(value, dict):
            extra = f" {hint}" if hint else ""
            self.err(path, f"expected a mapping{extra}, got {self.kind(value)}")
            return None
        if optional is not None:
            allowed = required | optional
            for key in value:
                if key not in allowed:
                    known = ", ".join(sorted(allowed))
                    self.err((*path, key), f"unknown key {key!r} (allowed: {known})")
        for key in sorted(required - value.keys()):
            self.err(path, f"missing required key {key!r}")
        return value

    def string(self, value: Any, path: tuple, empty_ok: bool = False) -> str | None:
        if not isinstance(value, str):
            self.err(path, f"expected a string, got {self.kind(value)}")
            return None
        if not empty_ok and not value.strip():
            self.err(path, "must not be empty")
            return None
        return value

    def string_list(self, value: Any, path: tuple) -> list[str] | None:
        if not isinstance(value, list):
            self.err(path, f"expected a list of strings, got {self.kind(value)}")
            return None
        ok = True
        for i, item in enumerate(value):
            ok = self.string(item, (*path, i)) is not None and ok
        return list(value) if ok else None

    def choice(self, value: Any, path: tuple, choices: Iterable[str]) -> str | None:
        options = tuple(choices)
        if not isinstance(value, str) or value not in options:
            self.err(path, f"expected one of {', '.join(options)}, got {value!r}")
            return None
        return value

    def number(
        self, value: Any, path: tuple, minimum: float | None = None, maximum: float | None = None
    ) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.err(path, f"expected a number, got {self.kind(value)}")
            return None
        if math.isnan(value) or math.isinf(value):
            self.err(path, f"expected a finite number, got {value}")
            return None
        if minimum is not None and value < minimum:
            self.err(path, f"must be at least {minimum:g}, got {value:g}")
            return None
        if maximum is not None and value > maximum:
            self.err(path, f"must be at most {maximum:g}, got {value:g}")
            return None
        return float(value)

    def integer(
        self, value: Any, path: tuple, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(path, f"expected a whole number, got {self.kind(value)}")
            return None
        if self.number(value, path, minimum, maximum) is None:
            return None
        return value

    def duration(self, value: Any, path: tuple, minimum: float = 0.0) -> float | None:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.err(path, str(exc))
            return None
        if seconds < minimum:
            self.err(path, f"must be at least {minimum:g}s")
            return None
        if seconds > 7 * 86400:
            self.err(path, "must be at most 7 days")
            return None
        return seconds

    def regex(self, value: Any, path: tuple) -> str | None:
        text = self.string(value, path)
        if text is None:
            return None
        try:
            re.compile(text)
        except re.error as exc:
            self.err(path, f"not a valid regular expression: {exc}")
            return None
        return text


class LocateChecker(Checker):
    """A Checker for a caller that names places itself: `locate(path)` gives the
    "where: field" text (an experiment's field, a command-line option)."""

    def __init__(self, locate: Callable[[tuple], str]):
        super().__init__(Path(), Positions())
        self._locate = locate

    def where(self, path: tuple) -> str:
        return self._locate(path)

    def locate(self, path: tuple) -> str:
        return self._locate(path)

    def err(self, path: tuple, message: str) -> None:
        self.errors.append(f"{self._locate(path)}: {message}")

    def place_of(self, path: tuple) -> str:
        return self._locate(path)
