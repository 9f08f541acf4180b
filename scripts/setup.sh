#!/usr/bin/env bash
# Install what chaosrun needs on a Debian/Ubuntu machine, as root. Idempotent and quick
# (a few seconds) when nothing is missing: packages are checked with dpkg, the venv is
# rebuilt only when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  podman runc mmdebstrap uidmap iptables iproute2 openssh-client
  prometheus prometheus-alertmanager
  chromium
  python3-venv
  cron
)

die() { echo "setup: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (the lab runs rootful podman and binds the lab subnet)"

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
stamp=.venv/.chaosrun-setup
want=$(cat pyproject.toml requirements-dev.txt 2>/dev/null | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: preparing the Python environment in .venv"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
# An installed chaosrun (pipx) carries its modules compiled; this editable checkout would
# compile them on every start where the environment forbids writing bytecode
# (PYTHONDONTWRITEBYTECODE), so commands and benches here start as an installed one does.
# A module edited later is compiled again in memory until the next setup.
.venv/bin/python -m compileall -q chaosrun >/dev/null
echo "setup: ok"
