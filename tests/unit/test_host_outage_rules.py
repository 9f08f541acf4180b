"""host_outage's firewall commands, run for real with iptables in a private network
namespace: the tagged rules go above the host's own, the revert deletes exactly them."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest

TEMPLATES = (
    Path(__file__).resolve().parents[2]
    / "collections/ansible_collections/chaosrun/chaos/roles/host_outage/templates"
)
TAG = "chaosrun:run-1:host_outage"

pytestmark = pytest.mark.skipif(
    not (shutil.which("unshare") and shutil.which("iptables")), reason="needs unshare, iptables"
)


def render(name: str, keep: list[str]) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES))
    env.filters["quote"] = lambda value: shlex.quote(str(value))
    return env.get_template(name).render(
        host_outage_services=[], __host_outage_tag=TAG, __host_outage_keep=keep,
        __host_outage_units=[],
    )  # fmt: skip


def in_netns(script: str) -> str:
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0 and "unshare failed" in proc.stderr:
        pytest.skip(f"cannot create a network namespace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_rules_keep_the_controller_sit_above_the_host_rules_and_revert_exactly() -> None:
    apply, revert = render("apply.sh.j2", ["10.0.0.1"]), render("revert.sh.j2", ["10.0.0.1"])
    out = in_netns(
        "set -e\niptables -A INPUT -s 192.0.2.9/32 -j ACCEPT\n"
        f"{apply}\necho '== applied'\niptables -S INPUT\niptables -S OUTPUT\n"
        f"{revert}\n{revert}\necho '== reverted'\niptables -S\n"
    )
    applied, reverted = out.split("== applied\n")[1].split("== reverted\n")
    lines = [line for line in applied.splitlines() if line.startswith("-A ")]
    tagged = f'-m comment --comment "{TAG}"'
    assert lines[:4] == [
        f"-A INPUT -i lo {tagged} -j ACCEPT",
        f"-A INPUT -s 10.0.0.1/32 {tagged} -j ACCEPT",
        f"-A INPUT {tagged} -j DROP",
        "-A INPUT -s 192.0.2.9/32 -j ACCEPT",
    ]
    assert f"-A OUTPUT -d 10.0.0.1/32 {tagged} -j ACCEPT" in lines
    assert f"-A OUTPUT {tagged} -j DROP" in lines
    assert [line for line in reverted.splitlines() if line.startswith("-A ")] == [
        "-A INPUT -s 192.0.2.9/32 -j ACCEPT"
    ]


def test_another_runs_rules_survive_the_revert() -> None:
    revert = render("revert.sh.j2", [])
    other = "chaosrun:run-10:host_outage"  # "run-1" is a prefix of "run-10"
    out = in_netns(
        f"set -e\niptables -A INPUT -j DROP -m comment --comment {other}\n{revert}\niptables -S\n"
    )
    assert f'--comment "{other}"' in out
