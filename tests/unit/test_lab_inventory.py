"""The lab inventory: groups and variables of the interface, parsed by real ansible-inventory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from chaosrun.lab import inventory
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig

LAB = LabConfig(name="unit", subnet="10.99.0.0/24", port_base=30000, order_hosts=4)
GROUPS = {
    "order_service", "payment_service", "lb", "db", "db_primary", "db_replica",
    "zone_a", "zone_b", "app",
}  # fmt: skip


def parsed(tmp_path: Path, lab: LabConfig = LAB) -> dict:
    """The inventory as ansible itself reads it."""
    path = inventory.write(lab, LabPaths(tmp_path / "state"), root=tmp_path)
    assert path == tmp_path / "inventories" / lab.name / "hosts"
    out = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(path), "--list"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"},
    )
    return json.loads(out.stdout)


def test_ansible_reads_every_group_and_host(tmp_path: Path) -> None:
    data = parsed(tmp_path)
    assert set(data["lab"]["children"]) == GROUPS - {"order_service", "payment_service"}
    assert set(data["app"]["children"]) == {"order_service", "payment_service"}
    assert data["order_service"]["hosts"] == ["order-1", "order-2", "order-3", "order-4"]
    assert data["db_primary"]["hosts"] == ["db-1"]
    assert data["db_replica"]["hosts"] == ["db-2"]
    assert data["lb"]["hosts"] == ["lb-1"]
    zones = set(data["zone_a"]["hosts"]) | set(data["zone_b"]["hosts"])
    assert zones == {h.name for h in LAB.hosts()}


def test_host_and_group_vars(tmp_path: Path) -> None:
    hostvars = parsed(tmp_path)["_meta"]["hostvars"]
    for host in LAB.hosts():
        got = hostvars[host.name]
        assert got["ansible_host"] == host.address
        assert got["zone"] == host.zone
        assert got["ansible_user"] == "chaos" and got["ansible_become"] is True
        known = tmp_path / "state/ssh/known_hosts"
        assert got["ansible_ssh_common_args"] == (
            f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes"
        )
        assert got["ansible_ssh_private_key_file"] == str(tmp_path / "state/ssh/id_ed25519")
        assert got["ansible_python_interpreter"] == "/usr/bin/python3"
        assert got["lab_name"] == "unit"
        assert got["lab_subnet"] == "10.99.0.0/24"
        assert got["lab_gateway"] == "10.99.0.1"
        assert got["lab_prometheus_url"] == "https://127.0.0.1:30000"
        assert got["lab_alertmanager_url"] == "https://127.0.0.1:30003"
        access = {
            "ca_file": str(tmp_path / "state/tls/ca.pem"),
            "basic_auth": {
                "username": "chaosrun",
                "password_file": str(tmp_path / "state/tls/password"),
            },
        }
        assert got["lab_prometheus_access"] == got["lab_alertmanager_access"] == access
        assert got["lab_webhook_url"] == "http://127.0.0.1:30004"


def test_write_leaves_an_unchanged_file_alone(tmp_path: Path) -> None:
    paths = LabPaths(tmp_path / "state")
    path = inventory.write(LAB, paths, root=tmp_path)
    before = path.stat().st_mtime_ns
    inventory.write(LAB, paths, root=tmp_path)
    assert path.stat().st_mtime_ns == before
    bigger = LabConfig(name="unit", subnet="10.99.0.0/24", port_base=30000, order_hosts=5)
    inventory.write(bigger, paths, root=tmp_path)
    assert (
        "order-5"
        in yaml.safe_load(path.read_text())["all"]["children"]["lab"]["children"]["app"][
            "children"
        ]["order_service"]["hosts"]
    )


def test_bastion_lab_reaches_hosts_through_the_jump_host(tmp_path: Path) -> None:
    """`--bastion`: every host but the bastion says ProxyJump (with the lab's ssh config
    for the jump), and the fast path, which derives its ssh line from Ansible's settings,
    says it too."""
    from dataclasses import replace

    from chaosrun.hosts.inventory import Inventory
    from chaosrun.lab import bastion

    lab = replace(LAB, bastion=True)
    data = parsed(tmp_path, lab)
    hostvars = data["_meta"]["hostvars"]
    assert data["bastion"]["hosts"] == ["bastion-1"]
    assert hostvars["bastion-1"]["ansible_host"] == "10.99.0.5"
    assert "ProxyJump" not in hostvars["bastion-1"]["ansible_ssh_common_args"]
    jump = f"-F {tmp_path / 'state/ssh/config'} -o ProxyJump=chaos@10.99.0.5"
    for host in LAB.hosts():
        assert hostvars[host.name]["ansible_ssh_common_args"].endswith(jump), host.name
    fast = Inventory(tmp_path / "inventories" / "unit" / "hosts").host_info("order-1")
    assert "ProxyJump=chaos@10.99.0.5" in fast.ssh_args
    text = bastion.config_text(lab, LabPaths(tmp_path / "state"))
    assert "Host 10.99.0.5\n" in text and "StrictHostKeyChecking yes" in text
    assert bastion.config_text(LAB, LabPaths(tmp_path / "state")) == ""


def test_bastion_firewall_refuses_only_the_controllers_ssh() -> None:
    from dataclasses import replace

    from chaosrun.lab import bastion

    on = bastion.firewall_script(replace(LAB, bastion=True))
    assert "--dport 22 -s 10.99.0.1" in on and on.startswith("iptables -C ")
    assert "|| iptables -I INPUT" in on
    off = bastion.firewall_script(LAB)
    assert off.startswith("while iptables -D INPUT") and bastion.TAG in off
