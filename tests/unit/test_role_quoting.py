"""Values a user typed (an experiment's fault vars, `--set`) reach the hosts' shell as data:
the roles' shell templates, rendered as the fault role renders them, run for real with
/bin/sh on values that would run a command if they were pasted in as code."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import jinja2

ROLES = Path(__file__).resolve().parents[2] / "collections/ansible_collections/chaosrun/chaos/roles"
# A name a file system or PostgreSQL accepts (a newline in a directory's name, `$(...)` in
# a quoted identifier) that runs `touch PWNED` in the working directory when a script
# takes it as code.
HOSTILE = "x\ntouch PWNED\n$(touch PWNED)`touch PWNED`"


def render(role: str, template: str, **variables: object) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLES / role / "templates"))
    env.filters["quote"] = lambda value: shlex.quote(str(value))
    env.filters["to_json"] = json.dumps
    return env.get_template(template).render(**variables)


def run_sh(script: str, cwd: Path, path: str = "") -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{path}:/usr/bin:/bin" if path else "/usr/bin:/bin"}
    return subprocess.run(
        ["/bin/sh", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_disk_fill_names_its_directory_as_data(tmp_path: Path) -> None:
    target = tmp_path / "fill"
    script = render(
        "disk_fill",
        "fill.sh.j2",
        disk_fill_path=HOSTILE,
        __disk_fill_add=4096,
        __disk_fill_file=str(target),
    )
    done = run_sh(script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert target.stat().st_size == 4096
    assert not (tmp_path / "PWNED").exists()


def test_db_row_corrupt_revert_names_its_table_as_data(tmp_path: Path) -> None:
    """The revert script's message when the restored rows do not match their checksum."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    runuser = bindir / "runuser"  # psql as the server's user: answers a wrong checksum
    runuser.write_text("#!/bin/sh\ncat >/dev/null; echo wrong\n")
    runuser.chmod(0o755)
    fault = tmp_path / "fault"
    fault.mkdir()
    (fault / "restore.sql").write_text(
        "-- chaosrun checksum right\n-- chaosrun rows 1\n-- chaosrun check SELECT 1\n"
    )
    body = render(
        "db_row_corrupt",
        "revert.sh.j2",
        db_row_corrupt_os_user="postgres",
        db_row_corrupt_socket_dir="/run/postgresql",
        db_row_corrupt_port=5432,
        db_row_corrupt_database="shop",
        db_row_corrupt_table=HOSTILE,
        __db_row_corrupt_table=HOSTILE,
        chaos_run_id="run-1",
    )
    prologue = f"dir={shlex.quote(str(fault))}; state={shlex.quote(str(tmp_path))}\n"
    done = run_sh(prologue + "set -e\n" + body, tmp_path, str(bindir))
    assert done.returncode == 1
    assert "checksum wrong, not right" in done.stderr
    assert not (tmp_path / "PWNED").exists()
