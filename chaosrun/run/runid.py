"""A run's id: when it started (UTC), what it runs, and four random hex digits."""

from __future__ import annotations

import datetime as dt
import secrets


def make_run_id(stem: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    slug = "".join(c if c.isalnum() else "-" for c in stem.lower()).strip("-")[:40] or "run"
    return f"{stamp}-{slug}-{secrets.token_hex(2)}"
