"""The run journal (docs/journal.md): one JSON file, rewritten atomically as the run goes.

Every write goes through the run's Redactor, so secrets never reach the file.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import getpass
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

from chaosrun.base import filemodes, liveness
from chaosrun.base.secrets import Redactor

SCHEMA = 1


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


class Journal:
    """The journal of one run; `save()` after every change that matters."""

    def __init__(self, run_dir: Path, run_id: str, redactor: Redactor, kind: str = "run"):
        self.path = run_dir / "journal.json"
        self.redactor = redactor
        self._lock = threading.Lock()
        self.data: dict[str, Any] = {
            "schema": SCHEMA,
            "run_id": run_id,
            "kind": kind,
            "experiment": {},
            "overrides": {},
            "status": "running",
            "exit_code": None,
            "started_at": now_iso(),
            "ended_at": None,
            # pid, its start time and the boot id: `crashed` once they no longer match.
            "controller": {"user": _user(), "host": socket.gethostname(), **liveness.identity()},
            "inventory": None,
            "targets": {"pattern": None, "matched": [], "selected": []},
            "fault": {},
            "phases": [],
            "probes": [],
            "abort": None,
            "rollback": None,
            "recovery": None,
            "steps": [],
        }
        self._probes: dict[tuple[str, str], dict[str, Any]] = {}
        # Why the journal could not be written (a full disk), from the first failure on:
        # the run goes on (its rollback must never wait on its record) and says so at its end.
        self.unsaved: str | None = None

    def set(self, **fields: Any) -> None:
        with self._lock:
            self.data.update(fields)
        self.save()

    def update(self, key: str, **fields: Any) -> None:
        """Merge `fields` into the mapping under `key` (a mode's own block, as `runbook`)."""
        with self._lock:
            self.data[key] = {**(self.data.get(key) or {}), **fields}
        self.save()

    def get(self, key: str) -> Any:
        """A copy of one top-level entry, safe from the writers on other threads."""
        with self._lock:
            return copy.deepcopy(self.data.get(key))

    def snapshot(self) -> dict[str, Any]:
        """A copy of the whole journal as it stands, for what computes from it (the
        cascade, the impact) while sampling threads may still append."""
        with self._lock:
            return copy.deepcopy(self.data)

    def add_step(self, entry: dict[str, Any]) -> None:
        """One step of a drill's runbook, in the order they ran."""
        with self._lock:
            self.data["steps"].append(dict(entry))
        self.save()

    def set_baselines(self, values: dict[str, float]) -> None:
        """Each probe's baseline by name: reports draw relative limits from it."""
        with self._lock:
            for entry in self.data["probes"]:
                if values.get(entry["name"]) is not None:
                    entry["baseline"] = values[entry["name"]]
        self.save()

    def phase_start(self, name: str) -> dict[str, Any]:
        entry = {
            "name": name,
            "started_at": now_iso(),
            "ended_at": None,
            "outcome": "running",
            "hosts": {},
            "detail": "",
        }
        with self._lock:
            self.data["phases"].append(entry)
        self.save()
        return entry

    def phase_end(self, entry: dict[str, Any], outcome: str, detail: str = "", hosts=None) -> None:
        with self._lock:
            entry.update(ended_at=now_iso(), outcome=outcome, detail=detail)
            if hosts is not None:
                entry["hosts"] = dict(hosts)
        self.save()

    def probe(self, name: str, kind: str, role: str, threshold: dict, query: str) -> None:
        """Declare a probe and its role, once; its samples follow with `sample`."""
        with self._lock:
            if (role, name) in self._probes:
                return
            entry = {
                "name": name,
                "kind": kind,
                "role": role,
                "threshold": threshold,
                "query": query,
                "samples": [],
            }
            self._probes[(role, name)] = entry
            # Observe-only probes (chaosrun.run.observe) are kept apart: they judge nothing.
            key = "observations" if role == "observe" else "probes"
            self.data.setdefault(key, []).append(entry)

    def sample(
        self,
        role: str,
        name: str,
        phase: str,
        verdict: str,
        value,
        evidence: str,
        at: str | None = None,
    ) -> None:
        """One probe sample; `at` is when it was measured (default: now)."""
        with self._lock:
            self._probes[(role, name)]["samples"].append(
                {
                    "at": at or now_iso(),
                    "phase": phase,
                    "value": value,
                    "verdict": verdict,
                    "evidence": evidence,
                }
            )

    def save(self) -> None:
        """Write to a temporary file and rename it over the journal (atomic on POSIX).
        A failed write leaves the last good copy in place and is noted in `unsaved`, never
        raised: the engine writes the journal on its way to the rollback."""
        with self._lock:
            text = json.dumps(self.redactor.data(self.data), indent=2, default=str)
            tmp = self.path.with_name(f".journal.{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                filemodes.group_dirs(self.path.parent)
                with open(tmp, "w", encoding="utf-8") as fh:
                    filemodes.group_file(fh.fileno())
                    fh.write(text + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except OSError as exc:
                self.unsaved = self.unsaved or str(exc)
                with contextlib.suppress(OSError):
                    tmp.unlink()


def amend(path: Path, **fields: Any) -> bool:
    """Add top-level entries to a finished run's journal file, atomically (a ramp names
    the largest step absorbed in every step's journal once the last step ended). False
    when the file is missing or not a journal."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    data.update(fields)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.amend")
    with open(tmp, "w", encoding="utf-8") as fh:
        filemodes.group_file(fh.fileno())
        fh.write(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return True
