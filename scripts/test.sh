#!/usr/bin/env bash
# The test tiers of `make test`, after set-up and lint: unit tests first (fast, no hosts),
# then the molecule scenarios and the lab tests side by side. Both spend most of their time
# waiting on SSH and systemd, and they use separate containers, so running them together
# saves a quarter of an hour; molecule takes one scenario at a time to leave the lab room.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p test-artifacts

pytest tests/unit -q -p no:cacheprovider || exit 1

MOLECULE_JOBS=${MOLECULE_JOBS:-1} scripts/molecule.sh > test-artifacts/molecule.out 2>&1 &
molecule_pid=$!

pytest tests/integration tests/e2e -q -rfE -p no:cacheprovider -m "not unverified"
lab_rc=$?

wait "$molecule_pid"
molecule_rc=$?
echo "== molecule scenarios (full logs: test-artifacts/molecule/)"
cat test-artifacts/molecule.out

if [ "$lab_rc" -ne 0 ] || [ "$molecule_rc" -ne 0 ]; then
  echo "make test: FAILED (lab tests exit $lab_rc, molecule exit $molecule_rc)" >&2
  exit 1
fi
echo "make test: every tier passed"
