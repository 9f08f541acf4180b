"""`chaosrun doctor`: whether this controller and a fleet have what chaosrun needs.

The controller: ansible-core within the package's requirement, ansible-playbook on PATH,
the `chaosrun.chaos` collection (where, which version), an ssh client, and Prometheus and
Alertmanager answering with the project's TLS settings and credentials. With an
inventory, every host at once over the fast path (chaosrun.hosts.hostshell, reached as Ansible
reaches it): the escalation chaosrun can reproduce (preflight's access check), root and
systemd-run (preflight's own prerequisites script), python3, systemd as PID 1, the tools
of the roles the project's experiments use (iptables or nft, tc), and the state
directory writable. Every problem is one line naming where it is and the fix.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from chaosrun.base import paths
from chaosrun.base.hostlayout import STATE_DIR
from chaosrun.hosts import collection
from chaosrun.hosts.hostshell import PARALLEL, Answer, HostShell, explain
from chaosrun.hosts.inventory import load_inventory
from chaosrun.model import config
from chaosrun.plan.planning import alertmanager_access, project_prometheus_access
from chaosrun.probes import session
from chaosrun.run.preflight import LACKING_RC, PREREQUISITES, access_problems

COLLECTION = "chaosrun.chaos"
CONTROLLER = "controller"
# Role (short name) -> the host tools it needs beyond what every role needs.
FIREWALL_ROLES = frozenset(
    {"network_latency", "network_loss", "network_partition", "dns_failure", "host_outage"}
)
TC_ROLES = frozenset({"network_latency", "network_loss", "network_bandwidth"})
# key -> (shell test that holds when the host is fine, what is wrong, the fix)
HOST_TOOLS: dict[str, tuple[str, str, str]] = {
    "python3": (
        "command -v python3",
        "no python3",
        "install python3 (Ansible's modules run with it)",
    ),
    "systemd": (
        "[ -d /run/systemd/system ]",
        "systemd is not running as PID 1",
        "the fault roles and their dead-man timers need a systemd host",
    ),
    "firewall": (
        "command -v iptables || command -v nft",
        "neither iptables nor nft",
        "install iptables (network faults tag their rules there)",
    ),
    "tc": (
        "command -v tc",
        "no tc",
        "install iproute2 (latency, loss and bandwidth faults use tc)",
    ),
}
# What preflight's prerequisites script says (chaosrun.run.preflight.PREREQUISITES) -> the fix.
PREFLIGHT_FIXES = {
    "no systemd-run": "install systemd (systemd-run arms the on-host dead-man timer)",
}


@dataclass(frozen=True)
class Check:
    where: str  # "controller" or a host name
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        if self.ok:
            return f"ok  {self.where}: {self.detail}"
        return f"{self.where}: {self.detail}" + (f"; fix: {self.fix}" if self.fix else "")


# --- the controller ---------------------------------------------------------------------


def controller_checks(inventory: Any | None) -> list[Check]:
    """Everything about this machine and the APIs it reads."""
    checks = [ansible_check(), tool_check("ansible-playbook", "install ansible-core")]
    checks.append(collection_check())
    checks.append(tool_check("ssh", "install the OpenSSH client (openssh-client)"))
    checks.extend(api_checks(inventory))
    return checks


def ansible_check() -> Check:
    from importlib.metadata import PackageNotFoundError, requires

    from ansible.release import __version__ as version
    from packaging.requirements import Requirement

    try:
        wanted = [Requirement(r) for r in requires("chaosrun") or []]
    except PackageNotFoundError:
        wanted = []
    spec = next((r.specifier for r in wanted if r.name == "ansible-core"), None)
    if spec is not None and not spec.contains(version, prereleases=True):
        return Check(
            CONTROLLER,
            "ansible",
            False,
            f"ansible-core {version} does not satisfy chaosrun's ansible-core{spec}",
            f"pip install 'ansible-core{spec}' into chaosrun's environment",
        )
    return Check(CONTROLLER, "ansible", True, f"ansible-core {version}")


def tool_check(tool: str, fix: str) -> Check:
    """On PATH as runs see it: chaosrun's own bin directory first (chaosrun.hosts.runner)."""
    import os
    import sys

    search = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    found = shutil.which(tool, path=search)
    if found is None:
        return Check(CONTROLLER, tool, False, f"{tool} not found on PATH", fix)
    return Check(CONTROLLER, tool, True, f"{tool}: {found}")


def collection_check() -> Check:
    """The copy runs use (chaosrun.hosts.collection: Ansible's paths first, then the bundled
    one)."""
    found = collection.find()
    if found is None:
        fix = "reinstall chaosrun, or put the collection on ANSIBLE_COLLECTIONS_PATH"
        return Check(CONTROLLER, "collection", False, f"{COLLECTION} not found", fix)
    if found.too_old():
        return Check(
            CONTROLLER,
            "collection",
            False,
            f"{found.describe()} is older than this chaosrun needs ({collection.REQUIRED})",
            "upgrade that copy, or remove it to use the one bundled with chaosrun",
        )
    return Check(CONTROLLER, "collection", True, f"collection {found.describe()}")


def api_checks(inventory: Any | None) -> list[Check]:
    """Prometheus (and Alertmanager when one is known) with the project's access settings."""
    cfg = config.load()
    fix = "set the variable or provide the file in the shell that runs experiments"
    checks = [Check(CONTROLLER, "secret", False, line, fix) for line in cfg.unread_secrets]
    access = project_prometheus_access(inventory, cfg)
    checks.append(ready_check("prometheus", access, cfg.prometheus_timeout_s))
    alertmanager = alertmanager_access(inventory, cfg) if inventory else cfg.alertmanager
    if alertmanager is not None:
        checks.append(ready_check("alertmanager", alertmanager, cfg.prometheus_timeout_s))
    return checks


def ready_check(name: str, access: Any, timeout: float) -> Check:
    url = f"{access.url}/-/ready"
    fix = f"check {name}'s URL, TLS (ca_file) and credentials in chaosrun.yml"
    try:
        resp = session.open_session(access).get(url, timeout=timeout)
    except requests.RequestException as exc:
        return Check(CONTROLLER, name, False, f"{name}: {session.explain(exc, access.url)}", fix)
    if resp.status_code != 200:
        return Check(
            CONTROLLER, name, False, f"{name}: {session.status_line(resp.status_code, url)}", fix
        )
    return Check(CONTROLLER, name, True, f"{name} ready at {access.url}")


# --- the hosts ----------------------------------------------------------------------------


def project_roles(root: Path | None = None) -> set[str] | None:
    """Short names of the roles the project's experiments use; None when it has none."""
    root = root or paths.project_root()
    roles = set()
    for path in sorted((root / "experiments").rglob("*.y*ml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        fault = data.get("fault") if isinstance(data, dict) else None
        role = fault.get("role") if isinstance(fault, dict) else None
        if isinstance(role, str) and role:
            roles.add(role.rsplit(".", 1)[-1])
    return roles or None


def tools_for(roles: set[str] | None) -> list[str]:
    """The host tools to check: those the roles need, all of them when roles are unknown."""
    keys = ["python3", "systemd"]
    if roles is None or roles & FIREWALL_ROLES:
        keys.append("firewall")
    if roles is None or roles & TC_ROLES:
        keys.append("tc")
    return keys


def host_script(keys: Iterable[str], state_dir: str) -> str:
    """Prints `lack KEY` per missing thing, then runs preflight's own prerequisites script
    (root, systemd-run), which exits preflight.LACKING_RC with its `missing:` line."""
    d = shlex.quote(state_dir)
    tests = [f"{{ {HOST_TOOLS[k][0]}; }} >/dev/null 2>&1 || echo 'lack {k}'" for k in keys]
    tests.append(
        f'{{ mkdir -p {d} && t={d}/.doctor-$$ && : > "$t" && rm -f "$t"; }} '
        ">/dev/null 2>&1 || echo 'lack state_dir'"
    )
    return "; ".join(['PATH="$PATH:/usr/sbin:/sbin"', *tests, PREREQUISITES])


def read_answer(host: str, rc: int, out: str, state_dir: str) -> list[Check]:
    """The host's checks from its answer to host_script."""
    if rc not in (0, LACKING_RC):
        fix = "make `ansible HOST -m ping` work with the same inventory, then retry"
        return [Check(host, "reach", False, f"not reachable over SSH: {explain(out)}", fix)]
    checks = []
    for line in out.splitlines():
        if line.startswith("lack "):
            key = line.split()[1]
            if key == "state_dir":
                detail = f"state directory {state_dir} is not writable as the become user"
                checks.append(Check(host, key, False, detail, "check become and the filesystem"))
            elif key in HOST_TOOLS:
                _, what, fix = HOST_TOOLS[key]
                checks.append(Check(host, key, False, what, fix))
        elif line.startswith("missing:"):
            for item in filter(None, (i.strip() for i in line[8:].split(";"))):
                checks.append(
                    Check(host, "prerequisite", False, item, PREFLIGHT_FIXES.get(item, ""))
                )
    if not checks:
        checks.append(Check(host, "host", True, "reachable; every prerequisite holds"))
    return checks


def host_checks(inventory: Any, pattern: str = "all", timeout: float = 60.0) -> list[Check]:
    """Every host matching `pattern`, in parallel over the fast path."""
    names = inventory.match(pattern)
    infos = [inventory.host_info(n) for n in names]
    keys = tools_for(project_roles())
    shell = HostShell(infos, persist=30, shells=False)
    try:
        fix = "chaosrun needs passwordless sudo (NOPASSWD) for the become user"
        checks = [Check(h, "become", False, why, fix) for h, why in access_problems(shell).items()]
        unfit = {c.where for c in checks}
        dirs = {n: str(inventory.host_vars(n).get("chaos_state_dir") or STATE_DIR) for n in names}
        scripts = {n: host_script(keys, dirs[n]) for n in names if n not in unfit}
        answers = shell.run_all(scripts, timeout)
    finally:
        shell.close()
    answers.update(_retry_unanswered(answers, scripts, infos, timeout))
    for name in names:
        if name in answers:
            answer = answers[name]
            checks.extend(read_answer(name, answer.rc, answer.out, dirs[name]))
    return checks


def _retry_unanswered(answers: dict, scripts: dict[str, str], infos: list, timeout: float):
    """One more try for hosts whose shell never came up, each over a plain ssh connection
    of its own: a busy controller or host drops a shared (ControlMaster) connection now
    and then, which is not a missing prerequisite. A host that fails twice is reported."""
    again = [n for n in scripts if answers[n].rc not in (0, LACKING_RC)]
    if not again:
        return {}
    shell = HostShell([i for i in infos if i.name in again], persist=30, shells=False)

    def plain(name: str) -> Answer:
        unshared = {"ControlMaster=auto": "ControlMaster=no"}
        argv = [unshared.get(a, a) for a in shell.argv(name)]
        argv = ["ControlPath=none" if a.startswith("ControlPath=") else a for a in argv]
        command = shell.remote(name, "/bin/sh -c " + shlex.quote(scripts[name]))
        try:
            proc = subprocess.run(
                [*argv, "--", command],
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return Answer(-1, f"no answer within {timeout:g}s", timeout, "ssh")
        return Answer(proc.returncode, (proc.stdout + proc.stderr).strip(), 0.0, "ssh")

    with ThreadPoolExecutor(max_workers=min(len(again), PARALLEL)) as pool:
        return dict(zip(again, pool.map(plain, again), strict=True))


def diagnose(
    inventory_path: Path | None,
    load: Callable[[str], Any] | None = None,
    limit: str = "all",
) -> list[Check]:
    """The controller's checks, then those of each host matching `limit` when an
    inventory is given."""
    inventory = None
    if inventory_path is not None:
        inventory = (load or load_inventory)(str(inventory_path.resolve()))
    checks = controller_checks(inventory)
    if inventory is not None:
        checks.extend(host_checks(inventory, limit))
    return checks


def as_json(checks: list[Check]) -> dict[str, Any]:
    problems = [c for c in checks if not c.ok]
    return {
        "ok": not problems,
        "problems": [c.line() for c in problems],
        "checks": [asdict(c) for c in checks],
    }


def summary(checks: list[Check], hosts_checked: bool) -> str:
    """The last line: how many problems and where (the controller, which share of the
    hosts, or both), or that all is good where doctor looked."""
    hosts = {c.where for c in checks} - {CONTROLLER}
    mine = sum(1 for c in checks if not c.ok and c.where == CONTROLLER)
    theirs = [c.where for c in checks if not c.ok and c.where != CONTROLLER]
    share = f"{len(set(theirs))} of {len(hosts)} host(s)"
    if not hosts_checked:
        return f"{mine} problem(s) on the controller" if mine else "all good on the controller"
    if not mine and not theirs:
        return f"all good on the controller and {len(hosts)} host(s)"
    if not theirs:
        return f"{mine} problem(s) on the controller; all {len(hosts)} host(s) good"
    if not mine:
        return f"{len(theirs)} problem(s) on {share}; the controller is good"
    return f"{mine + len(theirs)} problem(s): {mine} on the controller, {len(theirs)} on {share}"
