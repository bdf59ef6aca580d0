"""The backups table of the control schema: each archive's manifest, and its proven restore."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from harness.core import control

MANIFEST = (
    "backup_id",
    "side",
    "file",
    "server_version",
    "size_bytes",
    "sha256",
    "row_counts",
    "checksums",
    "database_options",
    "log_position",
)


def _table(schema: str) -> sql.Composed:
    return control.table(schema, "backups")


def record(
    conn: psycopg.Connection,
    schema: str,
    side: str,
    file: str,
    server_version: str,
    size_bytes: int,
    sha256: str,
    row_counts: dict,
    checksums: dict,
    database_options: dict,
    log_position: str | None,
) -> int:
    """A new archive's manifest; its backup_id."""
    (backup_id,) = conn.execute(
        sql.SQL(
            "insert into {} (side, file, server_version, size_bytes, sha256, row_counts, checksums, database_options, "
            "log_position) values (%s, %s, %s, %s, %s, %s, %s, %s, %s) returning backup_id"
        ).format(_table(schema)),
        (
            side,
            file,
            server_version,
            size_bytes,
            sha256,
            json.dumps(row_counts),
            json.dumps(checksums),
            json.dumps(database_options),
            log_position,
        ),
    ).fetchone()
    return backup_id


def manifest(conn: psycopg.Connection, schema: str, backup_id: int | None, side: str) -> tuple | None:
    """The manifest (MANIFEST) of backup `backup_id`, or where None of the side's newest backup."""
    where = sql.SQL("backup_id = %s") if backup_id is not None else sql.SQL("side = %s")
    return conn.execute(
        sql.SQL("select {} from {} where {} order by backup_id desc limit 1").format(
            sql.SQL(", ").join(map(sql.Identifier, MANIFEST)), _table(schema), where
        ),
        (backup_id if backup_id is not None else side,),
    ).fetchone()


def verified(conn: psycopg.Connection, schema: str, backup_id: int, into: str) -> None:
    """The backup was restored into `into` and proven against its manifest."""
    conn.execute(
        sql.SQL("update {} set verified_at = clock_timestamp(), verified_into = %s where backup_id = %s").format(
            _table(schema)
        ),
        (into, backup_id),
    )


def newest_verified(conn: psycopg.Connection, schema: str, side: str) -> tuple[datetime, datetime] | None:
    """(taken_at, verified_at) of the side's newest verified backup."""
    return conn.execute(
        sql.SQL(
            "select taken_at, verified_at from {} where side = %s and verified_at is not null "
            "order by backup_id desc limit 1"
        ).format(_table(schema)),
        (side,),
    ).fetchone()


def newest_per_side(conn: psycopg.Connection, schema: str) -> list[dict[str, Any]]:
    """Each side's newest backup: id, side, taken_at, size_bytes, verified_at, verified_into, rows (in all)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            sql.SQL(
                "select distinct on (side) backup_id, side, taken_at, size_bytes, verified_at, verified_into, "
                "(select coalesce(sum(value::bigint), 0) from jsonb_each_text(row_counts)) as rows "
                "from {} order by side, backup_id desc"
            ).format(_table(schema))
        ).fetchall()
