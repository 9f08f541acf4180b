"""Inventory templates reach chaosrun's own SSH path and zone counts rendered, as a task on
the host would see them (ansible-core's inventory and templating, no fakes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosrun.base.errors import InvalidInput
from chaosrun.hosts.inventory import Inventory
from chaosrun.model.zones import zone_map

INVENTORY = """\
all:
  vars:
    bastion: jump.example
    ansible_ssh_common_args: "-o ProxyJump={{ bastion }} -o ServerAliveInterval=5"
    zone: "{{ region }}-{{ az }}"
    region: eu
    tls_dir: /etc/chaos/tls
    lab_prometheus_access: {ca_file: "{{ tls_dir }}/ca.pem", timeout: 3}
  hosts:
    web-1:
      ip: 10.0.0.5
      az: a
      ansible_host: "{{ ip }}"
      ansible_user: "{{ 'deploy' }}"
      ansible_port: "{{ 2200 + 22 }}"
      ansible_become: "{{ true }}"
      ansible_become_password: "{{ lookup('pipe', 'touch ' ~ marker) }}"
      marker: MARKER
    web-2:
      ansible_host: 10.0.0.6
      az: b
    broken:
      ansible_host: "{{ no_such_variable }}"
      az: a
"""


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY.replace("MARKER", str(tmp_path / "looked-up")))
    return Inventory(path)


def test_connection_settings_are_rendered(inventory: Inventory) -> None:
    info = inventory.host_info("web-1")
    assert (info.address, info.user, info.port, info.become) == ("10.0.0.5", "deploy", 2222, True)
    assert info.ssh_args[-4:] == ("-o", "ProxyJump=jump.example", "-o", "ServerAliveInterval=5")
    assert inventory.host_info("web-2").address == "10.0.0.6"


def test_a_password_is_noticed_never_rendered(inventory: Inventory, tmp_path: Path) -> None:
    assert inventory.host_info("web-1").become_password is True
    assert not (tmp_path / "looked-up").exists()  # the lookup behind it never ran


def test_zones_and_group_vars_are_read_rendered(inventory: Inventory) -> None:
    assert zone_map(inventory, ["web-1", "web-2"]) == {"eu-a": ["web-1"], "eu-b": ["web-2"]}
    assert inventory.group_var("bastion") == "jump.example"
    access = inventory.group_var("lab_prometheus_access")
    assert access == {"ca_file": "/etc/chaos/tls/ca.pem", "timeout": 3}


def test_a_template_that_fails_names_the_inventory_host_and_variable(
    inventory: Inventory, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput) as caught:
        inventory.host_info("broken")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'hosts.yml'}: host broken: ansible_host: ")
    assert "no_such_variable" in message


def test_a_relative_key_is_found_where_the_plays_find_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ansible hands ssh the key path as written, so ssh takes it from the directory the
    plays run in (where chaosrun runs), not from the inventory's."""
    (tmp_path / "inventories").mkdir()
    path = tmp_path / "inventories" / "hosts.yml"
    path.write_text("all:\n  hosts:\n    web-1:\n      ansible_ssh_private_key_file: keys/id\n")
    monkeypatch.chdir(tmp_path)
    assert Inventory(path).host_info("web-1").key_file == str(tmp_path / "keys" / "id")
