"""Source rows found by their keys: the row hashes of the rows a target changed, for the cutover's
verification (the checksums level's hash, each database hashing its own rows)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from harness.engines.postgres import catalog


def row_hashes_of_keys(
    conn: psycopg.Connection, schema: str, table: str, side: Any, key: list[str], keys: list[list[Any]]
) -> dict[tuple, str]:
    """The row hash of each source row whose key is in `keys` (one list of values per key column),
    by its canonical key texts; `side`: the checksums level's query of this table
    (reconcile.checksums.SideQuery: keys, row_hash(), relation)."""
    types = {c.name: c.type for c in catalog.typed_columns(conn, schema, table)}
    # The changed keys, as typed arrays: the source finds them through its key index.
    return dict(
        (tuple(texts), digest)
        for texts, digest in conn.execute(
            sql.SQL(
                "select array[{keys}]::text[], {hash} from {t} t where ({cols}) in (select * from unnest({arrays}))"
            ).format(
                keys=sql.SQL(", ").join(side.keys),
                hash=side.row_hash(),
                t=side.relation,
                cols=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(k)) for k in key),
                arrays=sql.SQL(", ").join(sql.SQL("%s::{}[]").format(sql.SQL(types[k])) for k in key),
            ),
            keys,
        ).fetchall()
    )
