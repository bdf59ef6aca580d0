"""Reconciliation on the target: its record in the control schema (`reconcile_runs`, one row per
check in `reconcile_verdicts`) and that record read back (the rollback criteria), the dbt model
`quarantine.dispositions` it accounts rows by, and whether `app` is behind landing."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from harness.core import control
from harness.dbt import contract as dbt_contract
from harness.engines import postgres


def start(conn: psycopg.Connection, schema: str, run_id: int, levels: list[str]) -> int:
    (reconcile_id,) = conn.execute(
        sql.SQL("insert into {} (run_id, levels) values (%s, %s) returning reconcile_id").format(
            control.table(schema, "reconcile_runs")
        ),
        (run_id, levels),
    ).fetchone()
    return reconcile_id


def at_snapshot(conn: psycopg.Connection, schema: str, reconcile_id: int, snapshot: str) -> None:
    """The source snapshot both sides are compared as of."""
    conn.execute(
        sql.SQL("update {} set source_snapshot = %s where reconcile_id = %s").format(
            control.table(schema, "reconcile_runs")
        ),
        (snapshot, reconcile_id),
    )


def failed(conn: psycopg.Connection, schema: str, reconcile_id: int) -> None:
    """Stopped by an error: no verdict."""
    conn.execute(
        sql.SQL("update {} set status = 'failed', finished_at = clock_timestamp() where reconcile_id = %s").format(
            control.table(schema, "reconcile_runs")
        ),
        (reconcile_id,),
    )


def record(
    conn: psycopg.Connection,
    schema: str,
    reconcile_id: int,
    status: str,
    level_verdicts: dict[str, str],
    report: dict[str, Any],
    checks: Iterable[tuple[str, str, str, str | None, str | None, str]],
) -> None:
    """The verdict, the report and every check (level, name, verdict, source figure, target figure,
    detail), in one transaction."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "update {} set finished_at = clock_timestamp(), status = %s, level_verdicts = %s, report = %s "
                "where reconcile_id = %s"
            ).format(control.table(schema, "reconcile_runs")),
            (status, json.dumps(level_verdicts), json.dumps(report, default=str), reconcile_id),
        )
        for check in checks:
            cur.execute(
                sql.SQL(
                    "insert into {} (reconcile_id, level, check_name, verdict, source_value, target_value, detail) "
                    "values (%s, %s, %s, %s, %s, %s, %s)"
                ).format(control.table(schema, "reconcile_verdicts")),
                (reconcile_id, *check),
            )


# --- the record read back -------------------------------------------------------------------------


def newest_finished(
    conn: psycopg.Connection, schema: str, since: datetime | None
) -> tuple[int, str, datetime, dict[str, str] | None, bool] | None:
    """The newest reconcile that finished since `since` (ever, where None):
    (reconcile_id, status, finished_at, level verdicts, whether it reached a verdict)."""
    return conn.execute(
        sql.SQL(
            "select reconcile_id, status, finished_at, level_verdicts, report is not null from {} "
            "where status <> 'running' and (%s::timestamptz is null or finished_at >= %s) "
            "order by reconcile_id desc limit 1"
        ).format(control.table(schema, "reconcile_runs")),
        (since, since),
    ).fetchone()


def newest_comparing(
    conn: psycopg.Connection, schema: str, levels: Sequence[str], since: datetime | None
) -> tuple[int, datetime, list[str]] | None:
    """The newest reconcile with a verdict that ran any of `levels` since `since`: (reconcile_id, finished_at,
    its levels)."""
    return conn.execute(
        sql.SQL(
            "select reconcile_id, finished_at, levels from {} where report is not null and levels && %s::text[] "
            "and (%s::timestamptz is null or finished_at >= %s) order by reconcile_id desc limit 1"
        ).format(control.table(schema, "reconcile_runs")),
        (list(levels), since, since),
    ).fetchone()


def failed_checks(
    conn: psycopg.Connection, schema: str, reconcile_id: int, levels: Sequence[str]
) -> list[tuple[str, str, str | None]]:
    """The reconcile's failed checks of these levels: (level, check, detail), by level and check."""
    return conn.execute(
        sql.SQL(
            "select level, check_name, detail from {} where reconcile_id = %s and level = any(%s) "
            "and verdict = 'failed' order by level, check_name"
        ).format(control.table(schema, "reconcile_verdicts")),
        (reconcile_id, list(levels)),
    ).fetchall()


# --- what reconcile reads beside landing ----------------------------------------------------------


def app_behind(conn: psycopg.Connection, schema: str) -> bool:
    """Whether landing changed since app was last built from it (or app was never built)."""
    row = conn.execute(
        sql.SQL("select built_at is null or unbuilt_since is not null from {} where stream = %s").format(
            control.table(schema, "sync_state")
        ),
        (control.STREAM,),
    ).fetchone()
    return bool(row and row[0])


def dispositions(conn: psycopg.Connection) -> dict[str, tuple] | None:
    """quarantine.dispositions by source table: (source rows, migrated, merged, quarantined); None
    where the model does not exist (not in the dbt project, or not built)."""
    if not postgres.table_exists(conn, *dbt_contract.DISPOSITIONS, kinds=("r", "p", "v", "m")):
        return None
    rows = conn.execute(
        sql.SQL("select source_table, source_rows, migrated, merged, quarantined from {}").format(
            postgres.qualified(*dbt_contract.DISPOSITIONS)
        )
    ).fetchall()
    return {str(r[0]): r[1:] for r in rows}
