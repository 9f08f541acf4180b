"""Secrets: decrypting Ansible Vault values and keeping every secret out of output.

A `Redactor` knows the secret values of one run (vault plaintexts, values of fault vars
whose argument spec says `no_log`, vars the experiment lists under `fault.secret_vars`)
and replaces them wherever they would be printed or written to the journal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from chaosrun.errors import InvalidInput
from chaosrun.yamlpos import VaultValue

MASK = "********"


def vault_password_file() -> Path | None:
    """The vault password file Ansible would use (ANSIBLE_VAULT_PASSWORD_FILE)."""
    value = os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE")
    return Path(value) if value else None


def decrypt(value: VaultValue, where: str) -> str:
    """Plaintext of a `!vault` value, or InvalidInput naming `where` when it cannot be read."""
    from ansible.constants import DEFAULT_VAULT_ID_MATCH
    from ansible.parsing.vault import VaultLib, VaultSecret

    path = vault_password_file()
    if path is None or not path.is_file():
        raise InvalidInput(f"{where}: a !vault value needs ANSIBLE_VAULT_PASSWORD_FILE")
    secret = VaultSecret(path.read_bytes().strip())
    try:
        plain = VaultLib([(DEFAULT_VAULT_ID_MATCH, secret)]).decrypt(value.ciphertext)
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
