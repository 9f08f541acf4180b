"""Benchmark: how long `chaosrun lab up` takes, measured in one run, printed with its target.

- lab up with the image cached, 6 hosts (1 order-service host), including the deployment
  of the lab system and waiting for every Prometheus target: target < 90 s;
- lab up again (nothing to change) and lab down;
- the first build of the host image (mmdebstrap + podman import, into a throwaway tag that
  is removed afterwards; skip with --skip-build): target < 4 min for build + up.

Runs its own lab (name `bench`, subnet 10.213.240.0/24, ports from 19790; override with
CHAOSRUN_BENCH_LAB_NAME / _SUBNET / _PORT_BASE) so it never touches another lab. As root.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from chaosrun.lab import image, podman

PROJECT = Path(__file__).resolve().parents[1]

UP_TARGET_S = 90.0
FIRST_TARGET_S = 240.0


def lab_env() -> dict[str, str]:
    return {
        **os.environ,
        "CHAOSRUN_LAB_NAME": os.environ.get("CHAOSRUN_BENCH_LAB_NAME", "bench"),
        "CHAOSRUN_LAB_SUBNET": os.environ.get("CHAOSRUN_BENCH_LAB_SUBNET", "10.213.240.0/24"),
        "CHAOSRUN_LAB_PORT_BASE": os.environ.get("CHAOSRUN_BENCH_LAB_PORT_BASE", "19790"),
        "CHAOSRUN_LAB_HOSTS": "1",
        "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(PROJECT / "etc/containers.conf")),
    }


def timed_lab(*args: str, check: bool = True) -> float | None:
    """Seconds `chaosrun lab ARGS` took; None (and its error printed) if it failed."""
    begin = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "chaosrun", "lab", *args],
        env=lab_env(),
        cwd=PROJECT,
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - begin
    if check and done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-6:]
        print(f"chaosrun lab {' '.join(args)} failed after {seconds:.1f} s:", *last, sep="\n  ")
        return None
    return seconds


def timed_build() -> float:
    """Build the image as a first run would, into a throwaway tag."""
    ref = f"{image.IMAGE_NAME}-bench:{image.recipe_hash()}"
    image.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    begin = time.monotonic()
    try:
        image._build(ref)
        return time.monotonic() - begin
    finally:
        podman.run(["rmi", "-f", ref], check=False)


def line(label: str, seconds: float | None, target: float | None = None) -> None:
    if seconds is None:
        print(f"{label:<44}  failed (see above)", flush=True)
        return
    extra = f"  (target < {target:.0f} s, ratio {seconds / target:.2f})" if target else ""
    print(f"{label:<44} {seconds:7.1f} s{extra}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-build", action="store_true", help="do not time an image build")
    args = parser.parse_args()
    image.ensure_image(lambda msg: print(msg, flush=True))
    timed_lab("down", check=False)  # start from nothing
    bare = timed_lab("up", "--no-provision")
    line("lab up, 6 hosts + monitoring, no deployment", bare)
    timed_lab("down")
    up = timed_lab("up")
    line("lab up, 6 hosts, image cached, deployed", up, UP_TARGET_S)
    line("lab up again (nothing to change)", timed_lab("up"))
    line("lab down", timed_lab("down"))
    if not args.skip_build:
        build = timed_build()
        line("image build (mmdebstrap + import)", build)
        line("first lab up (build + up, this run)", build + (up or bare or 0.0), FIRST_TARGET_S)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
