"""Lag samples: the one series nothing else records. `sync --follow` records one after every batch
(landing's and app's lag, the changes still behind) in the control schema's `lag_samples` table,
made here the first time a sample is recorded; the dashboard and `status --watch` draw them."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database

LAG_SAMPLES = "lag_samples"
LAG_DDL = """
create table if not exists {table} (
    sampled_at      timestamptz not null default clock_timestamp(),
    landing_seconds double precision not null,  -- how far landing is behind the source
    app_seconds     double precision not null,  -- how far app is behind the source
    changes_behind  bigint,                     -- captured but not applied (unknown with timestamp capture)
    batch_changes   integer not null default 0  -- what the batch before the sample applied
);
create index if not exists {index} on {table} (sampled_at);
"""
SHOWN_SAMPLES = 2000  # the newest samples the dashboard draws; older ones stay in the table


def _exists(conn: psycopg.Connection, schema: str, name: str) -> bool:
    return conn.execute(
        "select to_regclass(%s) is not null", (control.table(schema, name).as_string(conn),)
    ).fetchone()[0]


def ensure(conn: psycopg.Connection, schema: str) -> None:
    conn.execute(
        sql.SQL(LAG_DDL).format(
            table=control.table(schema, LAG_SAMPLES), index=sql.Identifier(f"{LAG_SAMPLES}_sampled_at")
        )
    )


def record(
    config: Config, target: Database, landing_seconds: float, app_seconds: float, changes_behind: int | None, batch: int
) -> None:
    """One lag sample, now."""
    schema = config.control_schema
    with connections.connection(target, command="sync --follow", autocommit=True) as conn:
        if not _exists(conn, schema, LAG_SAMPLES):
            ensure(conn, schema)
        conn.execute(
            sql.SQL(
                "insert into {} (landing_seconds, app_seconds, changes_behind, batch_changes) values (%s, %s, %s, %s)"
            ).format(control.table(schema, LAG_SAMPLES)),
            (landing_seconds, app_seconds, changes_behind, batch),
        )


def newest(conn: psycopg.Connection, schema: str, limit: int = SHOWN_SAMPLES) -> list[dict[str, Any]]:
    """The newest samples, oldest first."""
    if not _exists(conn, schema, LAG_SAMPLES):
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            sql.SQL(
                "select * from (select sampled_at, landing_seconds, app_seconds, changes_behind, batch_changes from {} "
                "order by sampled_at desc limit %s) s order by sampled_at"
            ).format(control.table(schema, LAG_SAMPLES)),
            (limit,),
        ).fetchall()
