#!/usr/bin/env bash
# `make ee`: build the execution environment for AWX from Debian packages, with nothing
# from a container registry:
#   1. a base image: a Debian root filesystem made by mmdebstrap (Python 3.11, pip,
#      the OpenSSH client), imported into podman;
#   2. a wheelhouse: chaosrun built from this checkout and every Python package the
#      build installs, fetched here with this machine's pip settings (index, CA);
#   3. `ansible-builder build` of execution-environment.yml on that base, with podman;
#      pip inside the build installs from the wheelhouse only, with no network.
# Both images are cached by a hash of what shapes them; a second `make ee` only prints
# the image's name. The last line of output is always the image reference.
#   EE_IMAGE_NAME  name of the image (default localhost/chaosrun-ee)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
SUITE=bookworm
BASE_NAME=localhost/chaosrun-ee-base
EE_NAME=${EE_IMAGE_NAME:-localhost/chaosrun-ee}
PACKAGES=python3,python3-pip,python3-venv,openssh-client,ca-certificates,procps
# Debian marks its Python as managed by apt; this image is the EE's own, so pip owns it.
HOOK='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED; rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin'

die() { echo "ee: $*" >&2; exit 1; }
exists() { podman image exists "$1"; }

base_hash=$(printf '%s\0' "$SUITE" "$PACKAGES" "$HOOK" | sha256sum | cut -c1-12)
base_ref=$BASE_NAME:$base_hash
if ! exists "$base_ref"; then
  command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (Debian package: mmdebstrap)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  sources=(/etc/apt/sources.list.d/*.sources)
  [ -s /etc/apt/sources.list ] && sources+=(/etc/apt/sources.list)
  [ -e "${sources[0]}" ] || die "no apt sources on this machine to build the base image from"
  echo "ee: building base image $base_ref with mmdebstrap" >&2
  mmdebstrap --variant=apt --quiet --include="$PACKAGES" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook="$HOOK" "$SUITE" "$tmp/rootfs.tar" "${sources[@]}" </dev/null
  podman import --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' \
    "$tmp/rootfs.tar" "$base_ref" >/dev/null
fi

# The EE's own hash: its base, its definition and every file that goes into it.
ee_hash=$(
  {
    echo "$base_ref"
    find execution-environment.yml pyproject.toml setup.py MANIFEST.in README.md chaosrun \
      collections/ansible_collections/chaosrun/chaos playbooks/fault.yml playbooks/experiment.yml \
      -type f -not -path '*/__pycache__/*' -not -path '*/tests/output/*' -print0 |
      sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-12
)
ee_ref=$EE_NAME:$ee_hash
if ! exists "$ee_ref"; then
  echo "ee: building $ee_ref with ansible-builder on $base_ref" >&2
  rm -rf build/ee && mkdir -p build/ee/wheels
  # ansible-core and ansible-runner as execution-environment.yml pins them, and what
  # ansible-builder's own steps install (bindep, pyyaml, packaging, dumb-init).
  mapfile -t pins < <("$BIN/python" -c '
import yaml
deps = yaml.safe_load(open("execution-environment.yml"))["dependencies"]
print(deps["ansible_core"]["package_pip"]); print(deps["ansible_runner"]["package_pip"])')
  "$BIN/pip" wheel --quiet -w build/ee/wheels . "${pins[@]}" \
    bindep pyyaml packaging dumb-init==1.2.5 >&2
  "$BIN/ansible-builder" build -f execution-environment.yml -c build/ee/context \
    --container-runtime podman --build-arg EE_BASE_IMAGE="$base_ref" \
    -t "$ee_ref" -v 2 >&2
fi
echo "$ee_ref"
