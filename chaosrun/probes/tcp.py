"""TCP probes: how long a TCP handshake with a host's port takes (one round trip).

For services that do not speak HTTP (a database port, a message broker): the handshake
is answered by the service host's kernel on the same path the service's own replies
take, so delay or loss on that port shows here. A refused connection or no answer
within the timeout is a BREACH: reaching the port is the very thing measured.
"""

from __future__ import annotations

import socket
import time

from chaosrun.base.verdict import ProbeResult, Verdict
from chaosrun.model.experiment import ProbeSpec


def evaluate(probe: ProbeSpec, address: str, default_timeout: float) -> ProbeResult:
    """Connect to `address` (the probe's host, resolved) on the probe's port and close."""
    cfg = probe.config
    timeout = probe.timeout or default_timeout
    where = f"{cfg['host']}:{cfg['port']}"
    started = time.monotonic()
    try:
        with socket.create_connection((address, cfg["port"]), timeout=timeout):
            latency = time.monotonic() - started
    except TimeoutError:
        return ProbeResult(Verdict.BREACH, None, f"{where}: no handshake within {timeout:g}s")
    except OSError as exc:
        return ProbeResult(Verdict.BREACH, None, f"{where}: {exc.strerror or exc}"[:200])
    evidence = f"{where}: handshake in {latency * 1000:.0f} ms"
    limit = cfg.get("max_latency")
    if limit is not None and latency > limit:
        return ProbeResult(Verdict.BREACH, latency, f"{evidence} (slower than max_latency)")
    return ProbeResult(Verdict.PASS, latency, evidence)
