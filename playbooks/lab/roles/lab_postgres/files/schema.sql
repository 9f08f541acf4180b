-- The lab's shop schema, owned by the application user. Idempotent.
CREATE TABLE IF NOT EXISTS orders (
    id          bigserial PRIMARY KEY,
    item        text NOT NULL,
    amount      numeric(12, 2) NOT NULL,
    status      text NOT NULL,
    served_by   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS payments (
    id          bigserial PRIMARY KEY,
    order_id    bigint NOT NULL,
    amount      numeric(12, 2) NOT NULL,
    signature   text NOT NULL,
    served_by   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS payments_order_id ON payments (order_id);
