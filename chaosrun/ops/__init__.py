"""Operator tools beside runs: fleet status, recover and abort, doctor, scaffolding."""
