"""The lab's PostgreSQL bootstrap module compares passwords with the stored SCRAM verifier
instead of re-setting them, so a second deployment reports no change."""

from __future__ import annotations

import importlib.util
from pathlib import Path

LIBRARY = (
    Path(__file__).resolve().parents[2]
    / "playbooks/lab/roles/lab_postgres/library/lab_pg_bootstrap.py"
)
_spec = importlib.util.spec_from_file_location("lab_pg_bootstrap", LIBRARY)
assert _spec and _spec.loader
bootstrap = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bootstrap)

# Stored by PostgreSQL 15 for the password "shop-lab-password".
VERIFIER = (
    "SCRAM-SHA-256$4096:568k1ykHFRTx/B97dZbSpQ==$uZiE22QEWgtAa9l7RCzXXolCbrFJS/HOcu82k3BPxO4="
    ":TbSebgsA8UMOihd8wIcCQ0Cgnoxdlms9+OWFzVwf3Yc="
)


def test_the_right_password_matches_the_verifier_postgres_stored() -> None:
    assert bootstrap.scram_matches(VERIFIER, "shop-lab-password")


def test_other_passwords_and_other_formats_do_not_match() -> None:
    assert not bootstrap.scram_matches(VERIFIER, "shop-lab-passwordX")
    assert not bootstrap.scram_matches(None, "shop-lab-password")
    assert not bootstrap.scram_matches("md5abcdef", "shop-lab-password")
    assert not bootstrap.scram_matches("SCRAM-SHA-256$garbage", "shop-lab-password")
