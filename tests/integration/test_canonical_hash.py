"""The portable row hash is the rules at the top of harness/reconcile/checksums.py and nothing of
PostgreSQL's own: computed here in Python from the documented rules, it equals what the engine
computes in the database. A second source engine (issue 19) computes the same from the same
rules, and its rows hash equal to landing's."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal

import psycopg

from harness.core import connections
from harness.core.connections import Database
from harness.engines import engine_named
from harness.engines.base import FIELD_SEPARATOR, KEY_BUCKET_SEED, NULL_MARK, Segments

ROWS = [
    (1, "Zoë", Decimal("1.10"), datetime(2020, 1, 1, 12, 0, tzinfo=UTC)),
    (2, None, Decimal("-0.50"), datetime(2021, 6, 30, 23, 59, 59, tzinfo=UTC)),
    (3, "a\x1fb:c", Decimal("42.00"), datetime(1999, 12, 31, 0, 0, tzinfo=UTC)),
    (4, "", Decimal("0.00"), datetime(2024, 2, 29, 8, 30, tzinfo=UTC)),
]


def portable(text: str, seed: int = 0) -> int:
    """The first 16 hex digits of the md5 of the UTF-8 text (a seed other than 0 appended after U+001F), signed."""
    salted = text if seed == 0 else f"{text}{FIELD_SEPARATOR}{seed}"
    value = int(hashlib.md5(salted.encode()).hexdigest()[:16], 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def row_text(id_: int, name: str | None, price: Decimal, at: datetime) -> str:
    """id (integer: digits), name (text, nullable: length-prefixed in characters, NULL as U+001E),
    price (numeric: its text, scale kept), at (timestamptz: its UTC instant in ISO)."""
    texts = [
        str(id_),
        NULL_MARK if name is None else f"{len(name)}:{name}",
        str(price),
        at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
    ]
    return FIELD_SEPARATOR.join(texts)


def test_the_portable_row_hash_follows_the_documented_rules(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            'create table public."Item" (id integer primary key, name text, price numeric(12,2) not null, '
            "at timestamptz not null)"
        )
        with conn.cursor() as cur:
            cur.executemany('insert into public."Item" values (%s, %s, %s, %s)', ROWS)
    engine = engine_named("postgres")
    conn = connections.connect(Database("source", database_url, "TEST", False))
    try:
        engine.begin_hashing(conn, None)
        columns = engine.hashed_columns(conn, "public", "Item")
        hashes = engine.row_hashes(conn, "public", "Item", columns, ["id"], {}, portable=True)

        count, total = hashes.total()
        assert (count, total) == (len(ROWS), sum(portable(row_text(*row)) for row in ROWS))

        plan = Segments("hash", 4)
        expected: dict[tuple[int], list[int]] = {}
        for row in ROWS:
            bucket = portable(str(row[0]), KEY_BUCKET_SEED) & (plan.count - 1)
            expected.setdefault((bucket,), []).append(portable(row_text(*row)))
        assert hashes.segment_sums(plan) == {b: (len(h), sum(h)) for b, h in expected.items()}
    finally:
        conn.close()
