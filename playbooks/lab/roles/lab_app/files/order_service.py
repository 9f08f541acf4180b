"""order-service: takes orders, stores them in PostgreSQL and charges them through the
payment service (behind the load balancer). POST /orders, GET /orders[/<id>]."""

from __future__ import annotations

import json
import os
import socket
import sys
import urllib.error
import urllib.request
from decimal import Decimal, InvalidOperation
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from demo_app import App, HttpError, Pool, Settings, pg_connect, serve

HOST = socket.gethostname()


def parse_amount(body: dict[str, Any]) -> Decimal:
    try:
        amount = Decimal(str(body.get("amount", "10")))
    except InvalidOperation:
        raise HttpError(400, "amount must be a number") from None
    if not amount.is_finite() or not 0 < amount < 1_000_000:
        raise HttpError(400, "amount must be between 0 and 1000000")
    return amount.quantize(Decimal("0.01"))


def charge(app: App, order_id: int, amount: Decimal) -> str:
    """Ask the payment service to charge the order; the order's new status."""
    settings = app.settings
    if not settings.payment_url:
        return "paid"
    data = json.dumps({"order_id": order_id, "amount": str(amount)}).encode()
    req = urllib.request.Request(
        settings.payment_url.rstrip("/") + "/payments",
        data=data,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=settings.payment_timeout) as resp:
            if resp.status == 201:
                return "paid"
            app.log_failure(f"payment service answered {resp.status}")
    except (urllib.error.URLError, OSError) as exc:
        app.log_failure(f"payment service: {exc}")
    return "payment_failed"


def row(cols: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    """A result row as JSON-ready values (numbers and timestamps as text)."""
    plain = (int, str, type(None))
    return {c: (v if isinstance(v, plain) else str(v)) for c, v in zip(cols, values, strict=True)}


COLUMNS = ["id", "item", "amount", "status", "served_by", "created_at"]


def build(settings: Settings, pool: Pool) -> App:
    app = App(settings, pool)

    @app.route("POST", "orders")
    def create(body: dict[str, Any], rest: list[str]) -> tuple[int, Any]:
        item = str(body.get("item", "widget"))[:64]
        amount = parse_amount(body)
        with pool.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO orders (item, amount, status, served_by)"
                " VALUES (%s, %s, 'new', %s) RETURNING id",
                (item, amount, HOST),
            )
            order_id = cur.fetchone()[0]
        status = charge(app, order_id, amount)
        with pool.connection() as conn, conn.cursor() as cur:
            cur.execute("UPDATE orders SET status = %s WHERE id = %s", (status, order_id))
        if status != "paid":
            return 502, {"id": order_id, "status": status, "error": "payment failed"}
        return 201, {"id": order_id, "status": status, "served_by": HOST}

    @app.route("GET", "orders")
    def read(body: dict[str, Any], rest: list[str]) -> tuple[int, Any]:
        select = f"SELECT {', '.join(COLUMNS)} FROM orders"
        with pool.connection() as conn, conn.cursor() as cur:
            if not rest:
                cur.execute(select + " ORDER BY id DESC LIMIT 10")
                return 200, [row(COLUMNS, r) for r in cur.fetchall()]
            if not rest[0].isdigit():
                raise HttpError(400, "order id must be a number")
            cur.execute(select + " WHERE id = %s", (int(rest[0]),))
            found = cur.fetchone()
        if found is None:
            raise HttpError(404, f"no order {rest[0]}")
        return 200, row(COLUMNS, found)

    return app


def main() -> None:
    settings = Settings.from_env("order-service")
    serve(build(settings, Pool(pg_connect(settings), settings.pool_size, settings.pool_timeout)))


if __name__ == "__main__":
    main()
