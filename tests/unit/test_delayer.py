"""The userspace delayer's netlink encoding, checked without a kernel queue.

The delayer (network_latency/files/chaosrun-delayer) is measured for real in molecule and
the lab tests; here its message framing is checked byte by byte, so a regression shows
without root or a lab.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import struct
from pathlib import Path

PATH = (
    Path(__file__).resolve().parents[2]
    / "collections/ansible_collections/chaosrun/chaos/roles/network_latency/files/chaosrun-delayer"
)


def load():
    loader = importlib.machinery.SourceFileLoader("chaosrun_delayer", str(PATH))
    spec = importlib.util.spec_from_loader("chaosrun_delayer", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def packet_message(packet_id: int) -> bytes:
    """A queued-packet message as the kernel sends it: header, nfgenmsg, one packet header."""
    hdr = struct.pack("!IHB", packet_id, 0x0800, 3) + b"\0"
    attr = struct.pack("=HH", 4 + 7, 1) + hdr[:7] + b"\0"
    body = struct.pack("=BBH", 2, 0, 0) + attr
    return struct.pack("=IHHII", 16 + len(body), (3 << 8) | 0, 0, 0, 0) + body


def test_packet_ids_are_read_from_every_message_in_a_datagram() -> None:
    delayer = load()
    data = packet_message(7) + packet_message(4242)
    assert list(delayer.packet_ids(data)) == [7, 4242]


def test_verdict_message_accepts_one_packet_on_its_queue() -> None:
    delayer = load()
    attr = delayer._attr(delayer.NFQA_VERDICT_HDR, struct.pack("!II", delayer.NF_ACCEPT, 99))
    raw = delayer._message(delayer.NFQNL_MSG_VERDICT, 61738, attr)
    length, kind, flags = struct.unpack_from("=IHH", raw)
    assert length == len(raw) == 16 + 4 + 12
    assert kind == (3 << 8) | 1 and flags == 1
    assert struct.unpack_from("!H", raw, 18)[0] == 61738
    assert struct.unpack_from("!II", raw, 24) == (1, 99)


def test_a_truncated_datagram_yields_nothing() -> None:
    delayer = load()
    assert list(delayer.packet_ids(packet_message(5)[:10])) == []
