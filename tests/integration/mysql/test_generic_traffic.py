"""The generic traffic (`migrate demo traffic --generic`) on a MySQL-family source: writers over a
schema of several shapes (an AUTO_INCREMENT key with a self-reference, a composite key with a foreign
key, a text key, a masked column, MySQL's own types), every acknowledged write in the ledger, the
ledger checked against the MariaDB tables themselves and against landing after load and binlog sync."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import psycopg
import pytest

from harness import load, sync
from harness.core import connections
from harness.core.config import load_config
from harness.core.connections import Database
from harness.demo import ledger
from harness.demo.generic_traffic import run_generic_traffic, verify_after_cutover, verify_after_fallback
from harness.engines import engine_named
from harness.engines.mysql.engine import MysqlEngine
from tests.conftest import assert_one_clear_line, run_migrate
from tests.integration.mysql.conftest import run_sql
from tests.integration.mysql.test_freeze import _forget_freeze as forget_freeze

pytestmark = pytest.mark.integration

SCHEMA = """
create table customer (
    id int auto_increment primary key,
    name varchar(40) not null,
    email varchar(80),
    referred_by int,
    created datetime(3),
    balance decimal(10,2),
    is_vip tinyint(1),
    score double,
    status enum('new','active','gone') not null default 'new',
    tags set('a','b','c'),
    constraint customer_referrer foreign key (referred_by) references customer (id)
) engine=InnoDB;
create table order_items (
    order_no bigint,
    line_no smallint,
    customer_id int not null,
    qty decimal(10,2) check (qty > 0),
    payload json,
    placed timestamp(6) null,
    primary key (order_no, line_no),
    constraint order_customer foreign key (customer_id) references customer (id)
) engine=InnoDB;
create table tag (
    code varchar(12) primary key,
    label text,
    weight float,
    customer_id int
) engine=InnoDB;
insert into customer (name, email, referred_by, created, balance, is_vip, score, status, tags)
    select concat('name ', seq), concat('u', seq, '@example.com'), if(seq > 10, seq % 10 + 1, null),
           '2020-01-01 00:00:00.250' + interval seq hour, seq * 1.5, seq % 2, seq / 3, 'active', 'a,c'
    from seq_1_to_120;
insert into order_items select seq div 3, seq % 3, 1 + seq % 120, seq % 7 + 1, json_object('i', seq),
    '2021-06-01 12:00:00.123456' + interval seq minute from seq_3_to_300;
insert into tag select concat('t', seq), concat('label ', seq), seq / 4, seq from seq_1_to_40
"""

CONFIG = """
source: {engine: mysql, schema: %(db)s}
target: {database: unused}
tables:
  customer: {}
  order_items: {}
  tag: {masks: {label: hash}}
"""


@pytest.fixture
def project(tmp_path, monkeypatch, mysql_database, migration):
    url, db = mysql_database
    run_sql(url, db, SCHEMA)
    (tmp_path / "migration.yml").write_text(CONFIG % {"db": db})
    monkeypatch.setenv("MIGRATE_SOURCE_URL", url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    for name in ("MIGRATE_PROJECT_DIR", "MIGRATE_ROUTING_FILE"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(tmp_path)
    source = Database("source", url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)
    return config, source, target, url, db, tmp_path / "ledger.jsonl"


def _traffic(config, ledger_path, seconds: float = 4.0):
    return run_generic_traffic(
        config,
        ledger_path,
        rate=60,
        duration=seconds,
        workers=3,
        slow_share=0.05,
        slow_seconds=0.3,
        start_side="legacy",
    )


def test_mysql_catalog_describes_keys_references_and_server_numbered_columns(project):
    from harness.engines.mysql.describe import filled_by_server

    config, source, _, url, db, _ = project
    with connections.connection(source) as conn:
        tables = {t.name: t for t in engine_named("mysql").describe_tables(conn, db)}
        assert filled_by_server(conn, db, "customer") == ({"id"}, set())
    assert set(tables) == {"customer", "order_items", "tag"}
    assert tables["order_items"].primary_key == ("order_no", "line_no")
    assert tables["tag"].primary_key == ("code",)
    referrer = {fk.name: fk for fk in tables["customer"].foreign_keys}["customer_referrer"]
    assert (referrer.columns, referrer.parent, referrer.parent_columns) == (("referred_by",), "customer", ("id",))
    assert [fk.parent for fk in tables["order_items"].foreign_keys] == ["customer"]
    types = {c.name: c.type for c in tables["customer"].columns}
    assert types["status"] == "enum('new','active','gone')" and types["balance"] == "decimal(10,2)"
    assert any("qty" in condition for _, condition in tables["order_items"].checks)
    assert {c.name: c.type for c in tables["order_items"].columns}["payload"] == "json"  # MariaDB: longtext
    # The legacy domains of ENUM and SET, as checks the app table keeps: the new application cannot write
    # a value the fallback could not carry back (the invalid ENUM value '' included: MySQL holds it).
    checks = dict(tables["customer"].checks)
    assert checks["status_is_a_member"] == "\"status\" in ('', 'new', 'active', 'gone')"
    assert checks["tags_are_members"] == "\"tags\" <@ array['a', 'b', 'c']::text[]"
    assert checks["is_vip_in_range"] == '"is_vip" between -128 and 127'  # tinyint(1) lands as smallint
    assert "id_in_range" not in checks  # an int lands as integer: the same range
    # Nor what MySQL has no value for: NaN and infinities, dates before year 1 or past 9999 or out of TIMESTAMP's range.
    assert checks["score_in_range"] == "\"score\" not in ('NaN', 'Infinity', '-Infinity')"
    assert checks["balance_in_range"] == "\"balance\" <> 'NaN'"
    assert checks["created_in_range"] == "\"created\" between '0001-01-01' and '9999-12-31 23:59:59.999999'"
    placed = dict(tables["order_items"].checks)["placed_in_range"]
    assert placed == "\"placed\" between '1970-01-01 00:00:01+00' and '2038-01-19 03:14:07.999999+00'"


def test_every_acknowledged_write_on_a_mysql_source_is_in_its_tables(project):
    config, source, _, url, db, ledger_path = project
    report = _traffic(config, ledger_path)
    assert report.failed == 0, report.errors
    assert report.retried < report.transactions / 4, report  # refusals are the exception (json made as json)
    entries = ledger.entries(ledger_path)
    kinds = Counter((e["table"], e["op"]) for e in entries)
    assert {op for _, op in kinds} == {"I", "U", "D"}, kinds
    assert {table for table, _ in kinds} == {"customer", "order_items", "tag"}, kinds
    assert all("hash" in e for e in entries if e["op"] != "D")
    # AUTO_INCREMENT keys are the server's (LAST_INSERT_ID), above the seeded rows.
    assert any(e["table"] == "customer" and e["op"] == "I" and e["key"]["id"] > 120 for e in entries)
    checked = verify_after_fallback(config, ledger_path)
    assert checked.ok, checked.describe() + str(checked.missing + checked.wrong + checked.resurrected)
    assert checked.checked == len({(e["table"], str(sorted(e["key"].items()))) for e in entries})

    # The check sees a write it was not told of: one acknowledged row changed behind the ledger's back.
    changed = next(e for e in reversed(entries) if e["table"] == "customer" and e["op"] != "D")
    run_sql(url, db, f"update customer set name = 'changed behind the ledger' where id = {changed['key']['id']}")
    assert verify_after_fallback(config, ledger_path).wrong == [f'customer {{"id": {changed["key"]["id"]}}}']


def test_the_ledger_of_a_mysql_source_holds_in_landing_after_load_and_binlog_sync(project):
    config, source, target, url, db, ledger_path = project
    load.load(config, source, target, jobs=2)
    report = _traffic(config, ledger_path, seconds=3.0)
    assert report.failed == 0, report.errors
    assert report.writes > 20
    sync.apply(config, source, target)
    after_cutover = verify_after_cutover(config, ledger_path)
    assert after_cutover.ok, after_cutover.describe() + str(after_cutover.missing + after_cutover.wrong)
    assert after_cutover.checked > 20
    # And the same ledger does not hold for a landing that missed the last writes.
    run_sql(url, db, "update tag set weight = weight + 1")
    last = next(e for e in reversed(ledger.entries(ledger_path)) if e["table"] == "tag" and e["op"] != "D")
    sync.apply(config, source, target)
    assert f'tag {{"code": "{last["key"]["code"]}"}}' in verify_after_cutover(config, ledger_path).wrong


def test_the_new_applications_writes_in_legacy_form_are_checked_value_by_value_in_mysql(project):
    """After a fallback the new application's writes are checked in their legacy form: values as
    PostgreSQL's jsonb gives them (here landing's, the types app has), against MySQL's own values."""
    config, source, target, url, db, ledger_path = project
    load.load(config, source, target)
    entries = []
    for table, key in (("customer", ["id"]), ("order_items", ["order_no", "line_no"])):
        with psycopg.connect(target.url) as conn:
            rows = conn.execute(f"select to_jsonb(t) from landing.{table} t order by 1 limit 15").fetchall()
        for (row,) in rows:
            values = {c: [v] if isinstance(v, list) else v for c, v in row.items() if not c.startswith("_")}
            legacy = {"table": table, "key": {k: row[k] for k in key}, "values": values}
            entries.append({"app": "new", "table": table, "key": legacy["key"], "op": "U", "legacy": legacy})
    gone = {"table": "customer", "key": {"id": 99999}, "values": {}}
    entries.append({"app": "new", "table": "customer", "key": {"id": 99999}, "op": "D", "legacy": gone})
    ledger_path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    checked = verify_after_fallback(config, ledger_path)
    assert checked.ok and checked.checked == 31, checked.describe() + str(checked.wrong + checked.missing)
    run_sql(url, db, "update customer set created = created + interval 1 second where id = 1")
    assert verify_after_fallback(config, ledger_path).wrong == ['customer {"id": 1}']


def test_demo_traffic_generic_writes_a_mysql_source_from_the_command_line(project):
    config, source, target, url, db, ledger_path = project
    folder = config.project_dir
    result = run_migrate("demo", "traffic", "--generic", "--duration", "2", "--rate", "20", "--json", cwd=folder)
    assert "Traceback" not in result.stderr
    written = ledger.entries(folder / ".migrate" / "ledger" / "legacy.jsonl")
    assert written and all(e["app"] == "legacy" for e in written)
    assert verify_after_fallback(config, folder / ".migrate" / "ledger" / "legacy.jsonl").ok
    refused = run_migrate("demo", "traffic", "--duration", "1", cwd=folder, expect=2)
    assert_one_clear_line(refused, "use `migrate demo traffic --generic`")


def test_writers_wait_out_a_freeze_of_the_mysql_source_and_lose_nothing(project):
    """The cutover's freeze refuses the writers (its triggers' SIGNAL): refused, waited out, never a
    failure, and every acknowledged write still in the tables after the freeze is lifted."""
    config, source, _, url, db, ledger_path = project
    tables = [t.name for t in config.tables]
    engine = MysqlEngine()
    outcome = {}
    writers = threading.Thread(target=lambda: outcome.update(report=_traffic(config, ledger_path, seconds=6.0)))
    writers.start()
    try:
        time.sleep(1.5)
        with connections.connection(source, command="test") as conn:
            engine.freeze(conn, db, tables, lock_timeout_seconds=10)
        time.sleep(1.5)
        with connections.connection(source, command="test") as conn:
            engine.unfreeze(conn, db, tables)
    finally:
        writers.join()
        forget_freeze(url, db)
    report = outcome["report"]
    assert report.refused > 0 and report.failed == 0, report
    assert report.outages, report  # writes were refused, then committed again
    checked = verify_after_fallback(config, ledger_path)
    assert checked.ok, checked.describe() + str(checked.missing + checked.wrong + checked.resurrected)


def test_an_update_of_a_row_deleted_since_the_writers_snapshot_is_not_acknowledged(project):
    """The writer's transaction read the table before another session deleted the row and committed;
    its UPDATE then matches nothing. Under REPEATABLE READ the read-back of the row (a consistent
    read of the old snapshot) still found it, so the ledger acknowledged an update of a deleted row
    (the whole-lifecycle test found one 'missing' after the cutover)."""
    from harness.demo.generic_traffic import legacy_dialect, shapes

    config, source, _, url, db, _ = project
    dialect = legacy_dialect(config)
    with connections.connect(source, command="test") as conn:
        shape = shapes(dialect.describe(conn, db), {"tag": ["code"]}, dialect)["tag"]
        conn.commit()
        dialect.prepare(conn)
        conn.execute(f"select count(*) from `{db}`.tag")  # the transaction's snapshot: t5 is there
        run_sql(url, db, "delete from tag where code = 't5'")
        assert dialect.update(conn, db, shape, {"weight": 1.5}, {"code": "t5"}) is None
        run_sql(url, db, "update tag set weight = 7 where code = 't6'")
        written = dialect.update(conn, db, shape, {"label": "changed"}, {"code": "t6"})
        conn.commit()
    with connections.connect(source, command="test") as conn:
        assert written.content == dialect.update(conn, db, shape, {"label": "changed"}, {"code": "t6"}).content
        conn.rollback()
