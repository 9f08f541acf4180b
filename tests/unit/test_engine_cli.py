"""`chaosrun validate` and `plan` through cli.main, as a user runs them; and vault secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_fixtures import COLLECTIONS, GOOD, INVENTORY
from engine_fixtures import main_in_process as chaosrun

from chaosrun.hosts import rolespec


@pytest.fixture(autouse=True)
def _collections(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
    monkeypatch.setenv("CHAOSRUN_CONFIG", str(tmp_path / "chaosrun.yml"))
    (tmp_path / "chaosrun.yml").write_text(f"run_dir: {tmp_path / 'runs'}\n")
    rolespec.load_role.cache_clear()


def test_validate_prints_detection_time_and_rate_warning() -> None:
    code, out, err = chaosrun("validate", str(GOOD), "-i", str(INVENTORY))
    assert code == 0, err
    text = " ".join(out.split())
    assert "guardrail 'error ratio under 5%': worst-case detection 5.0s" in text
    assert "scrape 1s + window 2s + 1 x interval 1s + timeout 1s" in text
    assert "rate window 2s is shorter than four scrape intervals" in err


def test_validate_json_and_many_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("title: x\n")
    code, out, err = chaosrun("validate", str(GOOD), str(bad), "-i", str(INVENTORY), "--json")
    assert code == 2
    doc = json.loads(out)
    assert [f["ok"] for f in doc["files"]] == [True, False]
    assert doc["files"][0]["detection"][0]["worst_case_s"] == 5.0
    assert "bad.yml:1: (document): missing required key 'targets'" in err


def test_plan_shows_hosts_and_touches_nothing(tmp_path: Path) -> None:
    code, out, err = chaosrun("plan", str(GOOD), "-i", str(INVENTORY), "--json", "--seed", "1")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["targets"]["matched"] == ["order-1", "order-2", "order-3"]
    assert len(doc["targets"]["selected"]) == 1
    assert doc["fault"]["role"] == "testns.faults.demo_fault"
    assert not (tmp_path / "runs").exists()


def test_plan_refuses_impossible_selection(tmp_path: Path) -> None:
    exp = tmp_path / "wide.yml"
    exp.write_text(GOOD.read_text() + "blast_radius: {max_percent: 100, allow_whole_group: true}\n")
    code, _, err = chaosrun(
        "plan", str(exp), "-i", str(INVENTORY), "--set", "targets.select.count=5"
    )
    assert code == 4
    assert "asked for 5 hosts but only 3 match" in err


def test_vault_values_never_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible.constants import DEFAULT_VAULT_ID_MATCH
    from ansible.parsing.vault import VaultLib, VaultSecret

    password = tmp_path / "vault-pass"
    password.write_text("correct horse\n")
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(password))
    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(b"correct horse"))])
    cipher = vault.encrypt("the-vault-plaintext").decode()
    exp = tmp_path / "exp.yml"
    indented = "\n".join("      " + line for line in cipher.splitlines())
    exp.write_text(
        GOOD.read_text().replace(
            "    demo_fault_unit: order-service.service\n",
            "    demo_fault_unit: order-service.service\n"
            f"    demo_fault_token: !vault |\n{indented}\n",
        )
    )
    code, out, err = chaosrun("plan", str(exp), "-i", str(INVENTORY), "--json")
    assert code == 0, err
    assert "the-vault-plaintext" not in out + err
    assert json.loads(out)["fault"]["vars"]["demo_fault_token"] == "********"
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(tmp_path / "missing"))
    code, _, err = chaosrun("validate", str(exp), "-i", str(INVENTORY))
    assert code == 2
    assert "missing was not found" in err


def test_project_guardrails_join_every_experiment(tmp_path: Path) -> None:
    (tmp_path / "chaosrun.yml").write_text(
        f"run_dir: {tmp_path / 'runs'}\nguardrails:\n  interval: 3s\n  probes:\n"
        "    - {name: org-wide, prometheus: up, min: 1}\n"
        "    - {name: error ratio under 5%, prometheus: up, min: 1}\n"
    )
    code, out, err = chaosrun("plan", str(GOOD), "-i", str(INVENTORY), "--json")
    assert code == 0, err
    names = [p["name"] for p in json.loads(out)["guardrails"]["probes"]]
    assert names == ["error ratio under 5%", "latency not much above baseline", "org-wide"]
    code, out, err = chaosrun("validate", str(GOOD), "-i", str(INVENTORY))
    assert "org-wide" in out
    (tmp_path / "chaosrun.yml").write_text("guardrails:\n  probes:\n    - {name: x, min: 1}\n")
    code, _, err = chaosrun("validate", str(GOOD), "-i", str(INVENTORY))
    assert code == 2
    assert "guardrails.probes[0]: a probe needs exactly one of" in err


def _with_prod_vaulted_token(tmp_path: Path) -> Path:
    """An experiment whose fault vars hold a value vaulted with id "prod", whose password
    is in tmp_path/prod-pass."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    (tmp_path / "prod-pass").write_text("prod secret\n")
    vault = VaultLib([("prod", VaultSecret(b"prod secret"))])
    cipher = vault.encrypt("the-prod-plaintext", vault_id="prod").decode()
    exp = tmp_path / "exp.yml"
    indented = "\n".join("      " + line for line in cipher.splitlines())
    exp.write_text(
        GOOD.read_text().replace(
            "    demo_fault_unit: order-service.service\n",
            "    demo_fault_unit: order-service.service\n"
            f"    demo_fault_token: !vault |\n{indented}\n",
        )
    )
    return exp


def test_vault_ids_decrypt_and_reach_ansible(tmp_path: Path, monkeypatch) -> None:
    from chaosrun.base import secrets
    from chaosrun.hosts import runner

    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    (tmp_path / "dev-pass").write_text("dev secret\n")
    exp = _with_prod_vaulted_token(tmp_path)
    ids = [
        "--vault-id",
        f"dev@{tmp_path / 'dev-pass'}",
        "--vault-id",
        f"prod@{tmp_path / 'prod-pass'}",
    ]
    code, out, err = chaosrun("plan", str(exp), "-i", str(INVENTORY), "--json", *ids)
    assert code == 0, err
    assert "the-prod-plaintext" not in out + err
    # The same ids go to every ansible-playbook the engine starts.
    assert runner.playbook_args("-e", "@v.yml").split() == ["-e", "@v.yml", *ids]
    secrets.configure_vault([], [])
    code, _, err = chaosrun("plan", str(exp), "-i", str(INVENTORY), "--json")
    assert code == 2 and "needs --vault-id" in err


def test_ansibles_configured_vault_identities_decrypt_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vault_identity_list (ansible.cfg, or ANSIBLE_VAULT_IDENTITY_LIST) is read as
    ansible-playbook reads it: a team that keeps its vault ids there needs no --vault-id."""
    from engine_fixtures import run_fresh

    exp = _with_prod_vaulted_token(tmp_path)
    probe = "import sys; from chaosrun.cli import main; sys.argv[0] = 'chaosrun'; main()"
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    args = ("plan", str(exp), "-i", str(INVENTORY), "--json")
    done = run_fresh(tmp_path, probe, *args)
    assert done.returncode == 2 and "needs --vault-id" in done.stderr, done.stderr
    monkeypatch.setenv("ANSIBLE_VAULT_IDENTITY_LIST", f"prod@{tmp_path / 'prod-pass'}")
    done = run_fresh(tmp_path, probe, *args)
    assert done.returncode == 0, done.stderr
    assert "the-prod-plaintext" not in done.stdout + done.stderr
    assert json.loads(done.stdout)["fault"]["vars"]["demo_fault_token"] == "********"


def test_a_dependency_s_import_warning_does_not_reach_the_operator(tmp_path: Path) -> None:
    """ansible-core imports a cryptography API that newer cryptography deprecates: the
    warning is Ansible's to fix, not the operator's, and would lead every command's
    output."""
    from engine_fixtures import run_fresh

    probe = "import sys; from chaosrun.cli import main; sys.argv[0] = 'chaosrun'; main()"
    done = run_fresh(tmp_path, probe, "validate", str(GOOD), "-i", str(INVENTORY))
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
