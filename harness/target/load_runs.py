"""The initial load's record in the control schema: each load (`load_runs`), its key ranges
(`load_ranges`, each marked done in the transaction that copies it), the tables reloaded alone
(`table_loads`), and the watermark a finished load hands to sync (`sync_state`)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from harness.core import control

STREAM = control.STREAM


def unfinished(conn: psycopg.Connection, schema: str) -> int | None:
    """The load still running (interrupted, or under way), if any."""
    (load_id,) = conn.execute(
        sql.SQL("select max(load_id) from {} where status = 'running'").format(control.table(schema, "load_runs"))
    ).fetchone()
    return load_id


def first_snapshot(conn: psycopg.Connection, schema: str, load_id: int) -> str:
    """The source snapshot of the load's first attempt: sync starts from it."""
    (snapshot,) = conn.execute(
        sql.SQL("select first_snapshot from {} where load_id = %s").format(control.table(schema, "load_runs")),
        (load_id,),
    ).fetchone()
    return snapshot


def start(conn: psycopg.Connection, schema: str, snapshot: str) -> int:
    """A new load from this snapshot, in the caller's transaction; sync's watermark goes with the old load."""
    (load_id,) = conn.execute(
        sql.SQL("insert into {} (first_snapshot) values (%s) returning load_id").format(
            control.table(schema, "load_runs")
        ),
        (snapshot,),
    ).fetchone()
    conn.execute(sql.SQL("delete from {} where stream = %s").format(control.table(schema, "sync_state")), (STREAM,))
    return load_id


def plan_ranges(conn: psycopg.Connection, schema: str, load_id: int, table: str, ranges: list[tuple[Any, Any]]) -> None:
    """The table's key ranges [lower, upper) to copy, numbered in order."""
    for range_no, (lower, upper) in enumerate(ranges):
        conn.execute(
            sql.SQL(
                "insert into {} (load_id, table_name, range_no, lower_key, upper_key) values (%s, %s, %s, %s, %s)"
            ).format(control.table(schema, "load_ranges")),
            (load_id, table, range_no, lower, upper),
        )


def planned(conn: psycopg.Connection, schema: str, load_id: int) -> dict[str, int]:
    """The ranges planned per table."""
    return dict(
        conn.execute(
            sql.SQL("select table_name, count(*) from {} where load_id = %s group by table_name").format(
                control.table(schema, "load_ranges")
            ),
            (load_id,),
        ).fetchall()
    )


def pending(conn: psycopg.Connection, schema: str, load_id: int) -> list[tuple[str, int, Any, Any]]:
    """The ranges not copied yet, (table, range_no, lower, upper) by table and range."""
    return conn.execute(
        sql.SQL(
            "select table_name, range_no, lower_key, upper_key from {} where load_id = %s and not done "
            "order by table_name, range_no"
        ).format(control.table(schema, "load_ranges")),
        (load_id,),
    ).fetchall()


def range_done(
    conn: psycopg.Connection,
    schema: str,
    load_id: int,
    table: str,
    range_no: int,
    rows: int,
    size: int,
    snapshot: str,
) -> None:
    """A range copied, in the transaction that copied it."""
    conn.execute(
        sql.SQL(
            "update {} set done = true, rows_copied = %s, bytes_copied = %s, snapshot = %s, "
            "copied_at = clock_timestamp() where load_id = %s and table_name = %s and range_no = %s"
        ).format(control.table(schema, "load_ranges")),
        (rows, size, snapshot, load_id, table, range_no),
    )


def totals(conn: psycopg.Connection, schema: str, load_id: int) -> list[tuple[str, int, int, int]]:
    """Per table, by name: (table, ranges, rows copied, bytes copied)."""
    rows = conn.execute(
        sql.SQL(
            "select table_name, count(*), sum(rows_copied), sum(bytes_copied) from {} where load_id = %s "
            "group by table_name order by table_name"
        ).format(control.table(schema, "load_ranges")),
        (load_id,),
    ).fetchall()
    return [(name, ranges, int(copied or 0), int(size or 0)) for name, ranges, copied, size in rows]


def finish(conn: psycopg.Connection, schema: str, load_id: int, rows: int, size: int) -> None:
    """The load succeeded, in the caller's transaction: sync starts from its first attempt's snapshot
    (replaying full row images is idempotent, so ranges copied under a later snapshot after a resume
    converge too)."""
    (snapshot,) = conn.execute(
        sql.SQL(
            "update {} set status = 'succeeded', finished_at = clock_timestamp(), "
            "seconds = extract(epoch from clock_timestamp() - started_at), rows_copied = %s, bytes_copied = %s "
            "where load_id = %s returning first_snapshot"
        ).format(control.table(schema, "load_runs")),
        (rows, size, load_id),
    ).fetchone()
    conn.execute(
        sql.SQL(
            "insert into {} (stream, snapshot) values (%s, %s) on conflict (stream) "
            "do update set snapshot = excluded.snapshot, applied_at = clock_timestamp(), changes_applied = 0, "
            "built_at = null, built_snapshot = null"
        ).format(control.table(schema, "sync_state")),
        (STREAM, snapshot),
    )


def sync_started(conn: psycopg.Connection, schema: str) -> bool:
    """Whether a load has finished and handed sync its watermark."""
    row = conn.execute(
        sql.SQL("select 1 from {} where stream = %s").format(control.table(schema, "sync_state")), (STREAM,)
    ).fetchone()
    return row is not None


def table_loaded(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    snapshot: str,
    seconds: float,
    rows: int,
    size: int,
    how: str,
    dropped: list[str],
) -> None:
    """A table reloaded alone in its own snapshot (sync skips the changes the copy holds), in the copy's transaction."""
    conn.execute(
        sql.SQL(
            "insert into {} (table_name, snapshot, seconds, rows_copied, bytes_copied, how, dropped_dependents) "
            "values (%s, %s, %s, %s, %s, %s, %s)"
        ).format(control.table(schema, "table_loads")),
        (table, snapshot, seconds, rows, size, how, dropped),
    )
