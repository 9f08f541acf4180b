"""Errors a user hits before the lab touches anything: one clear line each."""

from __future__ import annotations

import socket

import pytest

from chaosrun.base.errors import ChaosrunError, InvalidInput
from chaosrun.lab import network, preflight
from chaosrun.lab.topology import LabConfig


def test_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)
    with pytest.raises(ChaosrunError, match="needs root"):
        preflight.require_root()


@pytest.mark.parametrize(
    ("tool", "package"),
    [("podman", "podman"), ("mmdebstrap", "mmdebstrap"), ("ssh-keygen", "openssh-client")],
)
def test_missing_tool_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch, tool: str, package: str
) -> None:
    monkeypatch.setattr(preflight.shutil, "which", lambda name: None if name == tool else "/x")
    with pytest.raises(ChaosrunError) as err:
        preflight.require_tools()
    assert str(err.value) == f"{tool} is not installed (Debian/Ubuntu package: {package})"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"name": "Bad_Name"}, "lab name 'Bad_Name' (CHAOSRUN_LAB_NAME)"),
        ({"subnet": "10.1.0.0/33"}, "lab subnet '10.1.0.0/33' (CHAOSRUN_LAB_SUBNET)"),
        ({"subnet": "8.8.8.0/24"}, "need a private IPv4 /24"),
        ({"subnet": "10.1.0.0/28"}, "need a private IPv4 /24"),
        ({"order_hosts": 0}, "--hosts 0 (CHAOSRUN_LAB_HOSTS)"),
        ({"port_base": 80}, "port base 80 (CHAOSRUN_LAB_PORT_BASE)"),
    ],
)
def test_bad_lab_settings_name_the_setting(kwargs: dict, needle: str) -> None:
    with pytest.raises(InvalidInput) as err:
        preflight.validate(LabConfig(**kwargs))
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_good_settings_pass() -> None:
    preflight.validate(LabConfig(name="ci-7", subnet="10.213.4.0/24", order_hosts=50))


def test_port_taken_is_refused_with_the_port_and_the_fix() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not preflight.port_free(port)
        with pytest.raises(ChaosrunError) as err:
            preflight.require_port_free(port, "prometheus")
    assert f"port 127.0.0.1:{port} for prometheus is taken" in str(err.value)
    assert "CHAOSRUN_LAB_PORT_BASE" in str(err.value)
    assert preflight.port_free(port)


def test_subnet_used_by_another_podman_network_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    nets = {
        "chaosrun-other": {"subnets": [{"subnet": "10.213.0.0/16"}], "network_interface": "p9"},
    }

    class Done:
        stdout = "chaosrun-other\n"

    monkeypatch.setattr(network.podman, "run", lambda *a, **k: Done())
    monkeypatch.setattr(network, "inspect", lambda name: nets.get(name))
    monkeypatch.setattr(network, "_routes", lambda: [])
    clash = network.conflicts(LabConfig(name="mine", subnet="10.213.7.0/24"))
    assert clash == "podman network chaosrun-other (10.213.0.0/16)"


def test_subnet_routed_elsewhere_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    class Done:
        stdout = ""

    monkeypatch.setattr(network.podman, "run", lambda *a, **k: Done())
    monkeypatch.setattr(network, "inspect", lambda name: None)
    routes = [{"dst": "default", "dev": "eth0"}, {"dst": "10.213.7.0/24", "dev": "wg0"}]
    monkeypatch.setattr(network, "_routes", lambda: routes)
    clash = network.conflicts(LabConfig(name="mine", subnet="10.213.7.0/24"))
    assert clash == "route 10.213.7.0/24 on interface wg0"
    assert network.conflicts(LabConfig(name="mine", subnet="10.213.8.0/24")) is None
