"""Change capture off the happy path: re-installed under traffic, several targets from one source,
and generated names that stay unique for identifiers up to PostgreSQL's 63 bytes."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest

from harness import load, sync
from harness.core import connections, control
from harness.core.connections import Database
from harness.engines.postgres import capture
from harness.target import landing
from tests.conftest import _fresh_database, assert_one_clear_line, run_migrate
from tests.integration.conftest import landing_state, rows, source_state

pytestmark = pytest.mark.integration


def _wait_until_blocked(url: str, application_name: str, timeout: float = 10.0) -> None:
    """Until a session of that application waits for a lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rows(
            url,
            f"select 1 from pg_stat_activity where application_name = '{application_name}' "
            "and wait_event_type = 'Lock'",
        ):
            return
        time.sleep(0.05)
    raise AssertionError(f"{application_name} never waited for a lock")


def _install(config, source: Database, failures: list) -> None:
    try:
        with connections.connection(source, command="test install", autocommit=True) as conn:
            capture.install(conn, config.source_schema, [landing.describe(conn, config, t) for t in config.tables])
    except BaseException as exc:
        failures.append(exc)


def test_capture_reinstalled_while_a_writer_waits_keeps_its_write(shop):
    config, source, target, migration, _ = shop
    load.load(config, source, target, range_rows=1000)
    holder = psycopg.connect(migration.source_url)
    failures: list = []
    try:
        # A transaction holding the writers' lock makes the re-install wait; a writer queues behind it.
        holder.execute('lock table "Shop"."Client" in row exclusive mode')
        installer = threading.Thread(target=_install, args=(config, source, failures))
        installer.start()
        _wait_until_blocked(migration.source_url, "migrate test install")
        with psycopg.connect(migration.source_url, autocommit=True, application_name="queued writer") as queued:
            writer = threading.Thread(
                target=lambda: queued.execute(
                    """insert into "Shop"."Client" values (9501, 'queued behind the install', null, now())"""
                )
            )
            writer.start()
            _wait_until_blocked(migration.source_url, "queued writer")
            holder.commit()
            writer.join(timeout=30)
        installer.join(timeout=30)
    finally:
        holder.close()
    assert not failures, failures
    sync.sync_once(config, source, target)
    assert landing_state(migration.target_url) == source_state(migration.source_url), (
        "a write queued behind the install was not captured"
    )


def test_capture_install_does_not_wait_for_an_open_captured_write(shop):
    config, source, target, migration, _ = shop
    load.load(config, source, target, range_rows=1000)
    writer = psycopg.connect(migration.source_url)
    try:
        writer.execute(
            """insert into "Shop"."Tag" values ('w', 'written, not yet committed')"""
        )  # holds the change log
        with connections.connection(source, command="test install", autocommit=True) as conn:
            conn.execute("set lock_timeout = '3s'")
            client = landing.describe(conn, config, config.table("Client"))
            capture.install(conn, config.source_schema, [client])  # another table: nothing to wait for
        writer.commit()
    finally:
        writer.close()
    sync.sync_once(config, source, target)
    assert landing_state(migration.target_url) == source_state(migration.source_url)


def _write(url: str, first_id: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("""insert into "Shop"."Client" values (%s, 'new', '4000 1234 5678 9010', now())""", (first_id,))
        conn.execute("""update "Shop"."Client" set "Name" = %s where "Id" = 10""", (f"renamed {first_id}",))
        conn.execute("""delete from "Shop"."Basket" where "ClientId" = %s""", (first_id % 100,))
        conn.execute("""insert into "Shop"."Tag" values (%s, 'tag')""", (str(first_id),))


@pytest.fixture
def second_target(admin_url):
    name, url = _fresh_database(admin_url, "t_dst2")
    yield Database("target", url, "MIGRATE_TARGET_URL", False)
    connections.drop_database(admin_url, name)


def test_two_targets_from_one_source_each_end_equal_to_it(shop, second_target):
    config, source, target, migration, _ = shop
    load.load(config, source, target, range_rows=1000)
    _write(migration.source_url, 9601)
    load.load(config, source, second_target, range_rows=1000)
    _write(migration.source_url, 9602)
    assert sync.sync_once(config, source, second_target).changes > 0
    _write(migration.source_url, 9603)
    first = sync.sync_once(config, source, target)
    assert first.changes > 0, "the second target's sync consumed the first target's changes"
    assert sync.lag(config, source, second_target).changes_behind > 0, "the first target's sync consumed the second's"
    sync.sync_once(config, source, second_target)
    assert landing_state(target.url) == source_state(migration.source_url)
    assert landing_state(second_target.url) == source_state(migration.source_url)
    assert (
        sync.lag(config, source, target).changes_behind == 0
        and sync.lag(config, source, second_target).changes_behind == 0
    )
    # Changes both targets applied are purged; the log holds nothing for nobody.
    assert rows(migration.source_url, 'select count(*) from "_migrate".changes') == [(0,)]
    # A target loaded again replaces its own consumer: still one per target.
    load.load(config, source, second_target, range_rows=1000)
    assert rows(migration.source_url, 'select count(*) from "_migrate".consumers') == [(2,)]


def test_a_target_loaded_before_consumers_registers_from_its_watermark(shop, second_target):
    config, source, target, migration, _ = shop
    load.load(config, source, target, range_rows=1000)
    # As a target and a source set up by an earlier version: a watermark, no consumers anywhere.
    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute("drop table migrate_control.consumer")
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute('drop table "_migrate".consumers')
    _write(migration.source_url, 9701)
    load.load(config, source, second_target, range_rows=1000)
    _write(migration.source_url, 9702)
    sync.sync_once(config, source, target)
    sync.sync_once(config, source, second_target)
    _write(migration.source_url, 9703)
    sync.sync_once(config, source, second_target)
    sync.sync_once(config, source, target)
    assert landing_state(target.url) == source_state(migration.source_url)
    assert landing_state(second_target.url) == source_state(migration.source_url)


def test_a_copy_of_a_target_consumes_on_its_own_and_never_purges_for_the_original(shop, admin_url):
    config, source, target, migration, _ = shop
    load.load(config, source, target, range_rows=1000)
    _write(migration.source_url, 9901)
    copy_name = f"{target.name}_copy"
    with psycopg.connect(admin_url, autocommit=True) as conn:  # a restored or cloned target: the same control schema
        conn.execute(f'create database "{copy_name}" template "{target.name}"')
    copy = Database("target", connections.with_database(admin_url, copy_name), "test", False)
    try:
        with psycopg.connect(target.url, autocommit=True) as a, psycopg.connect(copy.url, autocommit=True) as b:
            assert control.consumer_id(a, config.control_schema) != control.consumer_id(b, config.control_schema)
        sync.sync_once(config, source, copy)  # applies, then purges only what both have applied
        _write(migration.source_url, 9902)
        sync.sync_once(config, source, copy)
        sync.sync_once(config, source, target)
        assert landing_state(target.url) == source_state(migration.source_url), (
            "the copy's sync purged the original's changes"
        )
        assert landing_state(copy.url) == source_state(migration.source_url)
    finally:
        connections.drop_database(admin_url, copy_name)


def test_a_target_that_is_gone_is_reported_and_forgotten(shop, second_target):
    config, source, target, migration, tmp_path = shop
    load.load(config, source, target, range_rows=1000)
    load.load(config, source, second_target, range_rows=1000)
    _write(migration.source_url, 9801)
    sync.sync_once(config, source, target)
    env = {**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path)}
    facts = json.loads(run_migrate("status", "--json", env=env).stdout)["facts"]
    others = [c for c in facts["capture"]["consumers"] if not c["this_target"]]
    assert len(others) == 1 and others[0]["changes_held"] > 0, facts["capture"]
    gone = others[0]["consumer_id"]
    shown = " ".join(run_migrate("status", env=env).stdout.replace("│", " ").split())  # a long line wraps in its cell
    assert f"--forget {gone}" in shown
    assert_one_clear_line(
        run_migrate("sync", "--forget", "no-such-consumer", env=env, expect=2), "no consumer 'no-such-consumer'"
    )
    forgotten = run_migrate("sync", "--forget", gone, env=env)
    # The dashboard written after it shows the lag it cannot know (none: the consumer is gone) as such.
    assert "dashboard was not refreshed" not in forgotten.stderr, forgotten.stderr
    sync.sync_once(config, source, target)
    assert rows(migration.source_url, 'select count(*) from "_migrate".changes') == [(0,)], (
        "a forgotten target still holds the log"
    )


LONG = "customer_payment_card_authorisation_history_for_reporting_"  # 59 characters
LONG_SCHEMA = f"""
create schema "Long";
create table "Long"."{LONG}aa" ("Id" integer primary key, "Card" text);
create table "Long"."{LONG}bb" ("Code" text primary key, "Label" text);
insert into "Long"."{LONG}aa" select i, '4111-1111-1111-' || lpad(i::text, 4, '0') from generate_series(1, 50) i;
insert into "Long"."{LONG}bb" values ('x', 'X'), ('y', 'Y');
"""
LONG_CONFIG = f"""
source: {{schema: Long, database: unused}}
target: {{database: unused}}
tables:
  {LONG}aa: {{masks: {{Card: last4}}}}
  {LONG}bb: {{}}
"""


def test_long_table_names_with_a_common_prefix_keep_masks_keys_and_updates(migration, tmp_path, monkeypatch):
    from harness.core.config import load_config

    (tmp_path / "migration.yml").write_text(LONG_CONFIG)
    monkeypatch.setenv("MIGRATE_SOURCE_URL", migration.source_url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    config = load_config(tmp_path)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(LONG_SCHEMA)
    source = Database("source", migration.source_url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)
    load.load(config, source, target)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        # The legacy application's writes, each table with its own key.
        conn.execute(f"""update "Long"."{LONG}aa" set "Card" = '5500-0000-0000-0004' where "Id" = 1""")
        conn.execute(f"""insert into "Long"."{LONG}aa" values (51, '4000-1234-5678-9010')""")
        conn.execute(f"""update "Long"."{LONG}bb" set "Label" = 'changed' where "Code" = 'x'""")
        conn.execute(f"""delete from "Long"."{LONG}aa" where "Id" = 2""")
    sync.sync_once(config, source, target)
    assert rows(migration.target_url, f"""select count(*) from landing."{LONG}aa" where length("Card") > 4""") == [
        (0,)
    ], "a full card number left the source"
    masked = f"""select "Id", right(regexp_replace("Card", '[^0-9]', '', 'g'), 4) from "Long"."{LONG}aa" order by 1"""
    assert rows(
        migration.target_url, f"""select "Id", "Card" from landing."{LONG}aa" where not _migrate_deleted order by 1"""
    ) == rows(migration.source_url, masked)
    assert rows(
        migration.target_url,
        f"""select "Code", "Label" from landing."{LONG}bb" where not _migrate_deleted order by 1""",
    ) == [("x", "changed"), ("y", "Y")]


def test_sync_from_a_source_without_a_change_log_says_so_and_makes_none(shop):
    config, source, target, migration, tmp_path = shop
    load.load(config, source, target, range_rows=1000)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        capture.remove(conn, config.source_schema, [t.name for t in config.tables])  # as decommission does
    env = {**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path)}
    assert_one_clear_line(run_migrate("sync", "--no-build", env=env, expect=2), "the source has no change log")
    assert rows(migration.source_url, "select count(*) from pg_namespace where nspname = '_migrate'") == [(0,)]


def test_a_column_renamed_or_dropped_at_the_source_never_fails_a_write_and_its_mask_stays(shop):
    """The capture function knows the columns it was made with; after a rename or a drop the
    application still writes, and a masked column renamed stays masked in the log, as does a new
    column of the masked one's name."""
    config, source, target, migration, _ = shop
    load.load(config, source, target)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute('alter table "Shop"."Client" rename column "Card" to "CardNumber"')
        conn.execute('alter table "Shop"."Client" drop column "Updated"')
        conn.execute("""insert into "Shop"."Client" values (9001, 'after the changes', '4111-1111-1111-4321')""")
        conn.execute("""delete from "Shop"."Client" where "Id" = 3""")
        conn.execute('alter table "Shop"."Client" add column "Card" text')
        conn.execute("""update "Shop"."Client" set "Card" = '5500 0000 0000 0004' where "Id" = 9001""")
    images = rows(migration.source_url, 'select op, old_key, new_row from "_migrate".changes order by change_id')
    assert images == [
        ("I", None, {"Id": "9001", "Name": "after the changes", "CardNumber": "4321"}),
        ("D", {"Id": "3"}, None),
        ("U", {"Id": "9001"}, {"Id": "9001", "Name": "after the changes", "CardNumber": "4321", "Card": "0004"}),
    ]
