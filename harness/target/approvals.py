"""The approvals table of the control schema: sign-offs recorded, withdrawn and read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from harness.core import control

COLUMNS = ("approval_id", "stage", "role", "name", "note", "approved_at", "os_user", "host")


def _table(schema: str) -> sql.Composed:
    return control.table(schema, "approvals")


def _columns() -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, COLUMNS))


def standing(conn: psycopg.Connection, schema: str, stage: str, role: str, since: datetime | None) -> tuple | None:
    """The newest sign-off of this stage and role not revoked and given since `since` (None: ever), as COLUMNS."""
    return conn.execute(
        sql.SQL(
            "select {} from {} where stage = %s and role = %s and revoked_at is null "
            "and approved_at >= coalesce(%s::timestamptz, '-infinity') order by approval_id desc limit 1"
        ).format(_columns(), _table(schema)),
        (stage, role, since),
    ).fetchone()


def record(
    conn: psycopg.Connection, schema: str, stage: str, role: str, name: str, note: str | None, user: str, host: str
) -> tuple:
    """A new sign-off, as COLUMNS."""
    return conn.execute(
        sql.SQL(
            "insert into {} (stage, role, name, note, os_user, host) values (%s, %s, %s, %s, %s, %s) returning {}"
        ).format(_table(schema), _columns()),
        (stage, role, name, note, user, host),
    ).fetchone()


def revoke(conn: psycopg.Connection, schema: str, approval_id: int, revoked_by: str) -> None:
    conn.execute(
        sql.SQL("update {} set revoked_at = clock_timestamp(), revoked_by = %s where approval_id = %s").format(
            _table(schema)
        ),
        (revoked_by, approval_id),
    )


def standing_per_role(conn: psycopg.Connection, schema: str, stage: str | None = None) -> list[tuple]:
    """The newest sign-off not revoked of each stage and role (of one stage where given), as COLUMNS."""
    return conn.execute(
        sql.SQL(
            "select distinct on (stage, role) {} from {} where revoked_at is null and (%s::text is null or stage = %s) "
            "order by stage, role, approved_at desc"
        ).format(_columns(), _table(schema)),
        (stage, stage),
    ).fetchall()


def approved_roles(conn: psycopg.Connection, schema: str, stage: str) -> set[str]:
    """The roles with a sign-off of the stage not revoked."""
    return {
        role
        for (role,) in conn.execute(
            sql.SQL("select distinct role from {} where stage = %s and revoked_at is null").format(_table(schema)),
            (stage,),
        ).fetchall()
    }


def every(conn: psycopg.Connection, schema: str) -> list[tuple]:
    """Every sign-off ever recorded, revoked ones too, oldest first: COLUMNS, revoked_at, revoked_by."""
    return conn.execute(
        sql.SQL("select {}, revoked_at, revoked_by from {} order by approved_at, approval_id").format(
            _columns(), _table(schema)
        )
    ).fetchall()


def signoffs(conn: psycopg.Connection, schema: str) -> list[dict[str, Any]]:
    """Every sign-off, revoked ones too, oldest first, as dicts (what the dashboard lists)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            sql.SQL(
                "select stage, role, name, note, approved_at, revoked_at from {} order by approved_at, approval_id"
            ).format(_table(schema))
        ).fetchall()
