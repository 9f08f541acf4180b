#!/usr/bin/env bash
# Run the molecule scenarios (one per fault role, molecule/<role>/) on podman systemd hosts.
# Usage: scripts/molecule.sh [SCENARIO...]   (default: every scenario, then `scaffold`)
# The pseudo-scenario `scaffold` checks `chaosrun new fault` as a user would use it: it
# scaffolds a role into a throwaway copy of the project, lints it with ansible-lint's
# production profile and runs its molecule scenario unchanged.
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
  # Scenarios listed in tests/unverified.txt (as molecule/<name>) have not yet been seen
  # passing; they run only when named, e.g. by `make test-unverified`.
  scenarios=()
  for file in molecule/*/molecule.yml; do
    name=$(basename "$(dirname "$file")")
    if grep -qx "molecule/$name" tests/unverified.txt 2>/dev/null; then
      echo "molecule: $name is listed in tests/unverified.txt; not run"
      continue
    fi
    scenarios+=("$name")
  done
  scenarios+=(scaffold)
fi
[ ${#scenarios[@]} -gt 0 ] || { echo "molecule: no scenarios found" >&2; exit 1; }

scaffold_check() {
  local tmp rc
  tmp=$(mktemp -d /tmp/chaosrun-scaffold.XXXXXX)
  mkdir -p "$tmp/collections/ansible_collections/chaosrun" "$tmp/molecule"
  cp -r "$root/collections/ansible_collections/chaosrun/chaos" "$tmp/collections/ansible_collections/chaosrun/"
  rm -rf "$tmp/collections/ansible_collections/chaosrun/chaos/tests/output"
  ln -s "$root/molecule/shared" "$tmp/molecule/shared"
  ln -s "$root/.venv" "$tmp/.venv"
  cp "$root/ansible.cfg" "$root/.ansible-lint" "$tmp/"
  (
    set -e
    cd "$tmp"
    # Pin every lookup to the copy: a collection path, config or project directory
    # inherited from the caller would find the project's own chaosrun.chaos, which has
    # no scaffold_check role.
    unset ANSIBLE_CONFIG VIRTUAL_ENV
    export ANSIBLE_COLLECTIONS_PATH="$tmp/collections" MOLECULE_PROJECT_DIRECTORY="$tmp"
    chaosrun new fault scaffold_check --project "$tmp"
    echo "== ansible-lint of the scaffolded role and scenario"
    ANSIBLE_CONFIG="$tmp/ansible.cfg" ansible-lint \
      collections/ansible_collections/chaosrun/chaos/roles/scaffold_check molecule/scaffold_check
    echo "== ansible-doc of the scaffolded role"
    ANSIBLE_CONFIG="$tmp/ansible.cfg" ansible-doc -t role chaosrun.chaos.scaffold_check | grep 'ENTRY POINT'
    echo "== where ansible finds the collection"
    ansible-galaxy collection list chaosrun.chaos
    echo "== molecule test of the scaffolded scenario"
    molecule test -s scaffold_check
  )
  rc=$?
  rm -rf "$tmp"
  return $rc
}

run_one() {
  local name=$1 start end rc
  start=$(date +%s)
  if [ "$name" = scaffold ]; then
    scaffold_check > "$logs/$name.log" 2>&1
  else
    molecule test -s "$name" > "$logs/$name.log" 2>&1
  fi
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
