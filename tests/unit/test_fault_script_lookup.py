"""chaosrun.chaos.fault_script renders a role's script as ansible.builtin.template does
(search in the role's templates, nested lookups, variables, backslashes), through a real
ansible-playbook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"

SCRIPT = r"""#!/bin/sh
# {{ role_note }}
for pid in {{ pids | join(' ') }}; do echo "$pid"; done
printf '%s\n' {{ pattern | quote }} "{{ 'a\tb' }}"
{{ lookup(LOOKUP, 'inner.sh.j2') }}
"""


def _playbook(tmp_path: Path) -> Path:
    role = tmp_path / "roles" / "demo"
    (role / "templates").mkdir(parents=True)
    (role / "tasks").mkdir()
    (role / "templates" / "outer.sh.j2").write_text(SCRIPT)
    (role / "templates" / "inner.sh.j2").write_text("echo inner {{ pids | length }}\n")
    tasks = [
        {
            "name": f"Render with {name}",
            "ansible.builtin.copy": {
                "content": f"{{{{ lookup('{name}', 'outer.sh.j2') }}}}",
                "dest": str(tmp_path / f"{name}.out"),
                "mode": "0600",
            },
        }
        for name in ("ansible.builtin.template", "chaosrun.chaos.fault_script")
    ]
    (role / "tasks" / "main.yml").write_text(json.dumps(tasks))
    book = tmp_path / "play.yml"
    book.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "vars": {
        "role_note": "demo", "pids": [11, 12], "pattern": "order service; rm -rf /"},
        "roles": ["demo"]}]))  # fmt: skip
    return book


def test_renders_as_the_template_lookup(tmp_path: Path) -> None:
    book = _playbook(tmp_path)
    (tmp_path / "roles" / "demo" / "templates" / "outer.sh.j2").write_text(
        SCRIPT.replace("LOOKUP", "'chaosrun.chaos.fault_script'")
    )
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_LOCALHOST_WARNING": "false",
    }
    bin_dir = Path(sys.executable).parent
    proc = subprocess.run(
        [str(bin_dir / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(book),
         "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    builtin = (tmp_path / "ansible.builtin.template.out").read_text()
    ours = (tmp_path / "chaosrun.chaos.fault_script.out").read_text()
    assert ours == builtin
    assert "echo inner 2" in ours
    assert "'order service; rm -rf /'" in ours
    assert "a\tb" in ours
