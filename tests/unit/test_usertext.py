"""Text a user typed reaches Ansible as data: Jinja in fault vars, command probes and
runbook prose is never evaluated on the controller (real ansible-playbook runs, on
localhost), and validate / runbook check say so."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from engine_fixtures import COLLECTIONS, GOOD, INVENTORY

from chaosrun.base import usertext
from chaosrun.base.usertext import jinja_markers
from chaosrun.base.yamlpos import VaultValue
from chaosrun.hosts import rolespec, runner
from chaosrun.hosts.inventory import load_inventory
from chaosrun.model.experiment import load_experiment
from chaosrun.plan.validation import check
from chaosrun.runbook import compile as compiler
from chaosrun.runbook.check import check_file, warnings

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
SLOW = "{% for x in range(10**9) %}{% endfor %}"


def hostile(marker: Path) -> str:
    return "{{ lookup('pipe', 'touch " + str(marker) + "') }}"


def ansible_env() -> dict[str, str]:
    return {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": f"{BIN}:/usr/bin:/bin"}


def local_inventory(tmp_path: Path) -> Path:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    return inventory


def test_dumper_tags_every_string_value_but_not_keys() -> None:
    text = yaml.dump(
        {"a_var": "x", "items": ["y", {"k": "z"}], "n": 3, "secret": VaultValue("$ANSIBLE")},
        Dumper=runner._VarsDumper,
    )
    assert "a_var: !unsafe 'x'" in text
    assert "- !unsafe 'y'" in text and "k: !unsafe 'z'" in text
    assert "n: 3" in text and "secret: !vault" in text
    assert "&" not in text  # no anchors: each value stands where it is used


def test_fault_vars_are_not_evaluated_by_ansible(tmp_path: Path) -> None:
    """The vars file the engine writes, read by a real ansible-playbook: the value arrives
    verbatim, the lookup does not run, and an endless loop costs nothing."""
    marker = tmp_path / "marker"
    variables = {"demo_path": hostile(marker), "demo_list": [SLOW]}
    vars_file = tmp_path / "vars.yml"
    vars_file.write_text(yaml.dump(variables, Dumper=runner._VarsDumper))
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- name: Use the vars\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Show them\n      ansible.builtin.debug:\n"
        '        msg: "{{ demo_path }} {{ demo_list | length }}"\n'
    )
    started = time.monotonic()
    done = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(local_inventory(tmp_path)), str(playbook),
         "-e", f"@{vars_file}"],
        env=ansible_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "{{ lookup(" in done.stdout  # shown as text
    assert not marker.exists()
    assert time.monotonic() - started < 60


def test_command_probe_is_not_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    answers = runner.run_command(
        pattern="localhost",
        command=f'echo "{hostile(marker)}"',
        inventory=local_inventory(tmp_path),
        work_dir=tmp_path / "work",
        timeout=60,
    )
    rc, out = answers["localhost"]
    assert rc == 0 and "{{ lookup(" in out
    assert not marker.exists()
    assert not list((tmp_path / "work").glob("*.vars.yml"))  # its vars file is gone


def test_runbook_text_is_compiled_unsafe_and_warned_about(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    book_file = tmp_path / "hostile.md"
    book_file.write_text(
        f"# Hostile\n\n## Look {hostile(marker)}\n\nDo it {hostile(marker)} now.\n\n"
        "## Check\n\n```chaosrun\nprometheus: up == 1\nwithin: 5s\nmax: 1\n"
        f'url: "{hostile(marker)}"\n```\n'
    )
    book, _ = check_file(book_file)
    found = warnings(book)
    assert [w.split(":")[1] for w in found] == ["3", "3", "13"]
    assert all("not evaluated" in w for w in found)
    playbook = tmp_path / "hostile.yml"
    playbook.write_text(compiler.dump(book))
    syntax = subprocess.run(
        [str(BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,", str(playbook)],
        env=ansible_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    run = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(local_inventory(tmp_path)), str(playbook),
         "-e", "auto_ack=true", "--tags", "step_1"],
        env=ansible_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Do it {{ lookup(" in run.stdout
    assert not marker.exists()


@pytest.fixture
def _collections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
    rolespec.load_role.cache_clear()


@pytest.mark.usefixtures("_collections")
def test_validate_warns_about_jinja_in_fault_vars(tmp_path: Path) -> None:
    # In the file: an override may not change the fault's options at all.
    file = tmp_path / "jinja.yml"
    text = GOOD.read_text(encoding="utf-8")
    unit = "demo_fault_unit: order-service.service"
    assert unit in text
    file.write_text(text.replace(unit, "demo_fault_unit: \"{{ lookup('pipe', 'id') }}\""))
    line = text[: text.index(unit)].count("\n") + 1
    report = check(load_experiment(file), load_inventory(str(INVENTORY)))
    jinja = [w for w in report.warnings if "Jinja" in w]
    assert jinja == [
        f"{file}:{line}: fault.vars.demo_fault_unit holds Jinja "
        "({{ or {%): it reaches Ansible as plain text and is not evaluated"
    ]


def test_jinja_markers_name_the_paths() -> None:
    data = {"a": "plain", "b": ["x", "{% if %}"], "c": {"d": "{# note #}"}}
    assert list(jinja_markers(data)) == [("b", 1), ("c", "d")]


def test_text_that_looks_like_another_type_stays_text(tmp_path: Path) -> None:
    """Ansible resolves an `!unsafe` scalar's type as if it were plain: `!unsafe 'true'`
    would load as a boolean, so a command probe of `true` ran `True` (rc 127)."""
    from ansible.parsing.yaml.loader import AnsibleLoader

    values = {"a": "true", "b": "1", "c": "null", "d": "yes", "e": "{{ x }}", "f": "echo hi"}
    loaded = yaml.load(yaml.dump(values, Dumper=usertext.UnsafeDumper), Loader=AnsibleLoader)
    assert loaded == values and all(type(v) is not bool for v in loaded.values())
    answers = runner.run_command(
        pattern="localhost",
        command="true",
        inventory=local_inventory(tmp_path),
        work_dir=tmp_path / "work",
        timeout=60,
    )
    assert answers == {"localhost": (0, "")}
