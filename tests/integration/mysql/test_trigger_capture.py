"""Capture by triggers on MariaDB (capture.method: trigger), the fallback where the binary log cannot
be read: every type lands as a fresh load would copy it, whatever the writer's session; inserts,
updates (of the key too) and deletes in commit order, also when transactions commit out of their
change ids' order; the load's snapshot hands over exactly; TRUNCATE is detected by the table's
counts and named; a sync killed mid-batch loses and repeats nothing; decommission removes it all."""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid

import psycopg
import pytest

from harness import engines, load, sync
from harness.core import connections
from harness.core.connections import Database
from harness.core.errors import ConfigError
from harness.engines.mysql import trigger
from tests.conftest import run_migrate
from tests.integration.mysql.conftest import admin, fetch, run_sql
from tests.integration.mysql.test_binlog_capture import CHANGES, captured_project, live
from tests.integration.mysql.test_killed import PEOPLE_COLUMNS, follow_killed_twice_under_writes
from tests.integration.mysql.test_load import COLUMNS, landing_texts

pytestmark = pytest.mark.integration

CONFIG = """
source: {engine: mysql, schema: %(db)s}
target: {database: unused}
capture: {method: trigger}
tables:
  edge: {}
  people: {masks: {card: last4, secret: hash, note: null}}
"""

EDGE_COLUMNS = "id, " + COLUMNS
# The binary log test's changes up to its TRUNCATE (no trigger sees one: see the TRUNCATE test).
ROW_CHANGES = CHANGES.split("truncate table people;")[0]


@pytest.fixture
def captured(tmp_path, monkeypatch, mysql_database, migration, admin_url):
    with captured_project(CONFIG, tmp_path, monkeypatch, mysql_database, migration, admin_url) as project:
        yield project


def _same_as_fresh_load(config, source, target, fresh) -> None:
    load.load(config, source, fresh)
    assert live(target.url, "edge", EDGE_COLUMNS) == live(fresh.url, "edge", EDGE_COLUMNS)
    assert live(target.url, "people", PEOPLE_COLUMNS) == live(fresh.url, "people", PEOPLE_COLUMNS)


def test_trigger_changes_land_as_a_fresh_load_would_copy_them_whatever_the_writers_session(captured):
    config, source, target, url, db, fresh = captured
    load.load(config, source, target, jobs=2, range_rows=1000)
    # The writer's session is not the load's: another time zone (TIMESTAMP), another sql_mode.
    run_sql(url, db, "set time_zone = '+05:30';\n" + ROW_CHANGES, sql_mode="ALLOW_INVALID_DATES")
    run_sql(
        url,
        db,
        "set time_zone = '-07:00';\nupdate edge set ts = '2038-01-18 20:14:07.999', dt = dt where id = 2;\n"
        "update edge set tm = tm, j = j, f32 = f32 where id = 20",
    )
    batch = sync.apply(config, source, target)
    assert batch.changes > 0 and batch.per_table["people"] > 0 and batch.per_table["edge"] > 0
    assert sync.apply(config, source, target).changes == 0  # nothing applied twice
    _same_as_fresh_load(config, source, target, fresh)
    deleted = landing_texts(target.url, "select id::text from landing.edge where _migrate_deleted order by 1")
    assert deleted == [("1",), ("3",)]  # the delete, and the old key of the key change
    assert {("5000", "new person"), ("5001", "twice")} <= set(live(target.url, "people", "id, name"))


def test_a_row_captured_by_trigger_is_the_row_loaded_fresh_for_every_type(captured):
    config, source, target, url, db, fresh = captured
    load.load(config, source, target)
    # Every row of the edge table written again through the triggers: deleted, then inserted as it was.
    run_sql(
        url,
        db,
        "create table edge_copy as select * from edge;\ndelete from edge;\ninsert into edge select * from edge_copy",
        sql_mode="ALLOW_INVALID_DATES",
    )
    sync.apply(config, source, target)
    with psycopg.connect(target.url) as conn:
        (synced,) = conn.execute("select count(*) from landing.edge where _migrate_synced_at is not null").fetchone()
    assert synced == 3  # each row landed from its captured image, not from the load
    _same_as_fresh_load(config, source, target, fresh)


def _position(target) -> trigger.Position:
    with psycopg.connect(target.url) as conn:
        (text,) = conn.execute("select snapshot from migrate_control.sync_state").fetchone()
    return trigger.Position.parse(text)


def test_a_transaction_committing_after_a_later_change_id_is_applied_once(captured):
    config, source, target, url, db, fresh = captured
    load.load(config, source, target)
    with contextlib.closing(admin(url, database=db)) as early, contextlib.closing(admin(url, database=db)) as late:
        early.begin()
        early.cursor().execute("insert into people values (8001, 'takes the lower id', null, null, null)")
        late.begin()
        late.cursor().execute("insert into people values (8002, 'takes the higher id', null, null, null)")
        late.cursor().execute("update people set name = 'late' where id = 1")
        late.commit()
        first = sync.apply(config, source, target)  # sees the higher ids only: the lower one is a gap
        assert first.changes == 2
        assert _position(target).gaps, "the open transaction's id is not kept as a gap"
        early.cursor().execute("update people set name = 'early' where id = 2")
        early.commit()
    second = sync.apply(config, source, target)
    assert second.changes == 2  # the late commit's two changes, the first of them below the watermark's high
    time.sleep(2.1)  # a gap is forgotten two seconds on at least (innodb_trx is a cache)
    assert sync.apply(config, source, target).changes == 0
    rows = live(target.url, "people", "id, name")
    assert ("8001", "takes the lower id") in rows and ("8002", "takes the higher id") in rows
    assert ("1", "late") in rows and ("2", "early") in rows
    assert not _position(target).gaps  # no transaction open: the gaps are over
    _same_as_fresh_load(config, source, target, fresh)


def test_a_rolled_back_transactions_ids_stop_being_gaps_once_it_ended(captured):
    config, source, target, url, db, fresh = captured
    load.load(config, source, target)
    with contextlib.closing(admin(url, database=db)) as undone:
        undone.begin()
        undone.cursor().execute("insert into people values (8101, 'never', null, null, null)")
        run_sql(url, db, "insert into people values (8102, 'kept', null, null, null)")
        assert sync.apply(config, source, target).changes == 1
        assert _position(target).gaps
        undone.rollback()
    time.sleep(2.1)  # a transaction started after the gap was seen is not one that could fill it
    run_sql(url, db, "insert into people values (8103, 'later', null, null, null)")
    assert sync.apply(config, source, target).changes == 1
    assert not _position(target).gaps
    _same_as_fresh_load(config, source, target, fresh)


def test_the_loads_snapshot_hands_over_without_gap_or_double_application(captured):
    config, source, target, url, db, fresh = captured
    load.load(config, source, target)  # installs the triggers; this target's sync keeps the log
    run_sql(url, db, "update people set name = 'before the second load' where id = 3")
    with contextlib.closing(admin(url, database=db)) as open_across:
        open_across.begin()
        open_across.cursor().execute("update people set name = 'committed after the snapshot' where id = 4")
        load.load(config, source, fresh, jobs=1)  # a second target, loaded while that transaction is open
        open_across.commit()
    run_sql(url, db, "delete from people where id = 5")
    batch = sync.apply(config, source, fresh)
    # The change before the load is in its copy, not applied again; the two after it are.
    assert batch.changes == 2, batch
    rows = live(fresh.url, "people", "id, name")
    assert ("3", "before the second load") in rows and ("4", "committed after the snapshot") in rows
    assert not any(r[0] == "5" for r in rows)
    assert sync.apply(config, source, target).changes == 3
    assert live(target.url, "people", PEOPLE_COLUMNS) == live(fresh.url, "people", PEOPLE_COLUMNS)


def test_a_truncate_is_detected_by_counts_and_named_then_a_reload_of_the_table_resumes(captured):
    config, source, target, url, db, fresh = captured
    load.load(config, source, target)
    run_sql(url, db, "truncate table people;\ninsert into people values (1, 'after truncate', '1234', 's', 'n')")
    with pytest.raises(trigger.Truncated, match="table people holds 1 rows at the source but 3000 in landing"):
        sync.apply(config, source, target)
    load.load_tables(config, source, target, ["people"])
    run_sql(url, db, "insert into people values (2, 'after reload', null, null, null)")
    assert sync.apply(config, source, target).changes == 1
    _same_as_fresh_load(config, source, target, fresh)
    assert live(target.url, "people", "id, name") == [("1", "after truncate"), ("2", "after reload")]


def test_a_table_rebuilt_without_losing_rows_is_not_taken_for_a_truncate(captured):
    config, source, target, url, db, fresh = captured
    load.load(config, source, target)
    run_sql(url, db, "optimize table people;\nupdate people set name = 'after rebuild' where id = 1")
    assert sync.apply(config, source, target).changes == 1
    _same_as_fresh_load(config, source, target, fresh)


def test_a_follow_killed_mid_batch_under_writes_loses_and_repeats_nothing(captured):
    follow_killed_twice_under_writes(captured)


def test_status_counts_the_changes_waiting_and_remove_drops_triggers_and_change_table(captured):
    config, source, target, url, db, fresh = captured
    load.load(config, source, target)
    run_sql(url, db, "update people set name = 'waiting' where id = 1;\ndelete from people where id = 2")
    assert sync.lag(config, source, target).changes_behind == 2
    capture = engines.source_capture(config)
    with connections.connection(source, command="test") as conn:
        assert capture.state(conn, db, ["edge", "people"]).missing == []
        (consumer,) = capture.consumers(conn, db)
        assert consumer.changes_held == 2
        capture.remove(conn, db, ["edge", "people"])
        assert capture.state(conn, db, ["edge", "people"]).installed == []
    assert not fetch(
        url, None, "select 1 from information_schema.tables where table_name = 'changes' and table_schema = '_migrate'"
    )


def test_decommission_drops_the_capture_triggers_and_the_change_table(captured):
    config, source, target, url, db, fresh = captured
    load.load(config, source, target)
    run_sql(url, db, "update people set name = 'last change' where id = 1")
    engine = engines.source_engine(config)
    with connections.connection(source, command="test") as conn:
        retired = engine.retire(conn, db, ["edge", "people"], message="decommissioned", lock_timeout_seconds=10)
        assert retired == ["edge", "people"]
        assert engines.source_capture(config).state(conn, db, ["edge", "people"]).installed == []
    assert fetch(url, None, "select count(*) from information_schema.triggers where trigger_name like '%capture%'") == [
        (0,)
    ]
    assert fetch(url, None, "select count(*) from information_schema.schemata where schema_name = '_migrate'") == [(0,)]


def test_reconcile_brings_landing_to_its_snapshot_through_the_change_table(captured):
    config, source, target, url, db, fresh = captured
    load.load(config, source, target)
    run_sql(url, db, "update people set name = 'renamed' where id = 7;\ndelete from people where id = 8")
    result = run_migrate("reconcile", "--level", "checksums", "--json", cwd=config.project_dir)
    document = json.loads(result.stdout)
    assert "(2 changes applied)" in document["steps"][0]
    assert document["failed_checks"] == []
    status = run_migrate("status", cwd=config.project_dir).stdout
    assert re.search(r"capture\s+│ trigger", status) and "(0 changes)" in status, status


@pytest.mark.parametrize(
    "grants, refusal",
    [
        ("", r"^trigger capture needs the PROCESS privilege on the source \("),
        ("process on *.*", r"^trigger capture keeps its change table in the database _migrate \(.*grant"),
    ],
)
def test_a_user_without_the_privileges_capture_needs_is_refused_with_one_line(captured, grants, refusal):
    config, source, target, url, db, fresh = captured
    user = f"capture_{uuid.uuid4().hex[:8]}"
    run_sql(url, None, f"create user '{user}'@'%';\ngrant all on `{db}`.* to '{user}'@'%'")
    if grants:
        run_sql(url, None, f"grant {grants} to '{user}'@'%'")
    try:
        netloc = url.split("://", 1)[1].split("@", 1)[1]
        limited = Database("source", f"mysql://{user}@{netloc}", "MIGRATE_SOURCE_URL", False)
        with pytest.raises(ConfigError, match=refusal):
            load.load(config, limited, target, jobs=1)
    finally:
        run_sql(url, None, f"drop user '{user}'@'%'")
