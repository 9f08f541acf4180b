#!/usr/bin/env bash
# Run the molecule scenarios (one per fault role, molecule/<role>/) on podman systemd hosts.
# Usage: scripts/molecule.sh [SCENARIO...]   (default: every scenario)
# MOLECULE_JOBS (default 2) scenarios run at once: each spends most of its time waiting on
# SSH and systemd, not on the CPU. Logs go to test-artifacts/molecule/<scenario>.log.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/.venv/bin:$PATH"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/etc/containers.conf}"
export ANSIBLE_NOCOLOR=1 NO_COLOR=1 PY_COLORS=0
jobs=${MOLECULE_JOBS:-2}
logs=$root/test-artifacts/molecule
mkdir -p "$logs"

if [ $# -gt 0 ]; then
  scenarios=("$@")
else
  scenarios=()
  for file in molecule/*/molecule.yml; do
    scenarios+=("$(basename "$(dirname "$file")")")
  done
fi
[ ${#scenarios[@]} -gt 0 ] || { echo "molecule: no scenarios found" >&2; exit 1; }

run_one() {
  local name=$1 start end rc
  start=$(date +%s)
  molecule test -s "$name" > "$logs/$name.log" 2>&1
  rc=$?
  end=$(date +%s)
  echo "$rc $((end - start))" > "$logs/$name.result"
}

echo "molecule: ${#scenarios[@]} scenarios, $jobs at a time: ${scenarios[*]}"
running=0
for name in "${scenarios[@]}"; do
  rm -f "$logs/$name.result"
  run_one "$name" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

failed=()
for name in "${scenarios[@]}"; do
  read -r rc secs < "$logs/$name.result" 2>/dev/null || { rc=1; secs=?; }
  if [ "$rc" = 0 ]; then
    echo "molecule: $name passed in ${secs}s"
  else
    failed+=("$name")
    echo "molecule: $name FAILED in ${secs}s (log: test-artifacts/molecule/$name.log); its end:"
    grep -v '^\s*│\?\s*$' "$logs/$name.log" | grep -B2 -A12 'fatal:\|FAILED!' | tail -n 40
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "molecule: failed: ${failed[*]}" >&2
  exit 1
fi
echo "molecule: all ${#scenarios[@]} scenarios passed"
