"""The initial load's source side on PostgreSQL: one exported snapshot shared by every worker, key
spans for planning ranges, and a key range read out in that snapshot, masked, as binary COPY."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from harness.core import connections, processes
from harness.core.connections import Database
from harness.engines.postgres import catalog
from harness.target import landing

INTEGER_TYPES = {"smallint", "integer", "bigint"}
PIPE_BYTES = 1 << 20  # what the pipe from psql holds, and the most the reader takes at once


def open_snapshot(conn: psycopg.Connection) -> tuple[str, str]:
    """Export a snapshot from `conn`'s new transaction (open until it ends): (its id, pg_current_snapshot)."""
    conn.execute("set transaction isolation level repeatable read, read only")
    snapshot_id, snapshot = conn.execute("select pg_export_snapshot(), pg_current_snapshot()::text").fetchone()
    return snapshot_id, snapshot


def key_span(conn: psycopg.Connection, schema: str, table: landing.SourceTable) -> tuple[Any, Any, int] | None:
    """(min, max, estimated rows) of an integer leading key; None where the key is not an integer."""
    first = next(c for c in table.columns if c.name == table.key[0])
    if first.type not in INTEGER_TYPES:
        return None
    low, high = conn.execute(
        sql.SQL("select min({k}), max({k}) from {t}").format(
            k=sql.Identifier(first.name), t=catalog.qualified(schema, table.name)
        )
    ).fetchone()
    return low, high, catalog.estimated_rows(conn, schema, table.name)


def range_select(schema: str, table: landing.SourceTable, lower: int | None, upper: int | None) -> sql.Composed:
    """The masked SELECT of one key range (open where a bound is None)."""
    query = landing.select_masked(schema, table)
    key = sql.Identifier(table.key[0])
    conditions = []
    if lower is not None:
        conditions.append(sql.SQL("{} >= {}").format(key, sql.Literal(lower)))
    if upper is not None:
        conditions.append(sql.SQL("{} < {}").format(key, sql.Literal(upper)))
    if conditions:
        query = sql.SQL("{} where {}").format(query, sql.SQL(" and ").join(conditions))
    return query


@contextmanager
def copy_out(source: Database, query: sql.Composable, snapshot_id: str, what: str) -> Iterator[int]:
    """A pipe (file descriptor) carrying `query`'s rows, read in the exported snapshot, as binary COPY.

    psql reads the source and streams COPY's output through the pipe, so the reader moves blocks
    of up to a megabyte instead of handling every row; the pipe is widened, so the source keeps
    sending while the target is written: both sides work at once."""
    script = (
        "begin isolation level repeatable read, read only;\n"
        f"set transaction snapshot '{snapshot_id}';\n"
        f"copy ({query.as_string(None)}) to stdout (format binary);\n"
        "commit;\n"
    )
    psql = [processes.pg_tool("psql", 0), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"]
    env = {**processes.libpq_env(source.url), "PGCLIENTENCODING": connections.CLIENT_ENCODING}  # what the target reads
    with processes.output_of(psql, env=env, script=script, what=what) as stream:
        pipe = stream.fileno()
        _widen(pipe)
        yield pipe


def _widen(pipe: int) -> None:
    """Let the pipe hold a megabyte instead of 64 kB, where the system allows it (Linux)."""
    try:
        import fcntl

        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass  # another system, or a limit below a megabyte: the default pipe works, a little slower
