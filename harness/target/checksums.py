"""Landing hashed by the canonical row hash (harness/reconcile/checksums.py states the rules): the
target's side of what a source engine's `row_hashes` is on the source. Landing is PostgreSQL, so
the SQL is the PostgreSQL engine's (harness/engines/postgres/checksums.py); landing's own part is
which rows count: a tombstoned row (`_migrate_deleted`) is not there."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from harness.engines.base import HashedColumn
from harness.engines.postgres import checksums as postgres_checksums
from harness.target import landing

native_hash = postgres_checksums.native_hash
hashed_columns = postgres_checksums.hashed_columns


def begin_hashing(conn: psycopg.Connection) -> None:
    """The session settings, then one snapshot for every query of the comparison (no sync runs meanwhile)."""
    postgres_checksums.begin_hashing(conn, None)


def cancel(conn: psycopg.Connection) -> None:
    conn.cancel_safe()


def landing_hashes(
    conn: psycopg.Connection,
    landing_schema: str,
    table: str,
    columns: Sequence[HashedColumn],
    key: Sequence[str],
    *,
    portable: bool,
) -> postgres_checksums.PostgresRowHashes:
    """The landing table's live rows hashed (see SourceEngine.row_hashes; nothing is masked in landing)."""
    return postgres_checksums.row_hashes(
        conn,
        landing_schema,
        table,
        columns,
        key,
        {},
        portable=portable,
        live=sql.SQL("not t.{}").format(sql.Identifier(landing.DELETED)),
    )


def stamped_since(
    hashes: postgres_checksums.PostgresRowHashes, since: datetime | None
) -> list[tuple[tuple[Any, ...], tuple[str, ...], int | None]]:
    """The landing rows sync wrote since `since` (all where None), tombstones included:
    (raw key values, canonical key, row hash; None for a tombstone)."""
    side, key = hashes.side, hashes.key
    changed = sql.SQL("t.{} >= %s").format(sql.Identifier(landing.SYNCED_AT)) if since else sql.SQL("true")
    rows = hashes.conn.execute(
        sql.SQL(
            "select {raw}, array[{keys}]::text[], case when t.{deleted} then null else {hash} end "
            "from {t} t where {changed}"
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
    return [(tuple(row[: len(key)]), tuple(row[len(key)]), row[-1]) for row in rows]
