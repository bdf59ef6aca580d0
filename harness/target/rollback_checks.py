"""The rollback criteria's evaluations as the control schema records them (`rollback_checks`), and
the cutover fact they read besides reconcile's record: when its final verification passed."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg import sql

from harness.core import control


def record(
    conn: psycopg.Connection, schema: str, run_id: int, verdicts: list[tuple[str, str, str, str, str, str | None]]
) -> None:
    """One evaluation's verdicts, (criterion, kind, state, figure, threshold, detail), in one transaction."""
    with conn.transaction():
        for verdict in verdicts:
            conn.execute(
                sql.SQL(
                    "insert into {} (run_id, criterion, kind, state, figure, threshold, detail) "
                    "values (%s, %s, %s, %s, %s, %s, %s)"
                ).format(control.table(schema, "rollback_checks")),
                (run_id, *verdict),
            )


def final_verification(conn: psycopg.Connection, schema: str, before: datetime | None) -> tuple[int, datetime] | None:
    """The newest final verification that passed in a cutover started at or before `before` (any,
    where None): (its cutover run, when it passed)."""
    return conn.execute(
        sql.SQL(
            "select r.run_id, s.finished_at from {steps} s join {runs} r using (run_id) "
            "where r.command = 'cutover' and s.step = 'final_verification' and s.status = 'succeeded' "
            "and (%s::timestamptz is null or r.started_at <= %s) order by s.finished_at desc limit 1"
        ).format(steps=control.table(schema, "steps"), runs=control.table(schema, "runs")),
        (before, before),
    ).fetchone()
