"""Capture from MariaDB's binary log into landing: inserts, updates (of the key too), deletes and
TRUNCATE applied in commit order from the position the load recorded, every value as the load
would have copied it (zero dates, 4-byte UTF-8, unsigned bigint, SET, BIT...)."""

from __future__ import annotations

import contextlib
import uuid

import psycopg
import pytest

from harness import load, sync
from harness.core import connections
from harness.core.config import load_config
from harness.core.connections import Database
from harness.core.errors import ConfigError, HarnessError
from tests.integration.mysql.conftest import run_sql
from tests.integration.mysql.test_load import COLUMNS, EDGE_TABLE, PEOPLE, landing_texts

pytestmark = pytest.mark.integration

CONFIG = """
source: {engine: mysql, schema: %(db)s}
target: {database: unused}
tables:
  edge: {}
  people: {masks: {card: last4, secret: hash, note: null}}
"""

CHANGES = """
insert into edge (id, u64, d, dt, ts, tm, yr, s, e, b10, b64, f32, f64, dec65, tx, bin, j, flag) values
 (10, 18446744073709551614, '0000-00-00', '2024-02-30 01:02:03', '0000-00-00 00:00:00', '-00:00:01.5', 0, '', '',
  b'0000000001', b'1000000000000000000000000000000000000000000000000000000000000000', 3.1415927, 2.5e-308,
  '12345678901234567890123456789012345.123456789012345678901234567890', '𝄞 tab\\there', x'deadbeef', '{"k": "ü"}', 5);
update edge set u64 = 1, vc = 'changed', s = 'blue,red,green' where id = 2;
update edge set id = 20 where id = 3;
delete from edge where id = 1;
update people set card = '5500 0000 0000 0004', secret = 'new secret', name = 'Zoë' where id = 7;
delete from people where id between 100 and 199;
insert into people values (5000, 'new person', '4000-0000-0000-9999', 'sec', 'n');
begin;
insert into people values (5001, 'in one transaction', null, null, null);
update people set name = 'twice' where id = 5001;
commit;
truncate table people;
insert into people values (1, 'after truncate', '1234', 's', 'n')
"""


@contextlib.contextmanager
def captured_project(config_text, tmp_path, monkeypatch, mysql_database, migration, admin_url):
    """The edge and people tables on MariaDB, a project capturing them as `config_text` says, and a
    fresh target to load for comparison: (config, source, target, url, db, fresh)."""
    url, db = mysql_database
    run_sql(url, db, EDGE_TABLE, sql_mode="ALLOW_INVALID_DATES")
    run_sql(url, db, PEOPLE)
    (tmp_path / "migration.yml").write_text(config_text % {"db": db})
    monkeypatch.setenv("MIGRATE_SOURCE_URL", url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    config = load_config(tmp_path)
    source = Database("source", url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)
    fresh = f"t_fresh_{uuid.uuid4().hex[:8]}"
    connections.create_database(admin_url, fresh)
    try:
        yield (
            config,
            source,
            target,
            url,
            db,
            Database("target", connections.with_database(admin_url, fresh), "x", False),
        )
    finally:
        connections.drop_database(admin_url, fresh)


@pytest.fixture
def captured(tmp_path, monkeypatch, mysql_database, migration, admin_url):
    with captured_project(CONFIG, tmp_path, monkeypatch, mysql_database, migration, admin_url) as project:
        yield project


def live(url: str, table: str, columns: str) -> list[tuple]:
    cols = ", ".join(c + "::text" for c in columns.split(", "))
    return landing_texts(url, f'select {cols} from landing."{table}" where not _migrate_deleted order by 1')


def test_binlog_changes_land_as_a_fresh_load_would_copy_them(captured):
    config, source, target, url, db, fresh = captured
    load.load(config, source, target, jobs=2, range_rows=1000)
    run_sql(url, db, CHANGES, sql_mode="ALLOW_INVALID_DATES")
    batch = sync.apply(config, source, target)
    assert batch.changes > 0 and batch.per_table["people"] > 0
    assert sync.apply(config, source, target).changes == 0  # nothing applied twice
    load.load(config, source, fresh)
    edge_columns = "id, " + COLUMNS
    people_columns = "id, name, card, secret, note"
    assert live(target.url, "edge", edge_columns) == live(fresh.url, "edge", edge_columns)
    assert live(target.url, "people", people_columns) == live(fresh.url, "people", people_columns)
    assert live(target.url, "people", people_columns) == [("1", "after truncate", "1234", _md5("s"), None)]
    deleted = landing_texts(target.url, "select id::text from landing.edge where _migrate_deleted order by 1")
    assert deleted == [("1",), ("3",)]


def test_binlog_batch_applies_only_whole_transactions_and_resumes_from_its_position(captured):
    config, source, target, url, db, fresh = captured
    load.load(config, source, target)
    run_sql(url, db, "insert into people values (9001, 'a', null, null, null)")
    first = sync.apply(config, source, target)
    assert first.changes == 1
    run_sql(url, db, "update people set name = 'b' where id = 9001;\ndelete from people where id = 9001")
    second = sync.apply(config, source, target)
    assert second.changes == 2
    with psycopg.connect(target.url) as conn:
        (deleted,) = conn.execute("select _migrate_deleted from landing.people where id = 9001").fetchone()
    assert deleted


def _md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode()).hexdigest()


def test_binlog_capture_refuses_a_server_without_a_row_based_log(
    tmp_path, monkeypatch, machine_mysql_database, migration
):
    url, db = machine_mysql_database
    run_sql(url, db, "create table t (id int primary key)")
    (tmp_path / "migration.yml").write_text(
        f"source: {{engine: mysql, schema: {db}}}\ntarget: {{database: x}}\ntables: {{t: {{}}}}\n"
    )
    monkeypatch.setenv("MIGRATE_SOURCE_URL", url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    config = load_config(tmp_path)
    source = Database("source", url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)
    with pytest.raises(ConfigError, match="binlog capture needs log_bin=ON"):
        load.load(config, source, target)


TIMES = ("-838:59:59", "-00:00:00.5", "-01:02:03.04", "-00:00:01.25", "12:34:56.789", "-838:59:59.999", "00:00:00")


def test_binlog_reads_negative_times_of_every_precision(captured):
    config, source, target, url, db, fresh = captured
    run_sql(url, db, "create table times (id int primary key, t0 time, t2 time(2), t3 time(3), t6 time(6))")
    config = config.__class__(**{**config.__dict__, "tables": (config.table("people").__class__("times"),)})
    load.load(config, source, target)
    rows = ",\n".join(f"({i}, '{t}', '{t}', '{t}', '{t}')" for i, t in enumerate(TIMES))
    run_sql(url, db, f"insert into times values {rows}")
    sync.apply(config, source, target)
    load.load(config, source, fresh)
    columns = "id, t0, t2, t3, t6"
    assert live(target.url, "times", columns) == live(fresh.url, "times", columns)
    assert len(live(target.url, "times", columns)) == len(TIMES)


def test_binlog_follows_past_a_schema_change_to_a_same_named_table_of_another_database(captured):
    """A restored copy or another application's database may hold tables named as the listed ones:
    their DDL is not a schema change of the source (a rehearsal restores its copy on the source's server)."""
    config, source, target, url, db, fresh = captured
    load.load(config, source, target)
    other = f"t_other_{uuid.uuid4().hex[:8]}"
    run_sql(url, None, f"create database `{other}`")
    try:
        run_sql(url, other, "create table people (id int primary key);\nalter table people add column x int")
        run_sql(url, db, f"drop table if exists `{other}`.`people`;\ncreate table `{other}`.edge (id int)")
        run_sql(url, db, "insert into people values (9001, 'a', null, null, null)")
        assert sync.apply(config, source, target).changes == 1
    finally:
        run_sql(url, None, f"drop database `{other}`")
    run_sql(url, db, "alter table people add column extra int")
    with pytest.raises(HarnessError, match="schema change"):
        sync.apply(config, source, target)


def test_binlog_batch_describes_its_tables_in_one_catalog_round(captured, monkeypatch):
    from harness.engines.mysql.engine import MysqlEngine
    from tests.integration.test_describe_once import Calls

    config, source, target, url, db, _ = captured
    load.load(config, source, target)
    calls = Calls(monkeypatch, MysqlEngine)
    run_sql(url, db, "insert into people values (9001, 'a', null, null, null)")
    assert sync.apply(config, source, target).per_table == {"people": 1}
    assert sync.apply(config, source, target).changes == 0
    assert calls.counts == {"columns_and_keys": 2}, "one description of all tables per batch, not one per table"
