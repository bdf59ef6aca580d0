"""Landing read back for the cutover's final verification: its live rows, and the rows synced
since a moment with their row hash (the checksums level's, computed by the target itself)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from harness.engines import postgres
from harness.target import landing


def live_rows(conn: psycopg.Connection, landing_schema: str, table: str) -> int:
    """The table's rows in landing, tombstones left out."""
    (rows,) = conn.execute(
        sql.SQL("select count(*) from {} where not {}").format(
            postgres.qualified(landing_schema, table), sql.Identifier(landing.DELETED)
        )
    ).fetchone()
    return rows


def rows_synced_since(conn: psycopg.Connection, side: Any, key: list[str], since: datetime | None) -> list[tuple]:
    """Each landing row stamped since `since` (None: every row): its raw key values, its canonical
    key texts, and its row hash (None for a tombstone); `side`: the checksums level's query of the
    landing table (reconcile.checksums.SideQuery)."""
    changed = sql.SQL("t.{} >= %s").format(sql.Identifier(landing.SYNCED_AT)) if since else sql.SQL("true")
    return conn.execute(
        sql.SQL(
            "select {raw}, array[{keys}]::text[], case when t.{deleted} then null else {hash} end from {t} t where {changed}"
        ).format(
            raw=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(k)) for k in key),
            keys=sql.SQL(", ").join(side.keys),
            deleted=sql.Identifier(landing.DELETED),
            hash=side.row_hash(),
            t=side.relation,
            changed=changed,
        ),
        (since,) if since else (),
    ).fetchall()
