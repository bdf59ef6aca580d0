"""Landing read back for the cutover's final verification: its live rows (the rows synced since a
moment, with their row hash, are target.checksums.stamped_since's)."""

from __future__ import annotations

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
