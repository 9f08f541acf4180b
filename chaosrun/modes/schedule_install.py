"""Install schedules into a real scheduler, and remove exactly what was installed.

Backends: a cron.d file (`/etc/cron.d/chaosrun`), the invoking user's crontab (a marked
block), or systemd `.service` + `.timer` units. Every entry carries absolute paths (the
project, the schedule file, the experiment and inventory, the chaosrun that installed
it), so it runs from any directory in cron's bare environment. When chaosrun cannot
start (moved, uninstalled) the entry calls a fallback script written beside the manifest,
which records the failed slot in the audit log and posts it to the webhooks (see
chaosrun.modes.slots for every other failure). A manifest in `.chaosrun/schedules/` beside the
schedule file records what was written (paths and checksums); `uninstall` reads it and
removes those things only, leaving a file alone when someone changed it since.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from chaosrun.base import paths
from chaosrun.base.errors import ChaosrunError, InvalidInput
from chaosrun.model import config, cronexpr
from chaosrun.modes import schedule_sets, slots
from chaosrun.modes.schedules import Schedule, schedules_path

BACKENDS = ("cron", "crontab", "systemd")
DEFAULT_CRON_FILE = Path("/etc/cron.d/chaosrun")
DEFAULT_UNIT_DIR = Path("/etc/systemd/system")
BEGIN = "# BEGIN chaosrun schedules (managed by `chaosrun schedule install`; do not edit)"
END = "# END chaosrun schedules"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Settings of the installing shell that the entries keep (made absolute), so a slot reads
# the configuration the installer saw.
CARRIED_ENV = ("CHAOSRUN_CONFIG", "ANSIBLE_CONFIG")
FALLBACK_NAME = "slot-failed"


def state_dir(explicit: str | Path | None = None) -> Path:
    """Manifest and logs live beside the schedule file (the project root by default), so
    a second schedule file (a test's, a team's) has its own installation."""
    return schedules_path(explicit).resolve().parent / ".chaosrun" / "schedules"


def manifest_path(explicit: str | Path | None = None) -> Path:
    return state_dir(explicit) / "installed.json"


@dataclass
class Installed:
    backend: str
    files: list[dict[str, str]] = field(default_factory=list)
    timers: list[str] = field(default_factory=list)
    crontab_block: bool = False
    systemd_user: bool = False
    schedules: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def chaosrun_command() -> list[str]:
    """The chaosrun doing the install, as an absolute command: the script it was started
    as, else the one in its virtual environment, else this interpreter with `-m`."""
    started_as = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if started_as and started_as.name == "chaosrun" and started_as.is_file():
        return [str(started_as.resolve())]
    # Not resolved: a venv's python is a symlink out of the venv.
    beside = Path(sys.executable).absolute().parent / "chaosrun"
    if beside.is_file():
        return [str(beside)]
    return [str(Path(sys.executable).absolute()), "-m", "chaosrun"]


@dataclass(frozen=True)
class Where:
    """Everything an entry names, absolute, as the installer found it."""

    project: Path
    schedule_file: Path
    chaosrun: tuple[str, ...]
    carried: tuple[tuple[str, str], ...] = ()

    @classmethod
    def here(cls, explicit: str | Path | None = None) -> Where:
        carried = tuple(
            (name, str(Path(os.environ[name]).resolve()))
            for name in CARRIED_ENV
            if os.environ.get(name)
        )
        return cls(
            project=paths.project_root(),
            schedule_file=schedules_path(explicit).resolve(),
            chaosrun=tuple(chaosrun_command()),
            carried=carried,
        )

    @property
    def state_dir(self) -> Path:
        return self.schedule_file.parent / ".chaosrun" / "schedules"

    @property
    def fallback(self) -> Path:
        return self.state_dir / FALLBACK_NAME

    def log(self, sched: Schedule) -> Path:
        return self.state_dir / f"{sched.name}.log"

    def entry(self, sched: Schedule) -> Path:
        """The entry script of a schedule whose cron line would be too long for cron."""
        return self.state_dir / f"{sched.name}.sh"

    def absolute(self, relative: str) -> str:
        path = Path(os.path.expanduser(relative))
        return str(path if path.is_absolute() else self.project / path)

    def argv(self, sched: Schedule) -> list[str]:
        """chaosrun and its arguments, with the experiment and inventory made absolute."""
        args = sched.run_args()
        args[3] = self.absolute(sched.experiment)
        if sched.inventory:
            args[args.index("--inventory") + 1] = self.absolute(sched.inventory)
        return [*self.chaosrun, *args]


def environment(sched: Schedule, where: Where | None = None) -> dict[str, str]:
    """What the scheduled command needs: the project, the schedule file, a PATH with
    ansible-playbook beside chaosrun, the fallback, then the schedule's own variables."""
    where = where or Where.here()
    bindir = str(Path(where.chaosrun[0]).parent)
    env = {
        "CHAOSRUN_PROJECT": str(where.project),
        "CHAOSRUN_SCHEDULES": str(where.schedule_file),
        **dict(where.carried),
        slots.FALLBACK_ENV: str(where.fallback),
        "PATH": f"{bindir}:{SYSTEM_PATH}",
    }
    env.update(sched.env)
    return env


def log_path(sched: Schedule, where: Where | None = None) -> Path:
    return (where or Where.here()).log(sched)


# --- rendering ----------------------------------------------------------------------------


# Debian's cron reads at most 1000 characters of a command; a margin for the fields.
MAX_CRON_COMMAND = 900


def missing_reason(where: Where) -> str:
    return f"chaosrun could not be started: {where.chaosrun[0]}"


def shell_command(sched: Schedule, where: Where | None = None) -> str:
    """The entry's shell line: the slot, then the fallback when chaosrun could not start
    (the shell's 126: not executable, 127: not found)."""
    where = where or Where.here()
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in environment(sched, where).items())
    argv = " ".join(shlex.quote(a) for a in where.argv(sched))
    log = shlex.quote(str(where.log(sched)))
    fallback = " ".join(
        shlex.quote(a) for a in ("/bin/sh", str(where.fallback), sched.name, missing_reason(where))
    )
    return (
        f"cd {shlex.quote(str(where.project))} && {env} {argv} >> {log} 2>&1; "
        f'rc=$?; case $rc in 126|127) {fallback} "$rc" >> {log} 2>&1;; esac'
    )


def fits_cron(sched: Schedule, where: Where | None = None) -> bool:
    """Whether the entry's shell line fits on a cron line (Debian's cron drops longer ones
    without a word: deep project paths reach its limit)."""
    return len(shell_command(sched, where)) <= MAX_CRON_COMMAND


def entry_script(sched: Schedule, where: Where | None = None) -> str:
    command = shell_command(sched, where)
    return f"#!/bin/sh\n# chaosrun schedule {sched.name}: its cron line\n{command}\n"


def cron_lines(sched: Schedule, user: str | None, where: Where | None = None) -> list[str]:
    """The lines for one schedule; `user` is the cron.d user field (None in a crontab). A
    command too long for cron runs from the schedule's entry script (written by install)."""
    where = where or Where.here()
    if fits_cron(sched, where):
        command = shell_command(sched, where).replace("%", "\\%")  # cron: a bare % is a newline
    else:
        command = shlex.quote(str(where.entry(sched))).replace("%", "\\%")
        command = f"/bin/sh {command}"
    who = f" {user}" if user else ""
    expr = " ".join(sched.cron_text.split())
    return [
        f"# {sched.name}: chaosrun run --scheduled {sched.name} {sched.experiment} "
        f"({sched.cron_text} {sched.timezone})",
        f"CRON_TZ={sched.timezone}",
        f"{expr}{who} {command}",
    ]


def cron_file(schedules: Sequence[Schedule], user: str = "root", where: Where | None = None) -> str:
    lines = [BEGIN, "SHELL=/bin/sh"]
    for sched in schedules:
        lines += cron_lines(sched, user, where)
    return "\n".join([*lines, END]) + "\n"


def _unit_quote(arg: str) -> str:
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if any(c in escaped for c in " \"\\'") or not escaped:
        return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return escaped


def unit_name(sched: Schedule) -> str:
    return f"chaosrun-{sched.name}"


def service_unit(sched: Schedule, where: Where | None = None) -> str:
    where = where or Where.here()
    argv = " ".join(_unit_quote(a) for a in where.argv(sched))
    env = "\n".join(
        f"Environment={_unit_quote(f'{k}={v}')}" for k, v in environment(sched, where).items()
    )
    # systemd reports a command it could not execute as status 203 (EXEC).
    fallback = " ".join(
        shlex.quote(a) for a in ("/bin/sh", str(where.fallback), sched.name, missing_reason(where))
    )
    stop_post = f'[ "$EXIT_STATUS" != 203 ] || {fallback} "$EXIT_STATUS"'
    return (
        "# Managed by `chaosrun schedule install`; `chaosrun schedule uninstall` removes it.\n"
        "[Unit]\n"
        f"Description=chaosrun scheduled experiment {sched.name} ({sched.experiment})\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"WorkingDirectory={_unit_quote(str(where.project))}\n"
        f"{env}\n"
        f"ExecStart={argv}\n"
        f"ExecStopPost=/bin/sh -c {_unit_quote(stop_post)}\n"
        f"StandardOutput=append:{where.log(sched)}\n"
        "StandardError=inherit\n"
    )


def fallback_script(audit_path: Path, webhooks: Sequence[Any]) -> str:
    """The script an entry runs when chaosrun cannot: `slot-failed NAME REASON CODE`.
    Plain sh, so it works without chaosrun's Python: one audit line, then a POST of the
    generic body (which Slack also reads) to each webhook that takes slot_failed.
    PagerDuty webhooks are left out: their routing key stays out of files."""
    hooks = [w for w in webhooks if slots.EVENT in w.events and w.format in ("generic", "slack")]
    posts = "\n".join(f"post {shlex.quote(w.url)}" for w in hooks) or ":"
    audit = shlex.quote(str(audit_path))
    return f"""#!/bin/sh
# Written by `chaosrun schedule install`; `chaosrun schedule uninstall` removes it.
# Records a scheduled slot that chaosrun itself could not record.
j() {{ printf '%s' "$1" | tr -d '\\000-\\037' | sed 's/\\\\/\\\\\\\\/g; s/"/\\\\"/g'; }}
name=$(j "$1"); reason=$(j "$2"); code=$3
case $code in ''|*[!0-9]*) code=1;; esac
at=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
who=$(j "$(id -un 2>/dev/null || id -u)"); host=$(j "$(hostname)")
mkdir -p "$(dirname {audit})"
printf '{{"action": "slot", "outcome": "failed", "at": "%s", "user": "%s", "host": "%s", \
"pid": %s, "schedule": "%s", "exit_code": %s, "reason": "%s", "experiment": null, \
"run_id": null, "targets": null}}\n' "$at" "$who" "$host" "$$" "$name" "$code" "$reason" \
  >> {audit}
text="chaosrun schedule $name: slot failed (exit $code): $reason"
body=$(printf '{{"source": "chaosrun", "event": "{slots.EVENT}", "text": "%s", \
"schedule": "%s", "exit_code": %s, "reason": "%s", "at": "%s", "user": "%s", "host": "%s"}}' \
  "$text" "$name" "$code" "$reason" "$at" "$who" "$host")
post() {{
  curl -fsS -m 5 -H 'Content-Type: application/json' --data-binary "$body" "$1" \
    >/dev/null 2>&1 ||
  wget -q -T 5 -O /dev/null --header='Content-Type: application/json' \
    --post-data="$body" "$1" >/dev/null 2>&1 ||
  echo "chaosrun: could not post the failed slot to a webhook" >&2
}}
{posts}
echo "chaosrun: schedule $name: slot failed (exit $code): $reason" >&2
"""


def timer_unit(sched: Schedule) -> str:
    calendars = "\n".join(
        f"OnCalendar={c}" for c in cronexpr.on_calendar(sched.cron, sched.timezone)
    )
    return (
        "# Managed by `chaosrun schedule install`; `chaosrun schedule uninstall` removes it.\n"
        "[Unit]\n"
        f"Description=chaosrun schedule {sched.name}: {sched.cron_text} {sched.timezone}\n\n"
        "[Timer]\n"
        f"{calendars}\n"
        "AccuracySec=1s\n"
        # A missed slot is a skipped slot, as with cron: no catch-up burst after downtime.
        "Persistent=false\n"
        f"Unit={unit_name(sched)}.service\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )


# --- install / uninstall -----------------------------------------------------------------


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write(path: Path, text: str, installed: Installed, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.chaosrun-tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, mode)
    tmp.replace(path)
    installed.files.append({"path": str(path), "sha256": _sha(text)})


def systemd_running() -> bool:
    return Path("/run/systemd/system").is_dir()


def _systemctl(user: bool, *args: str) -> None:
    cmd = ["systemctl", *(["--user"] if user else []), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ChaosrunError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")


def _local_zone_differs(tz: str) -> bool:
    now = time.time()
    local = dt.datetime.fromtimestamp(now).astimezone().utcoffset()
    return local != dt.datetime.fromtimestamp(now, ZoneInfo(tz)).utcoffset()


def _secrets_from_env(schedules: Sequence[Schedule], cfg: config.Config) -> list[str]:
    """A secret chaosrun.yml reads from a variable of the installing shell: cron and systemd
    start a slot without it, so the slot would end on invalid input."""
    return [
        f"{where}: ${var} comes from the environment, which {sched.name}'s slots do not "
        "have: they would fail (exit 2); read it from a file (`*_file`) for scheduled runs"
        for where, var in cfg.secret_env
        for sched in schedules
        if var not in sched.env
    ]


def install(
    schedules: Sequence[Schedule],
    backend: str,
    *,
    cron_path: Path = DEFAULT_CRON_FILE,
    unit_dir: Path | None = None,
    user: bool = False,
    enable: bool = True,
    schedule_file: str | Path | None = None,
) -> Installed:
    """Install every schedule with one backend, replacing what an earlier install wrote.
    `schedule_file` is the file the schedules came from (default: CHAOSRUN_SCHEDULES, else
    the project's). A schedule whose `set:` loosens its experiment's safety refuses the
    install (chaosrun.modes.schedule_sets), before anything is written or removed."""
    if backend not in BACKENDS:
        raise InvalidInput(f"unknown backend {backend!r} (use one of {', '.join(BACKENDS)})")
    if not schedules:
        raise InvalidInput(f"{schedules_path(schedule_file)}: no schedules to install")
    if backend == "cron" and "." in cron_path.name:
        raise InvalidInput(f"{cron_path}: cron ignores files in cron.d whose name has a dot")
    # Before an earlier install is replaced: a refused file leaves that one as it was.
    schedule_sets.refuse_loosening(schedules, schedule_file)
    cfg = config.load()
    where = Where.here(schedule_file)
    if manifest_path(schedule_file).is_file():
        uninstall(schedule_file)
    where.state_dir.mkdir(parents=True, exist_ok=True)
    installed = Installed(backend=backend, schedules=[s.name for s in schedules])
    # Private: a webhook URL often embeds a token.
    _write(where.fallback, fallback_script(cfg.audit_path, cfg.webhooks), installed, 0o700)
    installed.notes.extend(_secrets_from_env(schedules, cfg))
    if backend in ("cron", "crontab"):
        for sched in schedules:
            if _local_zone_differs(sched.timezone):
                installed.notes.append(
                    f"{sched.name}: CRON_TZ={sched.timezone} differs from this host's zone; "
                    "cronie honours CRON_TZ, Debian's cron does not (use --backend systemd)"
                )
    if backend in ("cron", "crontab"):
        for sched in schedules:
            if not fits_cron(sched, where):
                _write(where.entry(sched), entry_script(sched, where), installed, 0o700)
    if backend == "cron":
        _write(cron_path, cron_file(schedules, where=where), installed)
    elif backend == "crontab":
        _install_crontab(schedules, installed, where)
    else:
        _install_systemd(schedules, installed, unit_dir, user, enable, where)
    _save_manifest(installed, manifest_path(schedule_file))
    return installed


def _install_systemd(
    schedules: Sequence[Schedule],
    installed: Installed,
    unit_dir: Path | None,
    user: bool,
    enable: bool,
    where: Where,
) -> None:
    installed.systemd_user = user
    target = unit_dir or (Path.home() / ".config/systemd/user" if user else DEFAULT_UNIT_DIR)
    for sched in schedules:
        _write(target / f"{unit_name(sched)}.service", service_unit(sched, where), installed)
        _write(target / f"{unit_name(sched)}.timer", timer_unit(sched), installed)
    if not enable:
        installed.notes.append("units written, not enabled (--no-enable)")
        return
    if not systemd_running():
        installed.notes.append(
            "systemd is not running here: units written but not enabled; "
            "enable them with `systemctl enable --now chaosrun-NAME.timer`"
        )
        return
    _systemctl(user, "daemon-reload")
    for sched in schedules:
        timer = f"{unit_name(sched)}.timer"
        _systemctl(user, "enable", "--now", timer)
        installed.timers.append(timer)


def _read_crontab() -> str:
    proc = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 else ""


def _write_crontab(text: str) -> None:
    proc = subprocess.run(["crontab", "-"], input=text, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ChaosrunError(f"crontab - failed: {proc.stderr.strip()}")


def _strip_block(text: str) -> str:
    out, inside = [], False
    for line in text.splitlines():
        if line == BEGIN:
            inside = True
        elif line == END and inside:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out) + ("\n" if out else "")


def _install_crontab(schedules: Sequence[Schedule], installed: Installed, where: Where) -> None:
    if not shutil.which("crontab"):
        raise ChaosrunError("crontab is not installed on this host")
    lines = [BEGIN]
    for sched in schedules:
        lines += cron_lines(sched, None, where)
    lines.append(END)
    _write_crontab(_strip_block(_read_crontab()) + "\n".join(lines) + "\n")
    installed.crontab_block = True


def _save_manifest(installed: Installed, path: Path) -> None:
    data = dict(installed.__dict__, installed_at=dt.datetime.now(dt.UTC).isoformat())
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def read_manifest(schedule_file: str | Path | None = None) -> dict[str, Any] | None:
    path = manifest_path(schedule_file)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InvalidInput(f"{path}: unreadable manifest: {exc}") from None


def uninstall(schedule_file: str | Path | None = None) -> list[str]:
    """Remove what the manifest lists; returns one line per thing removed or kept."""
    manifest = read_manifest(schedule_file)
    if manifest is None:
        return []
    done: list[str] = []
    user = bool(manifest.get("systemd_user"))
    if manifest.get("timers") and systemd_running():
        for timer in manifest["timers"]:
            _systemctl(user, "disable", "--now", timer)
            done.append(f"disabled {timer}")
    for entry in manifest.get("files", []):
        path = Path(entry["path"])
        if not path.exists():
            done.append(f"already gone: {path}")
        elif _sha(path.read_text(encoding="utf-8")) != entry["sha256"]:
            done.append(f"kept {path}: changed since install, remove it by hand")
        else:
            path.unlink()
            done.append(f"removed {path}")
    if manifest.get("timers") and systemd_running():
        _systemctl(user, "daemon-reload")
    if manifest.get("crontab_block"):
        _write_crontab(_strip_block(_read_crontab()))
        done.append("removed the chaosrun block from the crontab")
    manifest_path(schedule_file).unlink()
    return done
