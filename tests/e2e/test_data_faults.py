"""End-to-end runs of the data faults (level 4) on the lab, asserted from the journal and
from the lab itself (podman exec on the hosts, the webhook receiver, PostgreSQL queries).

Issue 8, "Done when" 2: the replication pause is seen by a probe, the ReplicationLag
alert reaches the lab's pager during the experiment, and after rollback the replica
catches up and holds the same rows as the primary (checksum); exit 0.
Issue 8, "Done when" 5: file_corrupt, db_row_corrupt and backup_restore_drill leave the
data matching the checksum taken before the fault.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from typing import Any

import pytest
from engine_support import parse_time, query
from safety_support import (  # noqa: F401  (fixtures)
    PROJECT,
    Lab,
    Project,
    project_fixture,
    safety_lab_fixture,
)

from chaosrun.lab import wait

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
EXPERIMENTS = PROJECT / "experiments"
PRIMARY, REPLICA, LB = "db-1", "db-2", "lb-1"
BACKUP_DIR = "/var/backups/chaosrun"
PSQL = "cd / && runuser -u postgres -- psql -X -At"
FINAL = "created_at < now() - interval '10 s'"
MISMATCH_PROBE = "payments disagreeing with their order"
RECONCILED = 'max(demo_payment_amount_mismatches{job="payment_service"})'


def run_json(project: Project, *args: str, timeout: float = 600) -> tuple[Any, dict, dict]:
    done = project.chaosrun("run", *args, "--json", timeout=timeout)
    try:
        result = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"no JSON (rc {done.returncode}): {done.stdout[-1000:]} {done.stderr[-3000:]}")
    return done, result, project.journal(result["run_id"])


def psql(lab: Lab, host: str, sql: str, db: str = "shop") -> str:
    """One psql call as the postgres superuser on a lab host (tuples only, `|` between)."""
    return lab.on_host(host, f"{PSQL} -q -d {db} <<'CHAOSRUN_SQL'\n{sql}\nCHAOSRUN_SQL")


def phase(journal: dict, name: str) -> dict:
    return next(p for p in journal["phases"] if p["name"] == name)


def receipts(lab: Lab, host: str, run_id: str) -> list[dict]:
    """The restore receipts a revert script left for this run on the host."""
    out = lab.on_host(host, "cat /var/lib/chaosrun/restored.jsonl 2>/dev/null")
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [r for r in lines if r.get("run_id") == run_id]


def rows_checksum(lab: Lab, host: str, table: str, upto: int) -> str:
    sql = (
        "SET TimeZone = 'UTC';\n"
        f"SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY id), ''))"
        f" FROM {table} AS t WHERE id <= {upto};"
    )
    return psql(lab, host, sql)


def assert_replica_holds_primary_rows(lab: Lab) -> None:
    """Rows older than 10 s are final (the order service updates an order's status right
    after creating it); once the replica replayed past the primary's WAL position, both
    must hold exactly the same such rows."""
    line = psql(
        lab,
        PRIMARY,
        f"SELECT (SELECT coalesce(max(id), 0) FROM orders WHERE {FINAL}),"
        f" (SELECT coalesce(max(id), 0) FROM payments WHERE {FINAL}), pg_current_wal_lsn();",
    )
    orders, payments, lsn = line.split("|")
    assert int(orders) > 0 and int(payments) > 0, f"the lab wrote no rows: {line}"
    deadline = time.monotonic() + 60
    while psql(lab, REPLICA, f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn;") != "t":
        assert time.monotonic() < deadline, f"the replica did not replay up to {lsn} in 60 s"
        time.sleep(0.5)
    for table, upto in (("orders", int(orders)), ("payments", int(payments))):
        on_primary = rows_checksum(lab, PRIMARY, table, upto)
        on_replica = rows_checksum(lab, REPLICA, table, upto)
        assert on_primary == on_replica, f"{table} <= {upto}: {on_primary} != {on_replica}"


def notifications(project: Project, since: str) -> list[dict]:
    url = f"http://127.0.0.1:{project.lab.config.webhook_port}/notifications?since={since}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def pages_for(notes: list[dict], alert: str) -> list[dict]:
    """Alertmanager's deliveries that carry `alert` firing."""
    found = []
    for note in notes:
        body = note.get("body")
        alerts = body.get("alerts", []) if isinstance(body, dict) else []
        if any(
            a.get("status") == "firing" and a.get("labels", {}).get("alertname") == alert
            for a in alerts
        ):
            found.append(note)
    return found


def test_replication_pause_is_detected_paged_and_caught_up(project: Project) -> None:
    lab = project.lab
    done, result, journal = run_json(project, str(EXPERIMENTS / "replication-pause.yml"))
    assert done.returncode == 0, (result, done.stderr[-3000:])
    assert journal["status"] == "passed", journal.get("abort")
    assert journal["targets"]["selected"] == [REPLICA]

    # Seen by a probe: the lag crossed the alert's 5 s while the fault was on.
    lag = next(o for o in journal["observations"] if o["name"] == "replication lag over 5 s")
    seen = [s for s in lag["samples"] if s["verdict"] == "BREACH"]
    assert seen and max(s["value"] for s in seen) > 5, lag["samples"][-5:]
    signals = {c["signal"] for c in journal["cascade"]}
    assert {"replication lag over 5 s", "ReplicationLag firing in Prometheus"} <= signals, signals

    # Paged within the experiment: Alertmanager delivered ReplicationLag firing to the pager
    # between the inject and the end of the run.
    inject_at = phase(journal, "inject")["started_at"]
    pages = pages_for(notifications(project, inject_at), "ReplicationLag")
    assert pages, "ReplicationLag never reached the webhook receiver"
    first = parse_time(pages[0]["time"])
    assert parse_time(inject_at) <= first <= parse_time(journal["ended_at"])
    print(f"paged {first - parse_time(inject_at):.1f}s after inject")

    # Caught up: recovery held (lag back under 2 s, streaming), and no data was lost.
    assert journal["recovery"]["recovered"] is True
    assert psql(lab, REPLICA, "SELECT pg_is_wal_replay_paused();") == "f"
    assert_replica_holds_primary_rows(lab)
    assert lab.active_dirs(REPLICA) == []
    project.assert_no_active_fault()


def test_file_corrupt_restores_the_file_exactly(project: Project) -> None:
    lab = project.lab
    path = "/etc/haproxy/haproxy.cfg"
    look = f"sha256sum {path} | cut -d' ' -f1; stat -c '%i %a %U %Y' {path}"
    before = lab.on_host(LB, look)
    done, result, journal = run_json(project, str(EXPERIMENTS / "file-corrupt-lb-config.yml"))
    assert done.returncode == 0, (result, done.stderr[-3000:])
    assert journal["status"] == "passed", journal.get("abort")
    assert phase(journal, "verify_active")["outcome"] == "ok"
    # Same content, inode, mode, owner and modification time as before the fault.
    assert lab.on_host(LB, look) == before
    (receipt,) = receipts(lab, LB, journal["run_id"])
    assert receipt["sha256"] == before.split()[0]
    assert lab.active_dirs(LB) == []
    project.assert_no_active_fault()


def test_db_row_corrupt_restores_the_rows_exactly(project: Project) -> None:
    lab = project.lab
    # The experiment picks settled payments (over a minute old): a lab up for less than
    # a minute or so has none yet, and its inject rightly refuses.
    settled = "SELECT count(*) FROM payments WHERE created_at < now() - interval '65 s';"
    assert wait.until(lambda: int(psql(lab, PRIMARY, settled) or 0) >= 5, 120, interval=2.0)
    # Payments are never written after they are created: every row that exists now keeps
    # its checksum unless the fault (which picks rows older than a minute) changed it.
    upto = int(psql(lab, PRIMARY, "SELECT max(id) FROM payments;"))
    before = rows_checksum(lab, PRIMARY, "payments", upto)
    done, result, journal = run_json(project, str(EXPERIMENTS / "row-corrupt-payments.yml"))
    assert done.returncode == 0, (result, done.stderr[-3000:])
    assert journal["status"] == "passed", journal.get("abort")
    assert phase(journal, "verify_active")["outcome"] == "ok"
    (receipt,) = receipts(lab, PRIMARY, journal["run_id"])
    assert receipt["rows"] == "5", receipt
    assert rows_checksum(lab, PRIMARY, "payments", upto) == before
    # The application noticed: its reconciler counted the five payments that no longer
    # match their order while the fault was on, and none once they were restored.
    (books,) = [o for o in journal["observations"] if o["name"] == MISMATCH_PROBE]
    assert max(s["value"] or 0 for s in books["samples"]) == 5, books["samples"][-5:]
    server = lab.prometheus
    reconciled = wait.until(lambda: query(server, RECONCILED) == [0.0], 30, interval=1.0)
    assert reconciled, f"the reconciler still counts mismatches: {query(server, RECONCILED)}"
    # The restore replicated too.
    assert_replica_holds_primary_rows(lab)
    assert lab.active_dirs(PRIMARY) == []
    project.assert_no_active_fault()


def take_backup(project: Project) -> None:
    playbook = project.root / "backup.yml"
    playbook.write_text(
        "- name: Take a verifiable backup of the shop database\n"
        f"  hosts: {PRIMARY}\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - name: Dump the database with its manifest\n"
        "      ansible.builtin.include_role:\n"
        "        name: chaosrun.chaos.backup_restore_drill\n"
        "        tasks_from: backup\n"
        "      vars:\n"
        "        backup_restore_drill_database: shop\n"
        f"        backup_restore_drill_backup_dir: {BACKUP_DIR}\n"
    )
    done = subprocess.run(
        [
            str(PROJECT / ".venv/bin/ansible-playbook"),
            "-i",
            str(project.lab.inventory),
            str(playbook),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT,
        env={**project.env(), "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg")},
    )
    assert done.returncode == 0, done.stdout[-3000:]


def test_backup_restore_drill_restores_what_was_backed_up(project: Project) -> None:
    lab = project.lab
    take_backup(project)
    proc = project.start("run", str(EXPERIMENTS / "restore-drill.yml"), "--json")
    try:
        run_id, _journal = project.wait_for_phase(proc, "observe")
        # The test's own measurement of the scratch instance: the restored payments up to
        # the backup's last id minus a margin (ids of transactions still open at backup
        # time may come later) equal the primary's, which are never written again.
        scratch = f"-h /var/tmp/chaosrun-drill-{run_id} -p 55432"
        restored_max = lab.on_host(
            PRIMARY,
            f"{PSQL} {scratch} -d drill -c 'SELECT max(id) FROM payments'",
        )
        upto = int(restored_max) - 50
        assert upto > 0, restored_max
        sql = (
            "SET TimeZone = 'UTC'; SELECT count(*) || ' ' ||"
            " md5(string_agg(t::text, E'\\n' ORDER BY id))"
            f" FROM payments AS t WHERE id <= {upto};"
        )
        restored = lab.on_host(
            PRIMARY,
            f"{PSQL} -q {scratch} -d drill <<'SQL'\n{sql}\nSQL",
        )
        assert restored == rows_checksum(lab, PRIMARY, "payments", upto)
        _out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    journal = project.journal(run_id)
    assert journal["status"] == "passed", journal.get("abort")
    assert phase(journal, "verify_active")["outcome"] == "ok"
    assert lab.on_host(PRIMARY, f"test -e /var/tmp/chaosrun-drill-{run_id} && echo left") == ""
    assert lab.active_dirs(PRIMARY) == []
    project.assert_no_active_fault()
