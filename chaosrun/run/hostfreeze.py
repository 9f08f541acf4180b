"""The kill switch on the hosts: `chaosrun freeze -i INV` and `chaosrun unfreeze -i INV`.

A freeze marker in each host's state directory (who, when, why, from which controller)
that every controller sees, whatever started it (CLI, cron, AWX, a colleague's clone):
the fault role's on-host lock step refuses every inject on a frozen host, and a running
run's lease renewal answers `frozen`, so that run aborts. Freezing writes the marker under
the host's lock (the one the arm step takes), then runs the ONE revert script of every
fault active there; all hosts at once over the fast path (chaosrun/hosts/hostshell.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrun.base.errors import InvalidInput
from chaosrun.base.hostlayout import REVERT, active_root, frozen_marker, lock_file
from chaosrun.base.paths import project_root
from chaosrun.hosts.hostshell import HostShell, explain, run_all_twice
from chaosrun.hosts.inventory import load_inventory
from chaosrun.model import audit, killswitch
from chaosrun.model.config import Config

FROZEN_OK = "CHAOSRUN_FROZEN_OK"  # the freeze script's line once the marker is in place, and when
FROZEN_LINE = "CHAOSRUN_FROZEN"  # preflight's line for a frozen host, before the freeze's line
WAS_FROZEN = "CHAOSRUN_WAS_FROZEN"  # the unfreeze script's line, before the lifted marker
TIMEOUT = 180.0  # a host's whole freeze: the marker, then its faults' revert scripts


@dataclass
class HostsOutcome:
    """What the hosts answered to a freeze or an unfreeze."""

    done: list[str] = field(default_factory=list)  # frozen (freeze) / lifted (unfreeze)
    frozen_at: dict[str, float] = field(default_factory=dict)  # host -> marker written, its clock
    reverted: dict[str, list[str]] = field(default_factory=dict)  # host -> ["run/role"]
    revert_failed: dict[str, list[str]] = field(default_factory=dict)  # host -> ["run/role: why"]
    unreachable: dict[str, str] = field(default_factory=dict)  # host -> why
    lifted: dict[str, killswitch.Freeze] = field(default_factory=dict)  # unfreeze: what it was

    def as_dict(self) -> dict[str, Any]:
        return {
            "hosts": self.done,
            "frozen_at": self.frozen_at,
            "reverted": self.reverted,
            "revert_failed": self.revert_failed,
            "unreachable": self.unreachable,
            "lifted": {h: f.__dict__ for h, f in self.lifted.items()},
        }


def marker_text(state: killswitch.Freeze) -> str:
    """The marker's two lines: what a refusal prints, then the freeze as JSON."""
    line = f"frozen since {state.at} by {state.user}@{state.host}: {state.reason}"
    return " ".join(line.split()) + "\n" + json.dumps(state.__dict__, sort_keys=True) + "\n"


def parse_marker(text: str) -> killswitch.Freeze:
    """The freeze a marker records; a damaged one still reads as a freeze (fail closed)."""
    lines = text.strip().splitlines()
    try:
        data = json.loads(lines[-1])
        return killswitch.Freeze(
            str(data["reason"]),
            str(data["at"]),
            str(data["user"]),
            str(data["host"]),
            str(data.get("project") or ""),
        )
    except (ValueError, KeyError, TypeError, IndexError):
        reason = lines[0] if lines else "freeze marker present (unparsable)"
        return killswitch.Freeze(reason=reason, at="?", user="?", host="?")


def freeze_script(state_dir: str, marker: str) -> str:
    """Write the marker under the host's lock, then revert every active fault there.
    Prints FROZEN_OK and the host's time once the marker is in place, then `REVERTED run role` or
    `FAILED run role: why` per fault; exits 1 when a revert failed."""
    state = shlex.quote(state_dir.rstrip("/"))
    path = shlex.quote(frozen_marker(state_dir))
    lock = shlex.quote(lock_file(state_dir))
    active = shlex.quote(active_root(state_dir))
    return (
        f"state={state}; m={path}; lock={lock}; active={active}; "
        'mkdir -p "$state" && chmod 0700 "$state" || exit 2; '
        # Under the arm step's lock: an inject arming now finishes first (its fault is then
        # reverted below), one after this sees the marker and refuses.
        'exec 9>>"$lock"; '
        "if command -v flock >/dev/null 2>&1 && ! flock -w 30 9; then "
        'echo "chaosrun: waited 30 s for $lock; freezing anyway" >&2; fi; '
        f'printf %s {shlex.quote(marker)} > "$m.tmp" && mv -f "$m.tmp" "$m" || exit 2; '
        f'echo "{FROZEN_OK} $(date +%s.%N)"; exec 9>&-; rc=0; '
        f'for f in "$active"/*/*/; do [ -f "$f/{REVERT}" ] || continue; '
        "d=${f%/}; role=${d##*/}; run=${d%/*}; run=${run##*/}; "
        f'if out=$(/bin/sh "$f/{REVERT}" freeze 2>&1); then echo "REVERTED $run $role"; '
        'else echo "FAILED $run $role: $(printf %s "$out" | tail -n 1)"; rc=1; fi; done; '
        "exit $rc"
    )


def unfreeze_script(state_dir: str) -> str:
    """Remove the marker under the host's lock; prints WAS_FROZEN and the marker first."""
    path = shlex.quote(frozen_marker(state_dir))
    lock = shlex.quote(lock_file(state_dir))
    return (
        f"m={path}; "
        '[ -e "$m" ] || exit 0; '
        f"exec 9>>{lock}; command -v flock >/dev/null 2>&1 && flock -w 30 9; "
        f'echo {WAS_FROZEN}; tail -n 1 "$m"; echo; rm -f "$m"'
    )


def check_script(state_dir: str) -> str:
    """Read-only, for preflight: prints FROZEN_LINE and the freeze's line on a frozen host."""
    path = shlex.quote(frozen_marker(state_dir))
    return f'[ ! -e {path} ] || echo "{FROZEN_LINE} $(head -n 1 {path})"'


def frozen_in(out: str) -> str | None:
    """The freeze's line from preflight's output, or None when the host is not frozen."""
    for line in out.splitlines():
        if line.startswith(FROZEN_LINE + " "):
            return line[len(FROZEN_LINE) + 1 :].strip() or "frozen"
    return None


def freeze(
    config: Config,
    inventory: Path,
    pattern: str,
    reason: str,
    state_dir: str,
) -> tuple[killswitch.Freeze, HostsOutcome]:
    """Freeze the hosts matching `pattern` and revert their faults; audited and announced."""
    reason = killswitch.require_reason(reason)
    shell = _shell(inventory, pattern)
    who = audit.who()
    state = killswitch.Freeze(reason, audit.now_iso(), who["user"], who["host"], _project(config))
    answers = _run(shell, freeze_script(state_dir, marker_text(state)))
    outcome = HostsOutcome()
    for host, (rc, out) in answers.items():
        ok = [line.split()[1:] for line in out.splitlines() if line.startswith(FROZEN_OK)]
        if not ok:
            outcome.unreachable[host] = _why(out)
            continue
        outcome.done.append(host)
        with contextlib.suppress(ValueError, IndexError):
            outcome.frozen_at[host] = float(ok[0][0])
        for line in out.splitlines():
            word, _, rest = line.partition(" ")
            run, _, role = rest.partition(" ")
            if word == "REVERTED":
                outcome.reverted.setdefault(host, []).append(f"{run}/{role}")
            elif word == "FAILED":
                outcome.revert_failed.setdefault(host, []).append(f"{run}/{role}")
        if rc != 0 and host not in outcome.revert_failed:
            outcome.revert_failed[host] = [f"exit {rc}: {_why(out)}"]
    result = (
        "revert_failed" if outcome.revert_failed else "partial" if outcome.unreachable else "frozen"
    )
    _record(config, "freeze", result, reason, inventory, pattern, outcome)
    return state, outcome


def unfreeze(
    config: Config, inventory: Path, pattern: str, reason: str, state_dir: str
) -> HostsOutcome:
    """Remove the marker from the hosts matching `pattern`; audited and announced."""
    reason = killswitch.require_reason(reason)
    answers = _run(_shell(inventory, pattern), unfreeze_script(state_dir))
    outcome = HostsOutcome()
    for host, (rc, out) in answers.items():
        if rc != 0:
            outcome.unreachable[host] = _why(out)
            continue
        lines = out.splitlines()
        if WAS_FROZEN in lines:
            outcome.done.append(host)
            outcome.lifted[host] = parse_marker("\n".join(lines[lines.index(WAS_FROZEN) + 1 :]))
    result = "partial" if outcome.unreachable else "unfrozen" if outcome.done else "not_frozen"
    _record(config, "unfreeze", result, reason, inventory, pattern, outcome)
    return outcome


def _record(
    config: Config,
    action: str,
    result: str,
    reason: str,
    inventory: Path,
    pattern: str,
    outcome: HostsOutcome,
) -> None:
    entry = audit.record(
        config.audit_path,
        action,
        result,
        targets=outcome.done,
        reason=reason,
        scope="hosts",
        inventory=str(inventory),
        limit=pattern,
        reverted=outcome.reverted or None,
        revert_failed=outcome.revert_failed or None,
        unreachable=outcome.unreachable or None,
        previous_reasons={h: f.reason for h, f in outcome.lifted.items()} or None,
    )
    audit.announce(config.webhooks, action, entry)


def _project(config: Config) -> str:
    """The controller's project directory, for the marker's "from where"."""
    return str(config.source.parent if config.source else project_root())


def _shell(inventory: Path, pattern: str) -> HostShell:
    """The fast path to the hosts matching the pattern, reached as Ansible reaches them."""
    inv = load_inventory(str(inventory.resolve()))
    names = inv.match(pattern)
    if not names:
        raise InvalidInput(f"--limit {pattern!r} matches no host of {inventory}")
    return HostShell([inv.host_info(n) for n in names], control=f"k{os.getpid()}", shells=False)


def _run(shell: HostShell, script: str) -> dict[str, tuple[int, str]]:
    """The script on every host at once; host -> (exit code, output). A host that did not
    run it (no connection, exit 2 or more) is asked once more: both scripts may run twice,
    and a kill switch should not give up on a host that is merely slow to let us in."""
    try:
        scripts = dict.fromkeys(shell.hosts, script)
        answers = run_all_twice(shell, scripts, TIMEOUT, lambda a: a.rc in (0, 1))
    finally:
        shell.close()
    return {n: (a.rc, a.out) for n, a in answers.items()}


def _why(out: str) -> str:
    return explain(out.strip())


def hosts_message(frozen: Sequence[tuple[str, str]]) -> str:
    """Preflight's refusal for frozen hosts, naming each and its freeze."""
    detail = "; ".join(f"{h}: {line}" for h, line in frozen)
    return (
        f"host(s) frozen by `chaosrun freeze -i`: {detail}; "
        "lift it with `chaosrun unfreeze -i INVENTORY --reason ...`"
    )
