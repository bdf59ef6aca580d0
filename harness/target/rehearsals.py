"""The rehearsals table of the control schema: each rehearsal, the models it exercised, its timings."""

from __future__ import annotations

import json

import psycopg
from psycopg import sql

from harness.core import control


def _table(schema: str) -> sql.Composed:
    return control.table(schema, "rehearsals")


def start(conn: psycopg.Connection, schema: str, run_id: int, models_fingerprint: str) -> int:
    """A rehearsal under way, of the models with this fingerprint; its rehearsal_id."""
    (rehearsal_id,) = conn.execute(
        sql.SQL("insert into {} (run_id, models_fingerprint) values (%s, %s) returning rehearsal_id").format(
            _table(schema)
        ),
        (run_id, models_fingerprint),
    ).fetchone()
    return rehearsal_id


def succeeded(conn: psycopg.Connection, schema: str, rehearsal_id: int, timings: dict[str, float]) -> None:
    conn.execute(
        sql.SQL(
            "update {} set status = 'succeeded', finished_at = clock_timestamp(), timings = %s where rehearsal_id = %s"
        ).format(_table(schema)),
        (json.dumps(timings), rehearsal_id),
    )


def failed(conn: psycopg.Connection, schema: str, rehearsal_id: int) -> None:
    conn.execute(
        sql.SQL("update {} set status = 'failed', finished_at = clock_timestamp() where rehearsal_id = %s").format(
            _table(schema)
        ),
        (rehearsal_id,),
    )


def newest_succeeded_fingerprint(conn: psycopg.Connection, schema: str) -> str | None:
    """The models fingerprint of the newest successful rehearsal (None: none succeeded)."""
    row = conn.execute(
        sql.SQL(
            "select models_fingerprint from {} where status = 'succeeded' order by rehearsal_id desc limit 1"
        ).format(_table(schema))
    ).fetchone()
    return row[0] if row else None


def record_step(conn: psycopg.Connection, schema: str, run_id: int, name: str, seconds: float) -> None:
    """A step of the rehearsal's run that took `seconds`, ending now (the runbook's durations read these)."""
    conn.execute(
        sql.SQL(
            "insert into {} (run_id, step, started_at, finished_at, status) "
            "values (%s, %s, clock_timestamp() - make_interval(secs => %s), clock_timestamp(), 'succeeded')"
        ).format(control.table(schema, "steps")),
        (run_id, name, seconds),
    )
