"""The lease renewer renews on every tick, tracks failures, and notices lapsed hosts."""

from __future__ import annotations

import threading
import time

from chaosrun.lease import LeaseRenewer


def test_renews_all_hosts_until_stopped():
    calls = []
    done = threading.Event()

    def renew():
        calls.append(time.monotonic())
        if len(calls) >= 4:
            done.set()
        return {"a": True, "b": True}

    with LeaseRenewer(renew, ttl=1.0, every=0.05) as lease:
        assert done.wait(2)
    count = len(calls)
    time.sleep(0.15)
    assert len(calls) == count  # stopped means stopped
    assert set(lease.last_ok) == {"a", "b"} and lease.lapsed() == []


def test_a_host_that_stops_answering_lapses_after_one_ttl():
    now = [0.0]
    answers = {"a": True, "b": True}
    lease = LeaseRenewer(lambda: dict(answers), ttl=30, every=5, clock=lambda: now[0])
    lease.renew_now()
    answers["b"] = False
    for _ in range(5):
        now[0] += 5
        lease.renew_now()
    assert lease.failures["b"] == 5 and lease.lapsed() == []
    now[0] += 5
    lease.renew_now()
    assert lease.lapsed() == ["b"]


def test_a_crashing_renew_does_not_kill_the_thread():
    def renew():
        raise OSError("ssh vanished")

    lease = LeaseRenewer(renew, ttl=1, every=0.01).start()
    time.sleep(0.05)
    assert lease._thread is not None and lease._thread.is_alive()
    lease.stop()
