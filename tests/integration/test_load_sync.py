"""Load and sync on a schema the harness has never seen: exact copies, masks, no lost change."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from harness import load, sync
from harness.config import load_config
from harness.connections import Database
from harness.errors import ConfigError
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration

SCHEMA = """
create schema "Shop";
create table "Shop"."Client" ("Id" integer primary key, "Name" text not null, "Card" varchar(25), "Updated" timestamp);
create table "Shop"."Basket" ("ClientId" integer, "Line" integer, "Sku" text, "Price" double precision,
                              primary key ("ClientId", "Line"));
create table "Shop"."Tag" ("Code" varchar(10) primary key, "Label" text);
insert into "Shop"."Client" select i, 'client ' || i, case when i % 3 = 0 then '4111-1111-1111-' || lpad(i::text, 4, '0') end, timestamp '2020-01-01' + i * interval '1 minute'
    from generate_series(1, 5000) i;
insert into "Shop"."Basket" select c, l, 'SKU-' || (c * l % 97), (c * l % 1000) / 7.0 from generate_series(1, 2000) c, generate_series(1, 3) l;
insert into "Shop"."Tag" values ('a', 'Alpha'), ('b', 'Beta');
"""

CONFIG = """
source: {schema: Shop, database: unused}
target: {database: unused}
tables:
  Client: {masks: {Card: last4}}
  Basket: {}
  Tag: {}
roles: {app_role: shop_app_test}
"""


@pytest.fixture
def shop(tmp_path, migration, monkeypatch):
    (tmp_path / "migration.yml").write_text(CONFIG)
    monkeypatch.setenv("MIGRATE_SOURCE_URL", migration.source_url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    config = load_config(tmp_path)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(SCHEMA)
    source = Database("source", migration.source_url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)
    return config, source, target, migration, tmp_path


def rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def source_state(url: str) -> dict[str, list[tuple]]:
    return {
        "Client": rows(url, 'select "Id", "Name", right(regexp_replace("Card", \'[^0-9]\', \'\', \'g\'), 4), "Updated" from "Shop"."Client" order by 1'),
        "Basket": rows(url, 'select "ClientId", "Line", "Sku", "Price" from "Shop"."Basket" order by 1, 2'),
        "Tag": rows(url, 'select "Code", "Label" from "Shop"."Tag" order by 1'),
    }


def landing_state(url: str) -> dict[str, list[tuple]]:
    live = 'where not "_migrate_deleted"'
    return {
        "Client": rows(url, f'select "Id", "Name", "Card", "Updated" from landing."Client" {live} order by 1'),
        "Basket": rows(url, f'select "ClientId", "Line", "Sku", "Price" from landing."Basket" {live} order by 1, 2'),
        "Tag": rows(url, f'select "Code", "Label" from landing."Tag" {live} order by 1'),
    }


def test_load_copies_every_table_exactly_with_masks(shop):
    config, source, target, migration, _ = shop
    result = load.load(config, source, target, jobs=2, range_rows=1000)
    assert result.tables["Client"].rows == 5000 and result.tables["Client"].ranges > 1
    assert landing_state(migration.target_url) == source_state(migration.source_url)
    cards = rows(migration.target_url, 'select distinct length("Card") from landing."Client" where "Card" is not null')
    assert cards == [(4,)], "only the last four digits of a card may leave the source"


def test_sync_applies_inserts_updates_key_changes_deletes_and_truncates(shop):
    config, source, target, migration, _ = shop
    load.load(config, source, target, range_rows=1000)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute("""insert into "Shop"."Client" values (9001, 'new', '5500 0000 0000 0004', now())""")
        conn.execute("""update "Shop"."Client" set "Name" = 'renamed' where "Id" = 7""")
        conn.execute("""update "Shop"."Client" set "Id" = 9002 where "Id" = 8""")
        conn.execute("""delete from "Shop"."Client" where "Id" = 9""")
        conn.execute("""insert into "Shop"."Client" values (9, 'reborn', null, null)""")
        conn.execute("""delete from "Shop"."Basket" where "ClientId" = 1""")
        conn.execute("""truncate "Shop"."Tag" """)
        conn.execute("""insert into "Shop"."Tag" values ('c', 'Gamma')""")
    batch = sync.sync_once(config, source, target)
    assert batch.per_table == {"Client": 5, "Basket": 3, "Tag": 2}
    assert landing_state(migration.target_url) == source_state(migration.source_url)
    assert sync.sync_once(config, source, target).changes == 0, "nothing is applied twice"
    assert rows(migration.source_url, 'select count(*) from "_migrate".changes') == [(0,)], "applied changes are purged"


def test_sync_keeps_change_committed_after_a_later_one(shop):
    config, source, target, migration, _ = shop
    load.load(config, source, target, range_rows=1000)
    early = psycopg.connect(migration.source_url)
    try:
        early.execute("""insert into "Shop"."Client" values (7001, 'early writer, late commit', null, now())""")
        with psycopg.connect(migration.source_url, autocommit=True) as late:
            late.execute("""insert into "Shop"."Client" values (7002, 'late writer, early commit', null, now())""")
        first = sync.sync_once(config, source, target)
        assert first.changes == 1
        early.commit()
    finally:
        early.close()
    second = sync.sync_once(config, source, target)
    assert second.changes == 1, "a change whose transaction committed after a later one must not be skipped"
    assert landing_state(migration.target_url) == source_state(migration.source_url)


def test_change_made_during_load_is_applied_exactly_once(shop):
    config, source, target, migration, _ = shop
    # A transaction that is open while the snapshot is taken is invisible to the copy: its
    # change must come through sync.
    writer = psycopg.connect(migration.source_url)
    result = {}
    try:
        writer.execute('select 1')  # trigger install waits only for writers of the tables
        import threading

        thread = threading.Thread(target=lambda: result.update(r=load.load(config, source, target, range_rows=1000)))
        thread.start()
        time.sleep(1.0)
        writer.execute("""insert into "Shop"."Client" values (8001, 'written during the load', null, now())""")
        writer.commit()
        thread.join()
    finally:
        writer.close()
    sync.sync_once(config, source, target)
    assert landing_state(migration.target_url) == source_state(migration.source_url)
    assert rows(migration.target_url, 'select count(*) from landing."Client" where "Id" = 8001') == [(1,)]


def test_table_without_key_is_refused_unless_named(shop):
    config, source, target, migration, tmp_path = shop
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute('create table "Shop"."Log" ("At" timestamp, "Msg" text)')
    (tmp_path / "migration.yml").write_text(CONFIG.replace("  Tag: {}\n", "  Tag: {}\n  Log: {}\n"))
    with pytest.raises(ConfigError, match='"Shop"."Log" has no primary key: name one under tables.Log.key'):
        load.load(load_config(tmp_path), source, target)
    (tmp_path / "migration.yml").write_text(CONFIG.replace("  Tag: {}\n", "  Tag: {}\n  Log: {key: [At]}\n"))
    assert load.load(load_config(tmp_path), source, target).tables["Log"].rows == 0


def test_killed_load_resumes_copying_only_unfinished_ranges(shop):
    config, source, target, migration, tmp_path = shop
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute("""insert into "Shop"."Client" select i, repeat('x', 500), null, null from generate_series(5001, 300000) i""")
    env = {**os.environ, "MIGRATE_PROJECT_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "load", "--no-build", "--jobs", "1", "--range-rows", "2000"],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    done_before_kill = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and done_before_kill < 5:
        time.sleep(0.05)
        try:
            done_before_kill = rows(migration.target_url, "select count(*) from migrate_control.load_ranges where done")[0][0]
        except psycopg.Error:
            pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert done_before_kill >= 5, proc.stderr.read().decode()
    result = load.load(config, source, target, range_rows=2000)
    assert result.resumed
    copied_now = sum(t.copied_now for t in result.tables.values())
    total = sum(t.ranges for t in result.tables.values())
    assert copied_now < total
    assert landing_state(migration.target_url) == source_state(migration.source_url)
