"""The engine with observe-only probes: sampled from inject to the end, never an abort
reason, and the journal's cascade in the order the signals showed (fake hosts, a real
HTTP Prometheus; the fixtures of test_engine_run)."""

from __future__ import annotations

import threading

from test_engine_run import RATIO, env, run  # noqa: F401  (env is a fixture)

POOL = "max(pool_in_use / pool_size)"
OBSERVE = "observe={interval: 100ms, probes: [{name: pool exhausted, prometheus: '%s', max: 0.9}]}"


def test_observations_never_abort_and_the_cascade_orders_the_signals(env) -> None:  # noqa: F811
    _, hosts, prom = env
    prom.answers[POOL] = [0.2]

    def fault_starts() -> None:
        prom.answers[POOL] = [1.0]  # the cause shows at once ...
        later = threading.Timer(0.6, prom.answers.__setitem__, (RATIO, [0.5]))
        later.start()  # ... the users' errors a little later

    hosts.on_inject = fault_starts
    outcome, journal = run(env, "duration=20s", OBSERVE % POOL)
    assert (outcome.exit_code, journal["status"]) == (3, "aborted")
    assert "error ratio under 5%" in journal["abort"]["reason"]  # not the observation
    (pool,) = journal["observations"]
    assert pool["role"] == "observe" and pool["threshold"] == {"max": 0.9}
    assert all(p["role"] != "observe" for p in journal["probes"])
    during = [s for s in pool["samples"] if s["phase"] in ("inject", "verify_active", "observe")]
    assert during and during[-1]["verdict"] == "BREACH"
    assert [s["signal"] for s in journal["cascade"]] == ["pool exhausted", "error ratio under 5%"]


def test_runs_without_observations_keep_their_journal_shape(env) -> None:  # noqa: F811
    outcome, journal = run(env)
    assert outcome.exit_code == 0
    assert "observations" not in journal
    assert journal["cascade"] == []
