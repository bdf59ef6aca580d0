"""The control schema's history, read back as time series: what the dashboard and `status --watch` draw.

It also keeps the one series nothing else records: lag samples. `sync --follow` records one after
every batch (landing's and app's lag, the changes still behind), in the control schema's
`lag_samples` table, made here the first time a sample is recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database
from harness.dbt import contract as dbt_contract

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


def _rows(conn: psycopg.Connection, query: sql.Composable, params: tuple = ()) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def _exists(conn: psycopg.Connection, schema: str, name: str) -> bool:
    return conn.execute(
        "select to_regclass(%s) is not null", (control.table(schema, name).as_string(conn),)
    ).fetchone()[0]


def ensure_lag_samples(conn: psycopg.Connection, schema: str) -> None:
    conn.execute(
        sql.SQL(LAG_DDL).format(
            table=control.table(schema, LAG_SAMPLES), index=sql.Identifier(f"{LAG_SAMPLES}_sampled_at")
        )
    )


def record_lag(
    config: Config, target: Database, landing_seconds: float, app_seconds: float, changes_behind: int | None, batch: int
) -> None:
    """One lag sample, now."""
    schema = config.control_schema
    with connections.connection(target, command="sync --follow", autocommit=True) as conn:
        if not _exists(conn, schema, LAG_SAMPLES):
            ensure_lag_samples(conn, schema)
        conn.execute(
            sql.SQL(
                "insert into {} (landing_seconds, app_seconds, changes_behind, batch_changes) values (%s, %s, %s, %s)"
            ).format(control.table(schema, LAG_SAMPLES)),
            (landing_seconds, app_seconds, changes_behind, batch),
        )


def lag_samples(conn: psycopg.Connection, schema: str, limit: int = SHOWN_SAMPLES) -> list[dict[str, Any]]:
    """The newest samples, oldest first."""
    if not _exists(conn, schema, LAG_SAMPLES):
        return []
    return _rows(
        conn,
        sql.SQL(
            "select * from (select sampled_at, landing_seconds, app_seconds, changes_behind, batch_changes from {} "
            "order by sampled_at desc limit %s) s order by sampled_at"
        ).format(control.table(schema, LAG_SAMPLES)),
        (limit,),
    )


def load_progress(conn: psycopg.Connection, schema: str) -> dict[str, Any] | None:
    """The last initial load and, per table, each copied range in the order it finished: (copied_at, rows)."""
    load = _rows(
        conn,
        sql.SQL(
            "select load_id, started_at, finished_at, seconds, rows_copied, status from {} "
            "order by load_id desc limit 1"
        ).format(control.table(schema, "load_runs")),
    )
    if not load:
        return None
    ranges = _rows(
        conn,
        sql.SQL(
            "select table_name, range_no, done, rows_copied, copied_at from {} where load_id = %s "
            "order by table_name, copied_at nulls last, range_no"
        ).format(control.table(schema, "load_ranges")),
        (load[0]["load_id"],),
    )
    return {**load[0], "ranges": ranges}


def reconcile_runs(conn: psycopg.Connection, schema: str, limit: int = 30) -> list[dict[str, Any]]:
    """The newest reconciliations, oldest first, with each level's verdict."""
    return _rows(
        conn,
        sql.SQL(
            "select * from (select reconcile_id, started_at, finished_at, status, levels, level_verdicts from {} "
            "order by reconcile_id desc limit %s) r order by reconcile_id"
        ).format(control.table(schema, "reconcile_runs")),
        (limit,),
    )


def last_run(conn: psycopg.Connection, schema: str, command: str, succeeded: bool = False) -> dict[str, Any] | None:
    """The newest run of `command` (only a succeeded one if asked) with its steps, each with its seconds."""
    runs = _rows(
        conn,
        sql.SQL(
            "select run_id, command, started_at, finished_at, status, detail from {} where command = %s "
            + ("and status = 'succeeded' " if succeeded else "")
            + "order by run_id desc limit 1"
        ).format(control.table(schema, "runs")),
        (command,),
    )
    if not runs:
        return None
    run = runs[0]
    run["steps"] = _rows(
        conn,
        sql.SQL(
            "select step, status, started_at, finished_at, "
            "extract(epoch from finished_at - started_at)::float8 as seconds, "
            "extract(epoch from started_at)::float8 as started_epoch "
            "from {} where run_id = %s order by started_at, step"
        ).format(control.table(schema, "steps")),
        (run["run_id"],),
    )
    return run


def planned_seconds(conn: psycopg.Connection, schema: str, before: datetime | None) -> dict[str, float]:
    """Each step's duration as the runbook planned it before `before` (a cutover's start): the last
    successful rehearsal that finished before it, else the last cutover before it (as
    control.step_seconds, as of that moment)."""
    rows = conn.execute(
        sql.SQL(
            "select distinct on (s.step) s.step, extract(epoch from s.finished_at - s.started_at)::float8 "
            "from {steps} s join {runs} r using (run_id) "
            "where r.command in ('rehearse', 'cutover') and s.status = 'succeeded' "
            "and s.finished_at < coalesce(%s::timestamptz, 'infinity') "
            "order by s.step, (r.command = 'rehearse') desc, s.finished_at desc"
        ).format(steps=control.table(schema, "steps"), runs=control.table(schema, "runs")),
        (before,),
    ).fetchall()
    return dict(rows)


def approvals(conn: psycopg.Connection, schema: str) -> list[dict[str, Any]]:
    return _rows(
        conn,
        sql.SQL(
            "select stage, role, name, note, approved_at, revoked_at from {} order by approved_at, approval_id"
        ).format(control.table(schema, "approvals")),
    )


def dispositions(conn: psycopg.Connection) -> list[dict[str, Any]] | None:
    """Per legacy table: rows, migrated, merged, quarantined (the dbt model dispositions); None when
    the project has not built it."""
    schema, name = dbt_contract.DISPOSITIONS
    if not _exists(conn, schema, name):
        return None
    return _rows(
        conn,
        sql.SQL("select source_table, source_rows, migrated, merged, quarantined from {} order by source_table").format(
            control.table(schema, name)
        ),
    )
