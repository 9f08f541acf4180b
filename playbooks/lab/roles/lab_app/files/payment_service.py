"""payment-service: charges orders. POST /payments signs the charge (a little real CPU
work) and records it in PostgreSQL; GET /payments/<id> reads one back. A reconciler
counts recent payments whose amount disagrees with their order's, as
`demo_payment_amount_mismatches`: how the application notices bad rows."""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from demo_app import App, HttpError, Pool, Settings, pg_connect, serve
from order_service import parse_amount, row

HOST = socket.gethostname()
SIGN_ROUNDS = 2000  # about a millisecond of CPU per payment
COLUMNS = ["id", "order_id", "amount", "signature", "served_by", "created_at"]
RECONCILE_EVERY = 5.0
# Only recent payments: the lab runs for hours and the check runs every few seconds.
MISMATCHES = (
    "SELECT count(*) FROM payments p JOIN orders o ON o.id = p.order_id"
    " WHERE p.created_at > now() - interval '1 hour' AND p.amount <> o.amount"
)


class Reconciler:
    """The books check of a payment service: every few seconds, count the payments of
    the last hour whose amount is not their order's. Unknown while the database is not
    answering, so a dashboard never reads a stale zero."""

    def __init__(self, pool: Pool, every: float = RECONCILE_EVERY) -> None:
        self.pool = pool
        self.every = every
        self.mismatches: int | None = None

    def check(self) -> None:
        try:
            with self.pool.connection() as conn, conn.cursor() as cur:
                cur.execute(MISMATCHES)
                self.mismatches = int(cur.fetchone()[0])
        except Exception:  # the request path reports database trouble; here: unknown
            self.mismatches = None

    def start(self) -> None:
        """Check every `every` seconds on a daemon thread, for the life of the service."""

        def loop() -> None:
            while True:
                time.sleep(self.every)
                self.check()

        threading.Thread(target=loop, name="reconciler", daemon=True).start()

    def gauges(self) -> dict[str, float]:
        if self.mismatches is None:
            return {}
        return {"demo_payment_amount_mismatches": float(self.mismatches)}


def sign(order_id: int, amount: str) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", f"{order_id}:{amount}".encode(), b"lab", SIGN_ROUNDS)
    return digest.hex()[:32]


def build(settings: Settings, pool: Pool, reconciler: Reconciler | None = None) -> App:
    app = App(settings, pool)
    if reconciler is not None:
        base = app.metrics.gauges
        app.metrics.gauges = lambda: {**base(), **reconciler.gauges()}

    @app.route("POST", "payments")
    def create(body: dict[str, Any], rest: list[str]) -> tuple[int, Any]:
        order_id = body.get("order_id")
        if not isinstance(order_id, int) or order_id <= 0:
            raise HttpError(400, "order_id must be a positive integer")
        amount = parse_amount(body)
        signature = sign(order_id, str(amount))
        with pool.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO payments (order_id, amount, signature, served_by)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (order_id, amount, signature, HOST),
            )
            payment_id = cur.fetchone()[0]
        return 201, {"id": payment_id, "order_id": order_id, "signature": signature}

    @app.route("GET", "payments")
    def read(body: dict[str, Any], rest: list[str]) -> tuple[int, Any]:
        if not rest or not rest[0].isdigit():
            raise HttpError(400, "use GET /payments/<id>")
        with pool.connection() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT {', '.join(COLUMNS)} FROM payments WHERE id = %s", (int(rest[0]),))
            found = cur.fetchone()
        if found is None:
            raise HttpError(404, f"no payment {rest[0]}")
        return 200, row(COLUMNS, found)

    return app


def main() -> None:
    settings = Settings.from_env("payment-service")
    pool = Pool(pg_connect(settings), settings.pool_size, settings.pool_timeout)
    reconciler = Reconciler(pool)
    reconciler.start()
    serve(build(settings, pool, reconciler))


if __name__ == "__main__":
    main()
