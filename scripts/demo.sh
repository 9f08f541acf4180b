#!/usr/bin/env bash
# `make demo`, after `chaosrun lab up`: run the shipped kill-one-order experiment on the lab
# (live progress on the terminal) and say where its journal and reports are.
set -euo pipefail
cd "$(dirname "$0")/.."
lab="${CHAOSRUN_LAB_NAME:-lab}"
inventory="inventories/${lab}/hosts"
experiment="experiments/kill-one-order.yml"
chaosrun=".venv/bin/chaosrun"

"$chaosrun" validate "$experiment" -i "$inventory"
"$chaosrun" plan "$experiment" -i "$inventory"
echo
set +e
"$chaosrun" run "$experiment" -i "$inventory"
rc=$?
set -e
run_dir=$(ls -td .chaosrun/runs/*/ 2>/dev/null | head -n 1)
echo
echo "demo: chaosrun run exited ${rc} (0 passed, 1 failed, 3 aborted, 4 refused, 5 rollback failed)"
if [ -n "$run_dir" ]; then
    echo "demo: journal: ${run_dir}journal.json"
    echo "demo: reports: ${run_dir}report.html ${run_dir}junit.xml"
fi
exit "$rc"
