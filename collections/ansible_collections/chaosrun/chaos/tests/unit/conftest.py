"""Make the collection importable as ansible_collections.chaosrun.chaos when these tests run
under plain pytest from the project (ansible-test units already does so)."""

from __future__ import annotations

import sys
from pathlib import Path

# tests/unit -> the collection -> chaosrun -> ansible_collections -> the collections root
COLLECTIONS_ROOT = str(Path(__file__).resolve().parents[5])
if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)
