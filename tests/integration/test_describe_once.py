"""A sync batch describes its listed tables with one catalog query per kind, however many tables
(engine.columns_and_keys), not a few queries per table; and still, each batch, in its own snapshot:
a column added at the source between batches is followed, and a listed table gone is refused."""

from __future__ import annotations

import psycopg
import pytest

from harness import load, sync
from harness.core.errors import ConfigError
from harness.engines.postgres.engine import PostgresEngine
from tests.integration.conftest import project

pytestmark = pytest.mark.integration

TABLES = 40
SCHEMA = "create schema many;\n" + "".join(
    f"create table many.t{n:02d} (id int primary key, n int); insert into many.t{n:02d} values (1, 1), (2, 2);\n"
    for n in range(TABLES)
)
CONFIG = "source: {schema: many, database: unused}\ntarget: {database: unused}\ntables:\n" + "".join(
    f"  t{n:02d}: {{}}\n" for n in range(TABLES)
)


class Calls:
    """How often the engine's catalog methods are called (each still asks the real catalog)."""

    def __init__(self, monkeypatch, engine):
        self.counts: dict[str, int] = {}
        for name in ("table_exists", "columns", "primary_key", "columns_and_keys"):
            if hasattr(engine, name):
                monkeypatch.setattr(engine, name, staticmethod(self._counted(name, getattr(engine, name))))

    def _counted(self, name, method):
        def counted(*args, **kwargs):
            self.counts[name] = self.counts.get(name, 0) + 1
            return method(*args, **kwargs)

        return counted


def test_a_batch_describes_all_tables_at_once_and_still_follows_a_column_added(tmp_path, migration, monkeypatch):
    config, source, target = project(tmp_path, migration, monkeypatch, CONFIG, SCHEMA)
    load.load(config, source, target)
    calls = Calls(monkeypatch, PostgresEngine)
    assert sync.apply(config, source, target).changes == 0
    assert calls.counts == {"columns_and_keys": 1}, "one description of all tables, not one per table"

    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute("alter table many.t17 add column note text default 'old'")
        conn.execute("insert into many.t17 values (3, 3, 'new')")
        conn.execute("update many.t30 set n = 20 where id = 2")
    batch = sync.apply(config, source, target)
    assert batch.columns_added == {"t17": ["note"]} and batch.per_table == {"t17": 1, "t30": 1}
    assert calls.counts == {"columns_and_keys": 2}
    with psycopg.connect(migration.target_url) as conn:
        landed = conn.execute("select id, n, note from landing.t17 order by id").fetchall()
    assert landed == [(1, 1, "old"), (2, 2, "old"), (3, 3, "new")]

    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute("drop table many.t05")
    with pytest.raises(ConfigError, match='table "many"."t05" listed in migration.yml does not exist in the source'):
        sync.apply(config, source, target)


EXTRA = """
create table many.nokey (id int, n int);
create view many.v as select * from many.t01;
create table many.extra (id int primary key, n int);
"""


@pytest.mark.parametrize(
    "listed, error",
    [
        ("T03: {}", 'table "many"."T03" listed in migration.yml does not exist in the source: fix the name under'),
        ("v: {}", 'table "many"."v" listed in migration.yml does not exist in the source'),
        ("nokey: {}", 'table "many"."nokey" has no primary key: name one under tables.nokey.key in migration.yml'),
        ("extra: {masks: {ghost: null}}", "migration.yml names column(s) ghost of extra that the source does not have"),
        ("extra: {key: [id, other]}", "migration.yml names column(s) other of extra that the source does not have"),
        ("nokey: {key: [id]}", None),
    ],
)
def test_describing_all_tables_at_once_refuses_as_one_at_a_time(listed, error, tmp_path, migration, monkeypatch):
    from harness.core import connections
    from harness.target import landing

    config, source, _ = project(tmp_path, migration, monkeypatch, CONFIG + f"  {listed}\n", SCHEMA + EXTRA)
    with connections.connection(source, command="test", autocommit=True) as conn:
        if error is None:
            described = landing.describe_all(conn, config, list(config.tables))
            assert described["nokey"].key == ["id"] and len(described) == TABLES + 1
            assert described["t07"] == landing.describe(conn, config, config.table("t07"))
            assert [c.name for c in described["t07"].columns] == ["id", "n"] and described["t07"].key == ["id"]
        else:
            with pytest.raises(ConfigError) as raised:
                landing.describe_all(conn, config, list(config.tables))
            assert str(raised.value).startswith(error)
