"""Secrets: decrypting Ansible Vault values and keeping every secret out of output.

A `Redactor` knows the secret values of one run (vault plaintexts, values of fault vars
whose argument spec says `no_log`, vars the experiment lists under `fault.secret_vars`)
and replaces them wherever they would be printed or written to the journal.

`secret_env()` names the variables of the operator's shell that hold secrets (those the
project's files name as a secret's source, and the webhook URLs): chaosrun reads them
itself, and cuts them from the environment of every play it starts.
"""

from __future__ import annotations

import os
from typing import Any

from chaosrun.base.errors import InvalidInput
from chaosrun.base.yamlpos import VaultValue

MASK = "********"

# Webhook URLs (their paths often embed a token), read by chaosrun.report.notify.
WEBHOOKS_ENV = "CHAOSRUN_WEBHOOKS"
_secret_env: set[str] = {WEBHOOKS_ENV}


def note_secret_env(name: str) -> None:
    """A secret is read from this variable (`password_env`, `bearer_token_env`,
    `routing_key_env`): no play chaosrun starts is handed it unless it asks."""
    _secret_env.add(name)


def secret_env() -> frozenset[str]:
    """Every variable noted as a secret's source so far, and the webhook URLs."""
    return frozenset(_secret_env)


# What the user gave with --vault-id / --vault-password-file, as ansible-playbook takes it.
_vault_ids: list[str] = []
_vault_password_files: list[str] = []


def configure_vault(ids: list[str] | None, password_files: list[str] | None) -> None:
    """Remember the vault ids for every Ansible run and for chaosrun's own decryption."""
    _vault_ids[:] = list(ids or [])
    _vault_password_files[:] = list(password_files or [])


def vault_args() -> list[str]:
    """ansible-playbook's arguments for the configured vault ids."""
    args: list[str] = []
    for vault_id in _vault_ids:
        args += ["--vault-id", vault_id]
    for path in _vault_password_files:
        args += ["--vault-password-file", path]
    return args


def vault_secrets() -> list[Any]:
    """The secrets ansible-playbook would have: Ansible's configured identities
    (vault_identity_list) and the given vault ids, then the given password files and the
    configured one (ANSIBLE_VAULT_PASSWORD_FILE)."""
    from ansible import constants
    from ansible.errors import AnsibleError
    from ansible.parsing.dataloader import DataLoader

    ids = [*constants.DEFAULT_VAULT_IDENTITY_LIST, *_vault_ids]
    files = list(_vault_password_files)
    # ansible.constants read the environment once, at import; the variable may be newer.
    env = os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE")
    if env and env != constants.DEFAULT_VAULT_PASSWORD_FILE:
        files.append(env)
    if not ids and not files and not constants.DEFAULT_VAULT_PASSWORD_FILE:
        return []  # nothing to read: Ansible's CLI module (and its SSH agent's crypto) stays out
    from ansible.cli import CLI

    try:
        return CLI.setup_vault_secrets(
            DataLoader(),
            vault_ids=ids,
            vault_password_files=files,
            ask_vault_pass=False,
            auto_prompt=False,
            initialize_context=False,
        )
    except AnsibleError as exc:
        raise InvalidInput(f"vault: {str(exc).splitlines()[0]}") from None


def decrypt(value: VaultValue, where: str) -> str:
    """Plaintext of a `!vault` value, or InvalidInput naming `where` when it cannot be read."""
    from ansible.parsing.vault import VaultLib

    secrets = vault_secrets()
    if not secrets:
        raise InvalidInput(
            f"{where}: a !vault value needs --vault-id, --vault-password-file "
            "or ANSIBLE_VAULT_PASSWORD_FILE"
        )
    try:
        plain = VaultLib(secrets).decrypt(value.ciphertext)
    except Exception as exc:  # ansible raises AnsibleError and friends for bad data/password
        raise InvalidInput(f"{where}: cannot decrypt the !vault value ({exc})") from None
    return plain.decode("utf-8", "replace")


class Redactor:
    """Replaces known secret values in strings and nested data."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: object) -> None:
        text = value if isinstance(value, str) else str(value)
        # Tiny values (a digit, "on") would mask unrelated text; they are still masked
        # where they appear as whole field values (see `mask_fields`).
        if len(text) >= 4:
            self._values.add(text)

    def text(self, value: str) -> str:
        for secret in sorted(self._values, key=len, reverse=True):
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, VaultValue):
            return MASK
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def mask_fields(values: dict[str, Any], secret_names: set[str]) -> dict[str, Any]:
    """A copy of `values` with the named fields and any vault values masked."""
    return {
        k: MASK if k in secret_names or isinstance(v, VaultValue) else v for k, v in values.items()
    }
