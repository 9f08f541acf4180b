"""A host's inventory variables as a task on the host sees them: templates rendered.

Inventories often give a host's address, user, ssh arguments or zone as a template
(`ansible_host: "{{ ip }}"`, `ansible_ssh_common_args: "-o ProxyJump={{ bastion }}"`,
`zone: "{{ az }}"`); Ansible renders them for every task. chaosrun's own SSH path (preflight,
leases, reverts) and its zone counts read the same variables, so they must see the rendered
values, not the template text (a list or mapping too: the Prometheus access a group var
gives). Each value is rendered when it is first read, with the
host's variables and Ansible's own templating (2.19's trust rules included: a template
from an untrusted source stays text, as it does in a play). Passwords are never rendered:
chaosrun only asks whether one is set, and a lookup behind one stays unrun.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from chaosrun.base.errors import InvalidInput


def _secret(name: str) -> bool:
    return "pass" in name  # ansible_password, ansible_become_pass(word), ...


def _maybe_template(value: Any) -> bool:
    """A string, or a list or mapping holding one (`lab_prometheus_access: {ca_file: ...}`),
    that has Jinja's opening brace."""
    if isinstance(value, str):
        return "{" in value
    if isinstance(value, Mapping):
        return any(_maybe_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_maybe_template(v) for v in value)
    return False


class RenderedVars(Mapping[str, Any]):
    """`variables` (VariableManager.get_vars of one host, its hostvars included), each
    value rendered on first read; a template that fails names `where` and the variable."""

    def __init__(self, variables: Mapping[str, Any], loader: Any, where: str) -> None:
        self._raw = variables
        self._loader = loader
        self._where = where
        self._templar: Any = None
        self._done: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._done:
            self._done[key] = self._render(key, self._raw[key])
        return self._done[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def _render(self, key: str, value: Any) -> Any:
        # Jinja's delimiters all open with "{": most values need no templating engine.
        if _secret(key) or not _maybe_template(value):
            return value
        from ansible.errors import AnsibleError
        from ansible.template import Templar

        if self._templar is None:
            self._templar = Templar(loader=self._loader, variables=self._raw)
        if isinstance(value, str) and not self._templar.is_possibly_template(value):
            return value
        try:
            return self._templar.template(value)
        except AnsibleError as exc:
            raise InvalidInput(f"{self._where}: {key}: {exc.message}") from None
