#!/usr/bin/env bash
# The test tiers of `make test`, after set-up and lint: unit tests (fast, no hosts), the lab
# tests (one lab for the whole session), then the molecule scenarios. The tiers run one
# after another on purpose: several fault-effect tests read machine-wide figures (busy
# cores, available memory) that a molecule scenario running beside them would move.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p test-artifacts

# Two workers: the unit tests (the project's and the collection's own) are independent and the fast tier should stay under a minute.
pytest tests/unit collections/ansible_collections/chaosrun/chaos/tests/unit -q -n 2 -p no:cacheprovider || exit 1
pytest tests/integration tests/e2e -q -rfE -p no:cacheprovider -m "not unverified" --durations=15 || exit 1
MOLECULE_JOBS=${MOLECULE_JOBS:-2} scripts/molecule.sh || exit 1
echo "make test: every tier passed"
