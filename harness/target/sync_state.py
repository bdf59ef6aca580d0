"""The sync's record in the control schema: the watermark each batch moves (the source position
up to which landing holds every change), when it was applied and built, and the tables reloaded
alone into a running sync (`table_loads`)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from harness.core import control
from harness.core.control import STREAM
from harness.core.errors import HarnessError


class NotLoaded(HarnessError):
    pass


NOT_LOADED = "nothing to sync into: no finished load in the target; run `migrate load` first"


def _table(schema: str) -> sql.Composed:
    return control.table(schema, "sync_state")


def watermark(conn: psycopg.Connection, schema: str, *, for_update: bool = False) -> str:
    """The source position landing holds every change up to; `for_update` locks the row until the
    transaction ends (a batch that moves it)."""
    row = conn.execute(
        sql.SQL("select snapshot from {} where stream = %s{}").format(
            _table(schema), sql.SQL(" for update" if for_update else "")
        ),
        (STREAM,),
    ).fetchone()
    if row is None:
        raise NotLoaded(NOT_LOADED)
    return row[0]


def record_batch(conn: psycopg.Connection, schema: str, position: str, changes: int) -> None:
    """A batch applied every change up to `position`: the new watermark. Landing is unbuilt since
    the oldest change it staged (target.changes), unless it was already."""
    conn.execute(
        sql.SQL(
            "update {} set snapshot = %s, applied_at = clock_timestamp(), changes_applied = changes_applied + %s, "
            "unbuilt_since = coalesce(unbuilt_since, (select min(captured_at) from _changes)) where stream = %s"
        ).format(_table(schema)),
        (position, changes, STREAM),
    )


def record_build(conn: psycopg.Connection, schema: str, covered: str, *, incremental: bool, seconds: float) -> None:
    """A dbt build covered landing up to the watermark `covered`. Changes applied while dbt ran stay
    pending: unbuilt_since is cleared only if none came. Only an incremental build is what a final
    sync runs: a full build keeps the last one's time."""
    conn.execute(
        sql.SQL(
            "update {} set built_at = clock_timestamp(), built_snapshot = %s, "
            "sync_build_seconds = case when %s then %s else sync_build_seconds end, "
            "sync_built_at = case when %s then clock_timestamp() else sync_built_at end, "
            "unbuilt_since = case when snapshot = %s then null else unbuilt_since end where stream = %s"
        ).format(_table(schema)),
        (covered, incremental, seconds, incremental, covered, STREAM),
    )


def seconds_since_apply(conn: psycopg.Connection, schema: str) -> tuple[float, float | None]:
    """Seconds since the last batch applied, and since the oldest change applied but not built (None: none)."""
    since_apply, unbuilt = conn.execute(
        sql.SQL(
            "select extract(epoch from clock_timestamp() - applied_at), "
            "extract(epoch from clock_timestamp() - unbuilt_since) from {} where stream = %s"
        ).format(_table(schema)),
        (STREAM,),
    ).fetchone()
    return float(since_apply), float(unbuilt) if unbuilt is not None else None


def seconds_unbuilt(conn: psycopg.Connection, schema: str) -> float | None:
    """Seconds since the oldest change applied but not built (None: none)."""
    (unbuilt,) = conn.execute(
        sql.SQL("select extract(epoch from clock_timestamp() - unbuilt_since) from {} where stream = %s").format(
            _table(schema)
        ),
        (STREAM,),
    ).fetchone()
    return float(unbuilt) if unbuilt is not None else None


def applied(conn: psycopg.Connection, schema: str) -> dict[str, Any] | None:
    """When the last batch applied, how many changes in all, when landing was last built."""
    row = conn.execute(
        sql.SQL("select applied_at, changes_applied, built_at from {} where stream = %s").format(_table(schema)),
        (STREAM,),
    ).fetchone()
    return dict(zip(["applied_at", "changes_applied", "built_at"], row)) if row else None


def table_loads_to_cover(conn: psycopg.Connection, schema: str) -> list[tuple[str, str]]:
    """The tables copied alone (`migrate load --table`) whose changes the batch under way must skip
    where visible in their copy's snapshot, as (table, source position); marked covered, since the
    batch's snapshot contains each such copy's (the caller's transaction commits it)."""
    loads = control.table(schema, "table_loads")
    if conn.execute("select to_regclass(%s)", (loads.as_string(conn),)).fetchone()[0] is None:
        return []  # a control schema from before `migrate load --table`: nothing to skip
    return conn.execute(
        sql.SQL("update {} set covered = true where not covered returning table_name, snapshot").format(loads)
    ).fetchall()
