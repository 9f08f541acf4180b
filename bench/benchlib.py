"""Shared pieces of the speed benchmarks: the lab they run on, load, statistics, a
throwaway chaosrun configuration, and the engine's own phases run through ansible-runner."""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from chaosrun.base.hostlayout import STATE_DIR
from chaosrun.hosts import runner
from chaosrun.lab.topology import LabConfig
from chaosrun.model.audit import controller_id

PROJECT = Path(__file__).resolve().parents[1]
# The unit the benchmarks hit, and its Prometheus job. node_exporter runs on every lab host
# from boot, before the lab system is deployed: CHAOSRUN_BENCH_UNIT=
# prometheus-node-exporter.service CHAOSRUN_BENCH_JOB=node.
UNIT = os.environ.get("CHAOSRUN_BENCH_UNIT", "order-service.service")
JOB = os.environ.get("CHAOSRUN_BENCH_JOB", "order_service")
KILL_VARS = {"process_kill_unit": UNIT, "process_kill_signal": "KILL"}


# `chaosrun ARGS` from the checkout named first: its package, not the editable install's.
LAUNCH = """import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f)]
sys.path.insert(0, sys.argv.pop(1))
from chaosrun.cli import main
sys.argv[0] = "chaosrun"
main()
"""


def chaosrun_from(root: str | Path) -> list[str]:
    """The command line that starts `chaosrun` from the checkout at `root` (this one or a
    baseline's), both through the same launcher, so the two sides start alike."""
    return [sys.executable, "-c", LAUNCH, str(root)]


def checkout_env(env: dict[str, str], root: str | Path) -> dict[str, str]:
    """`env` for a `chaosrun` of the checkout at `root`: Ansible reads that checkout's
    ansible.cfg, so its plays run its own collection, not this checkout's."""
    config = Path(root) / "ansible.cfg"
    return {**env, "ANSIBLE_CONFIG": str(config)} if config.exists() else env


def lab() -> LabConfig:
    return LabConfig.from_env()


def inventory(config: LabConfig) -> Path:
    path = PROJECT / "inventories" / config.name / "hosts"
    if not path.exists():
        raise SystemExit(f"no inventory {path}: bring the lab up first (chaosrun lab up)")
    return path


def order_hosts(config: LabConfig, count: int) -> list[str]:
    hosts = [h.name for h in config.hosts() if "order_service" in h.groups]
    if len(hosts) < count:
        raise SystemExit(
            f"lab {config.name!r} has {len(hosts)} order hosts, {count} needed "
            f"(CHAOSRUN_LAB_HOSTS={count} chaosrun lab up)"
        )
    return hosts[:count]


def load() -> str:
    """The 1-minute load average, printed beside every number (the machine is shared)."""
    return f"load {os.getloadavg()[0]:.1f}"


def children_cpu() -> float:
    """CPU seconds of every finished child process (and the descendants they waited for)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cgroup_cpu(pid: int) -> float:
    """CPU seconds of the cgroup that holds `pid` (cgroup v2, else v1's cpuacct)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _id, controllers, path = line.split(":", 2)
        if controllers == "":
            stat = Path("/sys/fs/cgroup", path.lstrip("/"), "cpu.stat")
            if stat.exists():
                usage = dict(ln.split() for ln in stat.read_text().splitlines())
                return int(usage["usage_usec"]) / 1e6
        if "cpuacct" in controllers.split(","):
            for mount in ("cpu,cpuacct", "cpuacct"):
                usage = Path("/sys/fs/cgroup", mount, path.lstrip("/"), "cpuacct.usage")
                if usage.exists():
                    return int(usage.read_text()) / 1e9
    raise SystemExit(f"no CPU accounting found for pid {pid}'s cgroup")


def spread(values: Sequence[float]) -> str:
    if not values:
        return "no value"
    return (
        f"min {min(values):.2f}  median {statistics.median(values):.2f}  "
        f"max {max(values):.2f}  (n={len(values)})"
    )


def write_config(work: Path, prometheus_url: str, **extra: Any) -> Path:
    """A chaosrun.yml of the bench's own: run dir, audit log and freeze file in `work`."""
    config = work / "chaosrun.yml"
    data = {
        "prometheus": {"url": prometheus_url},
        "run_dir": str(work / "runs"),
        "audit": {"path": str(work / "audit.jsonl")},
        "freeze_file": str(work / "freeze.json"),
        **extra,
    }
    config.write_text(yaml.safe_dump(data))
    return config


def role_vars(run_id: str, ttl: int, expect: str | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {
        **KILL_VARS,
        "chaos_run_id": run_id,
        "chaos_ttl": ttl,
        "chaos_state_dir": STATE_DIR,
        "chaos_controller": controller_id(),
        "chaos_validated": True,  # as the engine passes it (it validated the vars itself)
    }
    if expect:
        values["process_kill_expect"] = expect
    return values


def new_run_id(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:8]}"


def self_cpu() -> float:
    """CPU seconds of this process so far (in the benches: ansible-runner reading events)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def in_stage(data: dict[str, Any], stage: bool | None) -> bool:
    """Whether a job event belongs to `stage` of a play run in two (chaosrun.hosts.runner):
    True the entry points that follow (their own play), False the first ones, None both."""
    return stage is None or (data.get("play") == runner.NEXT_STAGE_PLAY) == stage


def play_profile(work_dir: Path, t0: float, t1: float, stage: bool | None = None) -> list[str]:
    """Where one ansible-runner run's time went (of `stage`, `in_stage`; from `t0` on),
    from its job events: the time before the first task (interpreter, inventory, play
    start), then per task the span from its start to the last host's result, and what is
    left after the last task."""
    import datetime as dt
    import json

    def at(text: str) -> float:
        return dt.datetime.fromisoformat(text).timestamp()

    events = []
    for path in work_dir.glob("artifacts/*/job_events/*.json"):
        events.append(json.loads(path.read_text()))
    events.sort(key=lambda e: e.get("counter", 0))
    if not events:
        return ["no job events"]
    tasks: dict[str, dict[str, Any]] = {}
    first = at(events[0]["created"])
    last = first
    for event in events:
        data = event.get("event_data") or {}
        uuid_ = data.get("task_uuid")
        if not in_stage(data, stage):
            continue
        if event["event"] == "playbook_on_task_start" and uuid_:
            start = max(t0, at(event["created"]))  # the release's read waits from before t0
            tasks.setdefault(uuid_, {"name": data.get("task", "?"), "start": start})
        elif event["event"].startswith("runner_on_") and uuid_ in tasks and data.get("end"):
            end = at(data["end"])
            tasks[uuid_]["end"] = max(tasks[uuid_].get("end", 0.0), end)
            last = max(last, end)
    starts = [t["start"] for t in tasks.values()]
    lines = [f"    {min(starts, default=first) - t0:5.2f}s  start-up to the first task"]
    for task in tasks.values():
        span = task.get("end", task["start"]) - task["start"]
        lines.append(f"    {span:5.2f}s  {task['name'][:90]}")
    lines.append(f"    {t1 - last:5.2f}s  after the last result (stats, exit, runner)")
    return lines


# Actions that run in the controller's worker and never reach the host.
LOCAL_ACTIONS = {
    "add_host", "assert", "debug", "fail", "group_by", "import_role", "import_tasks",
    "include", "include_role", "include_tasks", "include_vars", "meta", "noop", "pause",
    "set_fact", "set_stats", "validate_argument_spec",
}  # fmt: skip


def task_counts(
    work_dir: Path, hosts: Sequence[str], stage: bool | None = None
) -> dict[str, dict[str, list[str]]]:
    """Per host of one ansible-runner run (of `stage`, `in_stage`), from its job events:
    the tasks that ran on it (not skipped), split into "remote" (a module run on the host
    over SSH: with pipelining one round trip) and "controller" (actions that never leave
    the controller, and tasks delegated elsewhere); each a list of task names in order."""
    import json

    counts: dict[str, dict[str, list[str]]] = {h: {"remote": [], "controller": []} for h in hosts}
    events = [json.loads(p.read_text()) for p in work_dir.glob("artifacts/*/job_events/*.json")]
    for event in sorted(events, key=lambda e: e.get("counter", 0)):
        data = event.get("event_data") or {}
        host = data.get("host")
        if host not in counts or not in_stage(data, stage) or event["event"] not in (
            "runner_on_ok", "runner_on_failed", "runner_on_unreachable"
        ):  # fmt: skip
            continue
        action = str(data.get("resolved_action") or data.get("task_action") or "")
        local = action.rsplit(".", 1)[-1] in LOCAL_ACTIONS
        delegated = "_ansible_delegated_vars" in (data.get("res") or {})
        side = "controller" if local or delegated else "remote"
        counts[host][side].append(str(data.get("task") or action))
    return counts


def playbook_phases(
    hosts: list[str], inv: Path, work: Path, env: dict[str, str], run_id: str
) -> None:
    """process_kill's inject, verify active and rollback + verify inactive, each one plain
    ansible-playbook run over every host, as a person would run them."""
    phases = [(["inject"], None), (["verify"], "active"), (["rollback", "verify"], "inactive")]
    for entry_points, expect in phases:
        extra = {
            **role_vars(run_id, 120, expect),
            "chaos_role": "chaosrun.chaos.process_kill",
            "chaos_hosts": ",".join(hosts),
            "chaos_entry_points": entry_points,
        }
        vars_file = work / f"{run_id}-{entry_points[0]}.yml"
        vars_file.write_text(yaml.safe_dump(extra))
        done = subprocess.run(
            ["ansible-playbook", str(runner.fault_playbook()), "-i", str(inv),
             "-e", f"@{vars_file}", "--forks", str(max(5, len(hosts)))],
            env=env, cwd=PROJECT, capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"ansible-playbook {entry_points} failed: {done.stdout[-1500:]}")


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def journal_phases(journal: dict[str, Any], total: float, started: float | None = None) -> str:
    """Seconds per phase from a run's journal, and the rest of `total` (start-up, journal,
    reports, exit); with `started` (the launch, epoch seconds) also the time before the
    first phase."""
    parts, inside = [], 0.0
    for phase in journal.get("phases", []):
        if phase.get("ended_at"):
            seconds = _epoch(phase["ended_at"]) - _epoch(phase["started_at"])
            inside += seconds
            parts.append(f"{phase['name']} {seconds:.2f}")
    if started is not None:
        starts = [_epoch(p["started_at"]) for p in journal.get("phases", [])]
        parts.append(f"before the first phase {min(starts, default=started) - started:.2f}")
    parts.append(f"outside every phase {total - inside:.2f}")
    return ", ".join(parts)
