"""Install schedules into a real scheduler, and remove exactly what was installed.

Backends: a cron.d file (`/etc/cron.d/chaosrun`), the invoking user's crontab (a marked
block), or systemd `.service` + `.timer` units. Every entry runs `chaosrun run
--scheduled NAME ...` from the project directory with an absolute path to chaosrun,
so it works from cron's bare environment. A manifest in `.chaosrun/schedules/` beside
the schedule file records what was written (paths and checksums); `uninstall` reads it
and removes those things only, leaving a file alone when someone changed it since.
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

from chaosrun import cronexpr, paths
from chaosrun.errors import ChaosrunError, InvalidInput
from chaosrun.schedules import Schedule, schedules_path

BACKENDS = ("cron", "crontab", "systemd")
DEFAULT_CRON_FILE = Path("/etc/cron.d/chaosrun")
DEFAULT_UNIT_DIR = Path("/etc/systemd/system")
BEGIN = "# BEGIN chaosrun schedules (managed by `chaosrun schedule install`; do not edit)"
END = "# END chaosrun schedules"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def state_dir() -> Path:
    """Manifest and logs live beside the schedule file (the project root by default), so
    a second schedule file (a test's, a team's) has its own installation."""
    return schedules_path().resolve().parent / ".chaosrun" / "schedules"


def manifest_path() -> Path:
    return state_dir() / "installed.json"


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
    """An absolute command for chaosrun that works without the caller's PATH."""
    beside = Path(sys.executable).parent / "chaosrun"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("chaosrun")
    return [str(Path(found).resolve())] if found else [sys.executable, "-m", "chaosrun"]


def environment(sched: Schedule) -> dict[str, str]:
    """What the scheduled command needs: the project, the schedule file, a PATH with
    ansible-playbook beside chaosrun, then the schedule's own variables."""
    bindir = str(Path(sys.executable).parent)
    env = {
        "CHAOSRUN_PROJECT": str(paths.project_root()),
        "CHAOSRUN_SCHEDULES": str(schedules_path().resolve()),
        "PATH": f"{bindir}:{SYSTEM_PATH}",
    }
    env.update(sched.env)
    return env


def log_path(sched: Schedule) -> Path:
    return state_dir() / f"{sched.name}.log"


# --- rendering ----------------------------------------------------------------------------


def cron_lines(sched: Schedule, user: str | None) -> list[str]:
    """The lines for one schedule; `user` is the cron.d user field (None in a crontab)."""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in environment(sched).items())
    argv = " ".join(shlex.quote(a) for a in [*chaosrun_command(), *sched.run_args()])
    command = (
        f"cd {shlex.quote(str(paths.project_root()))} && {env} {argv}"
        f" >> {shlex.quote(str(log_path(sched)))} 2>&1"
    )
    command = command.replace("%", "\\%")  # cron turns a bare % into a newline
    who = f" {user}" if user else ""
    expr = " ".join(sched.cron_text.split())
    return [
        f"# {sched.name}: {sched.experiment} ({sched.cron_text} {sched.timezone})",
        f"CRON_TZ={sched.timezone}",
        f"{expr}{who} {command}",
    ]


def cron_file(schedules: Sequence[Schedule], user: str = "root") -> str:
    lines = [BEGIN, "SHELL=/bin/sh"]
    for sched in schedules:
        lines += cron_lines(sched, user)
    return "\n".join([*lines, END]) + "\n"


def _unit_quote(arg: str) -> str:
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if any(c in escaped for c in " \"\\'") or not escaped:
        return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return escaped


def unit_name(sched: Schedule) -> str:
    return f"chaosrun-{sched.name}"


def service_unit(sched: Schedule) -> str:
    argv = " ".join(_unit_quote(a) for a in [*chaosrun_command(), *sched.run_args()])
    env = "\n".join(f"Environment={_unit_quote(f'{k}={v}')}" for k, v in environment(sched).items())
    return (
        "# Managed by `chaosrun schedule install`; `chaosrun schedule uninstall` removes it.\n"
        "[Unit]\n"
        f"Description=chaosrun scheduled experiment {sched.name} ({sched.experiment})\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"WorkingDirectory={_unit_quote(str(paths.project_root()))}\n"
        f"{env}\n"
        f"ExecStart={argv}\n"
        f"StandardOutput=append:{log_path(sched)}\n"
        "StandardError=inherit\n"
    )


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


def install(
    schedules: Sequence[Schedule],
    backend: str,
    *,
    cron_path: Path = DEFAULT_CRON_FILE,
    unit_dir: Path | None = None,
    user: bool = False,
    enable: bool = True,
) -> Installed:
    """Install every schedule with one backend, replacing what an earlier install wrote."""
    if backend not in BACKENDS:
        raise InvalidInput(f"unknown backend {backend!r} (use one of {', '.join(BACKENDS)})")
    if not schedules:
        raise InvalidInput(f"{schedules_path()}: no schedules to install")
    if backend == "cron" and "." in cron_path.name:
        raise InvalidInput(f"{cron_path}: cron ignores files in cron.d whose name has a dot")
    if manifest_path().is_file():
        uninstall()
    state_dir().mkdir(parents=True, exist_ok=True)
    installed = Installed(backend=backend, schedules=[s.name for s in schedules])
    if backend in ("cron", "crontab"):
        for sched in schedules:
            if _local_zone_differs(sched.timezone):
                installed.notes.append(
                    f"{sched.name}: CRON_TZ={sched.timezone} differs from this host's zone; "
                    "cronie honours CRON_TZ, Debian's cron does not (use --backend systemd)"
                )
    if backend == "cron":
        _write(cron_path, cron_file(schedules), installed)
    elif backend == "crontab":
        _install_crontab(schedules, installed)
    else:
        _install_systemd(schedules, installed, unit_dir, user, enable)
    _save_manifest(installed)
    return installed


def _install_systemd(
    schedules: Sequence[Schedule],
    installed: Installed,
    unit_dir: Path | None,
    user: bool,
    enable: bool,
) -> None:
    installed.systemd_user = user
    target = unit_dir or (Path.home() / ".config/systemd/user" if user else DEFAULT_UNIT_DIR)
    for sched in schedules:
        _write(target / f"{unit_name(sched)}.service", service_unit(sched), installed)
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


def _install_crontab(schedules: Sequence[Schedule], installed: Installed) -> None:
    if not shutil.which("crontab"):
        raise ChaosrunError("crontab is not installed on this host")
    lines = [BEGIN]
    for sched in schedules:
        lines += cron_lines(sched, None)
    lines.append(END)
    _write_crontab(_strip_block(_read_crontab()) + "\n".join(lines) + "\n")
    installed.crontab_block = True


def _save_manifest(installed: Installed) -> None:
    data = dict(installed.__dict__, installed_at=dt.datetime.now(dt.UTC).isoformat())
    manifest_path().write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def read_manifest() -> dict[str, Any] | None:
    path = manifest_path()
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InvalidInput(f"{path}: unreadable manifest: {exc}") from None


def uninstall() -> list[str]:
    """Remove what the manifest lists; returns one line per thing removed or kept."""
    manifest = read_manifest()
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
    manifest_path().unlink()
    return done
