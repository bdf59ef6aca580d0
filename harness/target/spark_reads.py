"""The Spark comparison's side of the target (harness/reconcile/spark.py compares): the drawing
session's sampled keys kept in a schema of this run's own, which Spark's own JDBC connections can see
(a temporary table they cannot), the key ranges each side is read in, and the schema dropped after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from harness.target.samples import SAMPLE_TABLE

SCHEMA_PREFIX = "_migrate_rc_"


@contextmanager
def kept_sample(conn: psycopg.Connection) -> Iterator[tuple[str, str]]:
    """The temporary sample table copied into a new schema, committed, and first in `conn`'s search path;
    yields (the schema, that search path, which Spark's connections set too). The schema is dropped at the end."""
    schema = f"{SCHEMA_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("create table {} as select * from {}").format(
                sql.Identifier(schema, SAMPLE_TABLE), sql.Identifier(SAMPLE_TABLE)
            )
        )
        # The temporary sample table goes with this commit; the copy, first in the search path, takes its name.
        path = _search_path(conn, schema)
        conn.execute(sql.SQL("select set_config('search_path', %s, false)"), (path,))
        conn.commit()
        yield schema, path
    finally:
        conn.rollback()
        conn.execute("reset search_path")
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
        conn.commit()


def key_ranges(conn: psycopg.Connection, schema: str, key: list[str], keys: list[str], step: int) -> list[str]:
    """WHERE clauses over the queries' key columns (`keys`, the aliases of the app's `key`), each
    about `step` sampled keys of the sample kept in `schema`, as text."""
    columns = sql.SQL(", ").join(sql.Identifier(k) for k in key)
    bounds = conn.execute(
        sql.SQL(
            "select {columns} from (select {columns}, row_number() over (order by {columns}) as n from {sample}) as s "
            "where n % {step} = 1 and n > 1 order by {columns}"
        ).format(columns=columns, sample=sql.Identifier(schema, SAMPLE_TABLE), step=sql.Literal(step))
    ).fetchall()
    conn.rollback()
    target = sql.SQL("({})").format(sql.SQL(", ").join(sql.Identifier(k) for k in keys))

    def row(values: tuple) -> sql.Composed:
        return sql.SQL("({})").format(sql.SQL(", ").join(sql.Literal(v) for v in values))

    clauses: list[sql.Composable] = []
    lower = None
    for bound in [*bounds, None]:
        parts = []
        if lower is not None:
            parts.append(sql.SQL("{} >= {}").format(target, row(lower)))
        if bound is not None:
            parts.append(sql.SQL("{} < {}").format(target, row(bound)))
        clauses.append(sql.SQL(" and ").join(parts) if parts else sql.SQL("true"))
        lower = bound
    return [clause.as_string(conn) for clause in clauses]


def _search_path(conn: psycopg.Connection, schema: str) -> str:
    """This run's schema first, then the target's own search path (expected_sql may name its functions)."""
    (current,) = conn.execute("select current_setting('search_path')").fetchone()
    return f"{sql.Identifier(schema).as_string(conn)}, {current}"
