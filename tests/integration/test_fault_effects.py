"""Each resource and network fault, measured from outside on lab hosts.

Every test injects a fault role with ansible-playbook as the engine would, measures the
effect the way a user would notice it (a peer's round trip, loss, throughput, reachability,
a lookup, node_exporter's CPU, the container's memory, df, a refused connection), rolls back in a
`finally` and measures again. Peers measure with `podman exec` into their container; the
controller is this process.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from chaosrun.lab.topology import NODE_EXPORTER_PORT

PROJECT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab

PLAY = [
    {
        "name": "Run a fault entry point",
        "hosts": "{{ target }}",
        "gather_facts": False,
        "tasks": [
            {
                "name": "Run the entry point",
                "ansible.builtin.include_role": {
                    "name": "chaosrun.chaos.{{ role }}",
                    "tasks_from": "{{ entry }}",
                },
            }
        ],
    }
]


def entry(lab, tmp_path: Path, host: str, role: str, name: str, *flags: str, **variables: Any):
    """Run one entry point of a fault role on one lab host; return the finished process."""
    play = tmp_path / "fault.yml"
    play.write_text(json.dumps(PLAY))
    extra = tmp_path / f"{name}.json"
    extra.write_text(json.dumps({"target": host, "role": role, "entry": name, **variables}))
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(lab.inventory),
         str(play), "-e", f"@{extra}", *flags],
        capture_output=True, text=True, cwd=PROJECT, env=env, timeout=600,
    )  # fmt: skip


@contextmanager
def injected(lab, tmp_path: Path, host: str, role: str, **variables: Any) -> Iterator[dict]:
    """Inject the fault for the block, check verify agrees, always roll back."""
    run = {"chaos_run_id": f"fx-{role.replace('_', '-')}-{int(time.time())}", **variables}
    done = entry(lab, tmp_path, host, role, "inject", chaos_ttl=600, **run)
    try:
        assert done.returncode == 0, done.stdout[-3000:]
        check = entry(lab, tmp_path, host, role, "verify", **{f"{role}_expect": "active"}, **run)
        assert check.returncode == 0, check.stdout[-3000:]
        yield run
    finally:
        back = entry(lab, tmp_path, host, role, "rollback", **run)
        assert back.returncode == 0, back.stdout[-3000:]
    check = entry(lab, tmp_path, host, role, "verify", **{f"{role}_expect": "inactive"}, **run)
    assert check.returncode == 0, check.stdout[-3000:]


def on(lab, host: str, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a command inside a lab host's container (a peer's or the target's view)."""
    return subprocess.run(
        ["podman", "exec", lab.config.container(host), *argv],
        capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "CONTAINERS_CONF": os.environ.get(
            "CONTAINERS_CONF", str(PROJECT / "etc/containers.conf"))},
    )  # fmt: skip


def address(lab, host: str) -> str:
    return next(h.address for h in lab.config.hosts() if h.name == host)


def handshake(lab, peer: str, target: str, samples: int = 5) -> float:
    """Median TCP handshake time (one round trip) from a peer to the target's node_exporter."""
    url = f"http://{address(lab, target)}:{NODE_EXPORTER_PORT}/"
    times = []
    for _ in range(samples):
        out = on(lab, peer, "curl", "-s", "-o", "/dev/null", "-w", "%{time_connect}", url)
        times.append(float(out.stdout))
    return statistics.median(times)


def node_metrics(lab, host: str) -> dict[str, float]:
    """node_exporter's samples on a host, summed by metric and label set we need."""
    url = f"http://{address(lab, host)}:{NODE_EXPORTER_PORT}/metrics"
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    out = {"busy": 0.0}
    for line in text.splitlines():
        if line.startswith("node_cpu_seconds_total{") and 'mode="idle"' not in line:
            out["busy"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("node_memory_MemAvailable_bytes "):
            out["available"] = float(line.split()[1])
    return out


def busy_cores(lab, host: str, seconds: float = 4) -> float:
    before = node_metrics(lab, host)["busy"]
    time.sleep(seconds)
    return (node_metrics(lab, host)["busy"] - before) / seconds


def start_unit(lab, host: str, unit: str, *argv: str) -> None:
    on(lab, host, "systemctl", "stop", unit)
    on(lab, host, "systemctl", "reset-failed", unit)
    assert on(lab, host, "systemd-run", f"--unit={unit}", *argv).returncode == 0


def stop_unit(lab, host: str, unit: str) -> None:
    on(lab, host, "systemctl", "stop", unit)
    on(lab, host, "systemctl", "reset-failed", unit)


def test_latency_delays_a_peers_round_trip(lab, tmp_path: Path) -> None:
    delay = 300
    before = handshake(lab, "lb-1", "order-1")
    with injected(lab, tmp_path, "order-1", "network_latency", network_latency_delay_ms=delay):
        during = handshake(lab, "lb-1", "order-1")
        controller = _controller_handshake(lab, "order-1")
    after = handshake(lab, "lb-1", "order-1")
    assert during - before >= 0.8 * delay / 1000, (before, during)
    assert controller < 0.5 * delay / 1000, controller
    assert after < before + 0.3 * delay / 1000, (before, after)


def _controller_handshake(lab, target: str) -> float:
    start = time.monotonic()
    urllib.request.urlopen(
        f"http://{address(lab, target)}:{NODE_EXPORTER_PORT}/", timeout=10
    ).read()
    return time.monotonic() - start


UDP_ECHO = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7001))
while True:
    data, peer = s.recvfrom(2048)
    try:
        s.sendto(data, peer)
    except OSError:
        pass
"""

UDP_PROBE = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.1)
got, n = 0, int(sys.argv[2])
for i in range(n):
    s.sendto(str(i).encode(), (sys.argv[1], 7001))
    try:
        while s.recvfrom(64)[0] != str(i).encode():
            pass
        got += 1
    except OSError:
        pass
print(100 * (n - got) / n)
"""


def test_loss_drops_the_configured_share(lab, tmp_path: Path) -> None:
    start_unit(lab, "order-2", "fx-udpecho", "python3", "-c", UDP_ECHO)
    try:
        time.sleep(1)
        target = address(lab, "order-2")
        before = float(on(lab, "lb-1", "python3", "-c", UDP_PROBE, target, "100").stdout)
        with injected(lab, tmp_path, "order-2", "network_loss", network_loss_percent=30):
            during = float(on(lab, "lb-1", "python3", "-c", UDP_PROBE, target, "400").stdout)
        after = float(on(lab, "lb-1", "python3", "-c", UDP_PROBE, target, "100").stdout)
    finally:
        stop_unit(lab, "order-2", "fx-udpecho")
    assert before <= 5 and after <= 5, (before, after)
    assert abs(during - 30) <= 10, during


def test_bandwidth_caps_throughput(lab, tmp_path: Path) -> None:
    rate = 250_000  # bytes per second: 2mbit
    assert (
        on(lab, "order-3", "sh", "-c", "head -c 1500000 /dev/urandom > /var/tmp/fx-blob").returncode
        == 0
    )
    start_unit(
        lab, "order-3", "fx-http", "python3", "-m", "http.server", "7002", "--directory", "/var/tmp"
    )
    url = f"http://{address(lab, 'order-3')}:7002/fx-blob"
    try:
        time.sleep(1)
        with injected(
            lab, tmp_path, "order-3", "network_bandwidth", network_bandwidth_rate="2mbit"
        ):
            speed = float(
                on(
                    lab, "lb-1", "curl", "-s", "-o", "/dev/null", "-w", "%{speed_download}", url
                ).stdout
            )
        after = float(
            on(lab, "lb-1", "curl", "-s", "-o", "/dev/null", "-w", "%{speed_download}", url).stdout
        )
    finally:
        stop_unit(lab, "order-3", "fx-http")
        on(lab, "order-3", "rm", "-f", "/var/tmp/fx-blob")
    assert speed <= 1.2 * rate, speed
    assert after > 2 * rate, after


def test_partition_cuts_peers_but_not_the_controller(lab, tmp_path: Path) -> None:
    target = address(lab, "payment-1")
    reach = ["nc", "-z", "-w", "2", target, str(NODE_EXPORTER_PORT)]
    assert on(lab, "lb-1", *reach).returncode == 0
    with injected(lab, tmp_path, "payment-1", "network_partition", network_partition_groups=["lb"]):
        peer = on(lab, "lb-1", *reach).returncode
        other = on(lab, "payment-2", *reach).returncode
        controller = _controller_handshake(lab, "payment-1")
    assert peer != 0, "lb-1 still reaches payment-1"
    assert other == 0, "a host outside the partitioned group was cut too"
    assert controller < 5
    assert on(lab, "lb-1", *reach).returncode == 0


DNS_RESPONDER = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
while True:
    query, peer = s.recvfrom(512)
    end = 12
    while query[end]:
        end += query[end] + 1
    end += 5
    record = b"\\xc0\\x0c\\x00\\x01\\x00\\x01\\x00\\x00\\x00\\x3c\\x00\\x04"
    header = b"\\x81\\x80\\x00\\x01\\x00\\x01\\x00\\x00\\x00\\x00"
    reply = query[:2] + header + query[12:end] + record + socket.inet_aton("192.0.2.7")
    try:
        s.sendto(reply, peer)
    except OSError:
        pass
"""


def lookup(lab, host: str) -> str:
    """Ask the host's own resolver for a name; the lab's traffic never leaves its subnet."""
    out = on(lab, host, "dig", "+short", "+tries=1", "+time=2", "@127.0.0.1", "fx.chaosrun.test")
    return out.stdout.strip()


def test_dns_failure_fails_a_lookup(lab, tmp_path: Path) -> None:
    start_unit(lab, "payment-2", "fx-dns", "python3", "-c", DNS_RESPONDER)
    try:
        time.sleep(1)
        assert lookup(lab, "payment-2") == "192.0.2.7"
        with injected(lab, tmp_path, "payment-2", "dns_failure"):
            during = lookup(lab, "payment-2")
        after = lookup(lab, "payment-2")
    finally:
        stop_unit(lab, "payment-2", "fx-dns")
    assert "192.0.2.7" not in during, during
    assert after == "192.0.2.7", after


def test_netem_backend_is_refused_without_the_module_and_shown_in_check_mode(
    lab, tmp_path: Path
) -> None:
    # This machine's kernel has no sch_netem: netem is exercised as far as it allows.
    run = {"chaos_run_id": "fx-netem-check", "chaos_ttl": 600, "network_latency_delay_ms": 300,
           "network_latency_backend": "netem"}  # fmt: skip
    if not Path("/sys/module/sch_netem").exists():
        refused = entry(lab, tmp_path, "order-1", "network_latency", "inject", **run)
        assert refused.returncode != 0
        assert "has no sch_netem" in refused.stdout, refused.stdout[-3000:]
    shown = entry(lab, tmp_path, "order-1", "network_latency", "inject", "--check", **run)
    assert shown.returncode == 0, shown.stdout[-3000:]
    for command in ("tc qdisc", "prio", "netem delay 300ms", "c4a1:"):
        assert command in shown.stdout, (command, shown.stdout[-3000:])
    # Nothing was applied: no qdisc of ours, no state of the run on the host.
    qdiscs = on(lab, "order-1", "tc", "qdisc", "show").stdout
    assert "c4a1:" not in qdiscs and "netem" not in qdiscs, qdiscs
    assert "fx-netem-check" not in on(lab, "order-1", "ls", "-A", "/var/lib/chaosrun/active").stdout


def test_cpu_stress_shows_busy_cores_in_node_exporter(lab, tmp_path: Path) -> None:
    # node_exporter in a container reports the machine's CPUs, so other load moves the
    # baseline; one extra busy core must still show.
    before = busy_cores(lab, "db-2")
    with injected(lab, tmp_path, "db-2", "cpu_stress", cpu_stress_cores=1):
        time.sleep(1)
        during = busy_cores(lab, "db-2")
    assert during - before >= 0.6, (before, during)


def cgroup_memory(lab, host: str) -> int:
    """Bytes the host's container uses, as its cgroup counts them (v2, else v1)."""
    read = on(lab, host, "sh", "-c",
              "cat /sys/fs/cgroup/memory.current 2>/dev/null"
              " || cat /sys/fs/cgroup/memory/memory.usage_in_bytes")  # fmt: skip
    return int(read.stdout.split()[0])


def test_memory_stress_fills_the_hosts_memory(lab, tmp_path: Path) -> None:
    # node_exporter in a container reads the machine's /proc/meminfo, which anything else
    # on the machine moves by hundreds of MB; the container's cgroup counts only the host.
    amount = 512 << 20  # lab hosts are 1 GiB containers: the role's ceiling counts that limit
    before = cgroup_memory(lab, "db-2")
    with injected(lab, tmp_path, "db-2", "memory_stress", memory_stress_bytes="512M"):
        time.sleep(3)
        during = cgroup_memory(lab, "db-2")
    after = cgroup_memory(lab, "db-2")
    assert during - before >= 0.8 * amount, (before, during)
    assert during - after >= 0.8 * amount, (during, after)


def shm_use(lab, host: str) -> float:
    used, avail = map(
        int, on(lab, host, "df", "-B1", "--output=used,avail", "/dev/shm").stdout.split()[-2:]
    )
    return 100 * used / (used + avail)


def test_disk_fill_reaches_the_target_never_the_ceiling(lab, tmp_path: Path) -> None:
    with injected(lab, tmp_path, "order-1", "disk_fill", disk_fill_path="/dev/shm",
                  disk_fill_percent=50, disk_fill_ceiling_percent=80):  # fmt: skip
        during = shm_use(lab, "order-1")
    assert 48 <= during <= 80, during
    assert shm_use(lab, "order-1") < 10
    refused = entry(lab, tmp_path, "order-1", "disk_fill", "inject", chaos_run_id="fx-disk-over",
                    chaos_ttl=60, disk_fill_path="/dev/shm", disk_fill_percent=90,
                    disk_fill_ceiling_percent=80)  # fmt: skip
    assert refused.returncode != 0
    assert "ceiling" in refused.stdout
    assert shm_use(lab, "order-1") < 10


SLOTS = """
import select, socket
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", 7070))
server.listen(4)
held = []
while True:
    ready, _, _ = select.select(([server] if len(held) < 20 else []) + held, [], [], 1)
    for sock in ready:
        if sock is server:
            try:
                conn, _ = server.accept()
                held.append(conn)
                conn.sendall(b"hello\\n")
            except OSError:
                pass  # a client already gone: the next select finds it closed
            continue
        try:
            data = sock.recv(64)
        except OSError:
            data = b""
        if not data:
            held.remove(sock)
            sock.close()
"""


def test_fd_exhaust_refuses_new_connections(lab, tmp_path: Path) -> None:
    start_unit(lab, "order-2", "fx-slots", "python3", "-c", SLOTS)
    greet = ["sh", "-c", f"printf '' | nc -w 3 {address(lab, 'order-2')} 7070"]

    def greeted() -> bool:
        return "hello" in on(lab, "lb-1", *greet).stdout

    def within(seconds: float, wanted: bool) -> bool:
        """Whether a new client is (or is not) greeted at some point within the time: the
        server and the hog start, and the hog's connections close, at the machine's pace."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if greeted() == wanted:
                return True
            time.sleep(0.5)
        return False

    try:
        assert within(30, True), "the server never greeted a client before the fault"
        with injected(
            lab, tmp_path, "order-2", "fd_exhaust", fd_exhaust_port=7070, fd_exhaust_count=100
        ):
            refused = within(30, False)
        assert refused, "a new client was still greeted while the fault held the slots"
        assert within(30, True), "no client was greeted again after the rollback"
    finally:
        stop_unit(lab, "order-2", "fx-slots")
