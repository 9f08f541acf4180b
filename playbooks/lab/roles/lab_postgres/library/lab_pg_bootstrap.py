#!/usr/bin/python3
"""Ansible module: make a PostgreSQL primary hold the lab's roles, database, replication
slots and schema. Idempotent, with honest `changed` (passwords are compared against the
stored SCRAM verifiers, never re-set blindly)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from ansible.module_utils.basic import AnsibleModule

try:
    import psycopg2
    from psycopg2 import sql
except ImportError:  # reported by fail_json below
    psycopg2 = None

DOCUMENTATION = r"""
module: lab_pg_bootstrap
short_description: Ensure the lab's PostgreSQL roles, database, slots and schema
description:
  - Connects over the local socket as the invoking OS user (run it as C(postgres)).
  - Waits up to O(wait) seconds for the server to accept connections.
options:
  socket_dir: {type: str, default: /run/postgresql, description: Unix socket directory.}
  port: {type: int, default: 5432, description: Server port.}
  wait: {type: int, default: 30, description: Seconds to wait for the server.}
  roles:
    type: list
    elements: dict
    default: []
    description: Roles with keys name, password, replication (bool), member_of (list).
  databases:
    type: list
    elements: dict
    default: []
    description: Databases with keys name and owner.
  slots: {type: list, elements: str, default: [], description: Physical replication slots.}
  schema_sql: {type: str, default: '', description: Idempotent SQL run as schema_owner.}
  schema_database: {type: str, default: '', description: Database for schema_sql.}
  schema_owner: {type: str, default: '', description: Role that owns the schema objects.}
"""

EXAMPLES = r"""
- name: Ensure the application role and database
  lab_pg_bootstrap:
    roles: [{name: shop, password: secret}]
    databases: [{name: shop, owner: shop}]
  become: true
  become_user: postgres
"""

RETURN = r"""
changes: {description: What was created or altered., returned: always, type: list}
"""


def scram_matches(verifier: str | None, password: str) -> bool:
    """True when `password` produces the stored SCRAM-SHA-256 verifier."""
    if not verifier or not verifier.startswith("SCRAM-SHA-256$"):
        return False
    try:
        _, rest = verifier.split("$", 1)
        iter_salt, keys = rest.split("$", 1)
        iterations, salt = iter_salt.split(":", 1)
        stored_key = keys.split(":", 1)[0]
        salted = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(salt), int(iterations)
        )
    except ValueError:
        return False
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    expected = base64.b64encode(hashlib.sha256(client_key).digest()).decode()
    return hmac.compare_digest(expected, stored_key)


def connect(params: dict, dbname: str):
    deadline = time.monotonic() + params["wait"]
    while True:
        try:
            conn = psycopg2.connect(
                host=params["socket_dir"], port=params["port"], dbname=dbname, connect_timeout=3
            )
            conn.autocommit = True
            return conn
        except psycopg2.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def ensure_role(cur, role: dict, check: bool) -> list[str]:
    name = role["name"]
    changes = []
    cur.execute("SELECT rolpassword, rolreplication FROM pg_authid WHERE rolname = %s", (name,))
    found = cur.fetchone()
    ident = sql.Identifier(name)
    created = found is None
    if created:
        changes.append(f"create role {name}")
        if not check:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
        found = (None, False)
    password = role.get("password")
    if password and not scram_matches(found[0], password):
        changes.append(f"set password of {name}")
        if not check:
            cur.execute(sql.SQL("ALTER ROLE {} PASSWORD %s").format(ident), (password,))
    if bool(role.get("replication")) != bool(found[1]):
        changes.append(f"set replication of {name}")
        if not check:
            flag = "REPLICATION" if role.get("replication") else "NOREPLICATION"
            cur.execute(sql.SQL("ALTER ROLE {} " + flag).format(ident))
    for group in role.get("member_of") or []:
        member = False
        if not (created and check):  # in check mode a new role does not exist to ask about
            cur.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (name, group))
            member = cur.fetchone()[0]
        if not member:
            changes.append(f"grant {group} to {name}")
            if not check:
                cur.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), ident))
    return changes


def ensure_database(cur, db: dict, check: bool) -> list[str]:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db["name"],))
    if cur.fetchone():
        return []
    if not check:
        cur.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(db["name"]), sql.Identifier(db["owner"])
            )
        )
    return [f"create database {db['name']}"]


def ensure_slot(cur, slot: str, check: bool) -> list[str]:
    cur.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    if cur.fetchone():
        return []
    if not check:
        cur.execute("SELECT pg_create_physical_replication_slot(%s, true)", (slot,))
    return [f"create slot {slot}"]


RELATIONS = (
    "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = 'public' ORDER BY 1"
)


def ensure_schema(params: dict, check: bool) -> list[str]:
    if not params["schema_sql"].strip():
        return []
    conn = connect(params, params["schema_database"])
    try:
        with conn.cursor() as cur:
            cur.execute(RELATIONS)
            before = cur.fetchall()
            if check:
                return [] if before else ["create schema objects"]
            cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(params["schema_owner"])))
            cur.execute(params["schema_sql"])
            cur.execute(RELATIONS)
            after = cur.fetchall()
    finally:
        conn.close()
    return [] if before == after else ["create schema objects"]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "socket_dir": {"type": "str", "default": "/run/postgresql"},
            "port": {"type": "int", "default": 5432},
            "wait": {"type": "int", "default": 30},
            "roles": {"type": "list", "elements": "dict", "default": [], "no_log": True},
            "databases": {"type": "list", "elements": "dict", "default": []},
            "slots": {"type": "list", "elements": "str", "default": []},
            "schema_sql": {"type": "str", "default": ""},
            "schema_database": {"type": "str", "default": ""},
            "schema_owner": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    if psycopg2 is None:
        module.fail_json(msg="python3-psycopg2 is required on the database host")
    params, check = module.params, module.check_mode
    changes: list[str] = []
    try:
        conn = connect(params, "postgres")
        try:
            with conn.cursor() as cur:
                for role in params["roles"]:
                    changes += ensure_role(cur, role, check)
                for db in params["databases"]:
                    changes += ensure_database(cur, db, check)
                for slot in params["slots"]:
                    changes += ensure_slot(cur, slot, check)
        finally:
            conn.close()
        changes += ensure_schema(params, check)
    except psycopg2.Error as exc:
        module.fail_json(msg=f"PostgreSQL: {str(exc).strip()}", changes=changes)
    module.exit_json(changed=bool(changes), changes=changes)


if __name__ == "__main__":
    main()
