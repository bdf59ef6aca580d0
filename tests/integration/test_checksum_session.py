"""The hashing session's planner settings (harness/engines/postgres/checksums.py): sorts are off only
while a grouping query runs. Session-wide, every catalog query of the comparison (columns ordered by
attnum) was planned at the disabled sort's cost, ~10^10, far above `jit_above_cost`, and a server
with JIT (Debian's PostgreSQL has it) compiled each one with inlining and optimisation: ~0.3-0.8 s
apiece, 25 of them per reconcile of the worked example, more than the hashing of a small table."""

from __future__ import annotations

import json

import psycopg
import pytest

from harness.core import connections
from harness.core.connections import Database
from harness.engines import engine_named
from harness.engines.base import Segments
from harness.engines.postgres import catalog

pytestmark = pytest.mark.integration


def planned_cost(conn, query: str, params: tuple = ()) -> tuple[float, str]:
    (plan,) = conn.execute(f"explain (format json) {query}", params).fetchone()
    top = (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]
    return top["Total Cost"], json.dumps(top)


def test_catalog_queries_on_a_hashing_session_are_planned_at_their_own_cost(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute('create table public."Wide" (id integer primary key, name text, at timestamp)')
        conn.execute("""insert into public."Wide" select i, 'n' || i, now() from generate_series(1, 500) i""")
        conn.execute('analyze public."Wide"')
    engine = engine_named("postgres")
    conn = connections.connect(Database("source", database_url, "TEST", False))
    try:
        engine.begin_hashing(conn, None)
        columns = engine.hashed_columns(conn, "public", "Wide")
        assert [c.name for c in columns] == ["id", "name", "at"]
        # The column query the comparison runs for every table and side, as typed_columns runs it.
        query = (
            "select a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid "
            "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s and c.relname = %s "
            "and a.attnum > 0 and not a.attisdropped order by a.attnum"
        )
        cost, _ = planned_cost(conn, query, ("public", "Wide"))
        (jit_above,) = conn.execute("select current_setting('jit_above_cost')::float").fetchone()
        assert cost < jit_above, f"a catalog query planned at {cost:,.0f}: sorts are off for the whole session"
        assert catalog.typed_columns(conn, "public", "Wide")[0].name == "id"

        # The grouping queries still group through a hash table, never a sort, and give the same sums.
        hashes = engine.row_hashes(conn, "public", "Wide", columns, ["id"], {}, portable=False)
        sums = hashes.segment_sums(Segments("range", 50, 1, 10))
        assert len(sums) == 50 and sum(count for count, _ in sums.values()) == 500
        assert hashes.total() == (500, sum(total for _, total in sums.values()))
        (sorting,) = conn.execute("select current_setting('enable_sort')").fetchone()
        assert sorting == "on", "sorts are on again after a grouping query"
    finally:
        conn.close()
