"""Probes: each kind in its own module, all returning a ProbeResult.

`Prober` holds what probes need (the Prometheus source, baselines, the inventory for
command probes) and evaluates a list of probes concurrently, so one slow probe does not
delay the others.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from chaosrun.base.verdict import ProbeResult
from chaosrun.hosts.inventory import load_inventory
from chaosrun.model.apiaccess import ApiAccess
from chaosrun.model.experiment import ProbeSpec
from chaosrun.probes import alert, command, http, prometheus, tcp


@dataclass
class Prober:
    source: prometheus.PrometheusSource | None
    timeout: float
    inventory: Path | None = None
    work_dir: Path | None = None
    alertmanager: ApiAccess | None = None
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # probe -> plain headers
    baselines: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._addresses: dict[str, str] = {}
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="probe")

    def evaluate(self, probe: ProbeSpec) -> ProbeResult:
        try:
            return self._evaluate(probe)
        except Exception as exc:  # a probe must never crash the run: unknown is the answer
            return ProbeResult.unknown(f"probe error: {type(exc).__name__}: {exc}"[:300])

    def _evaluate(self, probe: ProbeSpec) -> ProbeResult:
        if probe.kind == "prometheus":
            if self.source is None:
                return ProbeResult.unknown("no Prometheus URL known")
            return prometheus.evaluate(probe, self.source, self.baselines.get(probe.name))
        if probe.kind == "http":
            return http.evaluate(probe, self.headers.get(probe.name, {}), self.timeout)
        if probe.kind == "alert":
            return alert.evaluate(probe, self._alert_access(probe), self.timeout)
        if probe.kind == "tcp":
            return tcp.evaluate(probe, self._address(probe.config["host"]), self.timeout)
        if self.inventory is None or self.work_dir is None:
            return ProbeResult.unknown("command probes need an inventory")
        return command.evaluate(probe, self.inventory, self.work_dir / "probes", self.timeout)

    def _alert_access(self, probe: ProbeSpec) -> ApiAccess | None:
        """The probe's own URL (with the trust and credentials of the server it names, when
        that is ours), else the run's Alertmanager or Prometheus."""
        source = probe.config["source"]
        known = self.alertmanager if source == "alertmanager" else None
        if known is None and source == "prometheus" and self.source is not None:
            known = self.source.access
        url = probe.config.get("url")
        if url is None:
            return known
        return known.with_url(url) if known else ApiAccess(url)

    def _address(self, host: str) -> str:
        """An inventory host's ansible_host, else the name or address as given (looked up
        once, under a lock: Ansible's inventory is not made for concurrent readers)."""
        with self._lock:
            if host not in self._addresses:
                address = host
                if self.inventory is not None:
                    inventory = load_inventory(str(self.inventory))
                    if inventory.match(host) == [host]:
                        address = inventory.host_info(host).address
                self._addresses[host] = address
            return self._addresses[host]

    def evaluate_all(self, probes: Sequence[ProbeSpec]) -> list[ProbeResult]:
        """Every probe at once; results in the order given."""
        futures = [self._pool.submit(self.evaluate, p) for p in probes]
        return [f.result() for f in futures]

    def take_baselines(self, probes: Sequence[ProbeSpec], window: float) -> dict[str, ProbeResult]:
        """Baselines for probes with relative thresholds, from Prometheus history."""
        wanted = [p for p in probes if p.kind == "prometheus" and p.threshold.relative]
        if not wanted:
            return {}
        if self.source is None:
            return {p.name: ProbeResult.unknown("no Prometheus URL known") for p in wanted}
        source = self.source
        futures = {
            p.name: self._pool.submit(prometheus.baseline, p, source, window) for p in wanted
        }
        results = {name: f.result() for name, f in futures.items()}
        for name, result in results.items():
            if result.value is not None:
                self.baselines[name] = result.value
        return results

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
