"""The lease renewer renews on every tick, tracks failures, and notices lapsed hosts."""

from __future__ import annotations

import itertools
import threading
import time

from chaosrun.run.lease import GONE, LeaseRenewer


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


def test_a_renewal_slower_than_the_lease_is_not_a_lapse():
    """The known false abort: a renewal that takes longer than the lease but gets through
    proves the host still holds; its answer, not the clock, decides. A late renewal that
    finds the fault gone does lapse."""
    now = [0.0]
    seen: list[list[str]] = []
    answer = ["renewed"]
    lease = LeaseRenewer(lambda: {"a": True}, ttl=15, every=3, clock=lambda: now[0])
    lease.renew_now()

    def renew():
        now[0] += 20  # the machine is busy: this renewal takes longer than a whole lease
        seen.append(lease.lapsed())  # what the guardrail monitor sees meanwhile
        return {"a": answer[0]}

    lease.renew = renew
    now[0] = 3.0
    lease.renew_now()
    assert seen == [[]]
    now[0] += 3.5  # the monitor ticks between renewals: 26.5 s after the last one was sent
    assert lease.lapsed() == []
    answer[0] = "gone"  # the next one, as slow, finds the dead-man reverted the fault
    lease.renew_now()
    assert seen[-1] == [] and lease.lapsed() == ["a"]


def test_held_then_gone_is_a_lapse_at_once_and_gone_before_inject_is_not():
    answers = {"a": "gone", "b": "gone"}
    lease = LeaseRenewer(lambda: dict(answers), ttl=30, every=5, clock=lambda: 0.0)
    lease.renew_now()  # before inject made the state directory: nothing held yet
    assert lease.lapsed() == []
    answers.update(a="renewed", b="renewed")
    lease.renew_now()
    answers["b"] = "gone"  # the dead-man reverted b (a late renewal found nothing)
    lease.renew_now()
    assert lease.lapsed() == ["b"]


def test_a_disarmed_dead_man_is_lost_control_even_on_the_first_answer():
    answers = {"a": "renewed", "b": "disarmed"}
    lease = LeaseRenewer(lambda: dict(answers), ttl=30, every=5, clock=lambda: 0.0)
    lease.renew_now()  # b rebooted while the run's first renewal was on its way
    assert lease.disarmed_hosts() == ["b"]
    assert lease.lapsed() == ["b"]


def test_renewals_keep_their_cadence_when_one_is_slow():
    """A renewal held up (a host rebooting under it) does not push the next ones back."""
    starts: list[float] = []
    done = threading.Event()

    def renew():
        starts.append(time.monotonic())
        if len(starts) == 2:
            time.sleep(0.6)  # slower than the interval
        if len(starts) >= 5:
            done.set()
        return {"a": True}

    with LeaseRenewer(renew, ttl=10.0, every=0.5):
        assert done.wait(10)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[1] < 0.9, gaps  # the next starts right after the slow one, not 0.5 s later
    assert all(g < 0.8 for g in gaps[2:]), gaps


def test_a_host_held_by_inject_whose_fault_went_before_any_renewal_saw_it_lapses():
    # Inject returned, then the host rebooted (its boot guard reverted the fault) before
    # any renewal answered "renewed": its later "gone" still means the fault is gone.
    now = [0.0]
    answers = {"a": GONE}
    lease = LeaseRenewer(lambda: dict(answers), ttl=30, every=3, clock=lambda: now[0])
    lease.renew_now()  # before inject armed anything
    assert lease.lapsed() == []
    now[0] += 1
    lease.hold(["a"])
    answers["a"] = False  # rebooting
    now[0] += 2
    lease.renew_now()
    answers["a"] = GONE  # back, the fault reverted at boot
    now[0] += 3
    lease.renew_now()
    assert lease.lapsed() == ["a"]


def test_a_gone_answer_sent_before_the_hold_does_not_count():
    # A renewal sent before inject armed the host, answered after the engine marked it
    # held: its "gone" is about the time before the fault, not after it.
    now = [0.0]
    lease = LeaseRenewer(lambda: {}, ttl=30, every=3, clock=lambda: now[0])

    def renew_answered_after_the_hold():
        now[0] += 1
        lease.hold(["a"])
        return {"a": GONE}

    lease.renew = renew_answered_after_the_hold
    lease.renew_now()
    assert lease.lapsed() == []
    lease.renew = lambda: {"a": GONE}
    now[0] += 3
    lease.renew_now()
    assert lease.lapsed() == ["a"]
