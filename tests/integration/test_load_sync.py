"""Load and sync on a schema the harness has never seen: exact copies, masks, no lost change."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from harness import load, sync
from harness.core.config import load_config
from harness.core.errors import ConfigError
from tests.conftest import PROJECT_DIR
from tests.integration.conftest import CONFIG, landing_state, rows, source_state

pytestmark = pytest.mark.integration


def test_load_copies_every_table_exactly_with_masks(shop):
    config, source, target, migration, _ = shop
    result = load.load(config, source, target, jobs=2, range_rows=1000)
    assert result.tables["Client"].rows == 5000 and result.tables["Client"].ranges > 1
    assert landing_state(migration.target_url) == source_state(migration.source_url)
    cards = rows(migration.target_url, 'select distinct length("Card") from landing."Client" where "Card" is not null')
    assert cards == [(4,)], "only the last four digits of a card may leave the source"


class RecordedBar:
    def __init__(self):
        self.totals, self.done = [], 0

    def __call__(self, done: int) -> None:
        self.done += done

    def total(self, total: int) -> None:
        self.totals.append(total)


def test_load_progress_has_a_total_before_the_first_row(shop):
    config, source, target, migration, _ = shop
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute("analyze")
    bar = RecordedBar()
    result = load.load(config, source, target, jobs=2, range_rows=1000, progress=bar)
    assert len(bar.totals) == 1 and bar.done == result.rows
    assert abs(bar.totals[0] - result.rows) <= 0.05 * result.rows, "the total comes from the source's statistics"


# Per landing table: its primary key, our two columns (not null, with defaults), statistics, and
# whether every page is marked all-visible (rows written frozen).
LANDING_SHAPE = """
select c.relname,
       exists (select from pg_index i where i.indrelid = c.oid and i.indisprimary) as has_key,
       (select count(*) from pg_attribute a where a.attrelid = c.oid and a.attnotnull and a.atthasdef
          and a.attname in ('_migrate_synced_at', '_migrate_deleted')) as our_columns,
       exists (select from pg_statistic s where s.starelid = c.oid) as has_statistics,
       c.relpages > 0 and c.relallvisible = c.relpages as all_visible
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'landing' and c.relkind = 'r' order by 1
"""


def test_load_returns_keys_columns_and_statistics_in_place(shop):
    config, source, target, migration, _ = shop
    load.load(config, source, target, jobs=2, range_rows=1000)
    shape = {name: rest for name, *rest in rows(migration.target_url, LANDING_SHAPE)}
    assert set(shape) == {"Basket", "Client", "Tag"}
    for name, (has_key, our_columns, has_statistics, _) in shape.items():
        assert has_key and our_columns == 2 and has_statistics, name
    assert shape["Tag"][3], "a table copied in one range is written frozen"
    (synced,) = rows(
        migration.target_url,
        'select count(distinct _migrate_synced_at) from landing."Client" where not _migrate_deleted',
    )[0]
    assert synced == 1, "loaded rows share the time their table was finished"


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
        writer.execute("select 1")  # trigger install waits only for writers of the tables
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
        conn.execute(
            """insert into "Shop"."Client" select i, repeat('x', 500), null, null
               from generate_series(5001, 300000) i"""
        )
    env = {**os.environ, "MIGRATE_PROJECT_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "load", "--no-build", "--jobs", "1", "--range-rows", "2000"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    done_before_kill = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and done_before_kill < 5:
        time.sleep(0.05)
        with contextlib.suppress(psycopg.Error):
            done_before_kill = rows(
                migration.target_url, "select count(*) from migrate_control.load_ranges where done"
            )[0][0]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert done_before_kill >= 5, proc.stderr.read().decode()
    result = load.load(config, source, target, range_rows=2000)
    assert result.resumed
    copied_now = sum(t.copied_now for t in result.tables.values())
    total = sum(t.ranges for t in result.tables.values())
    assert copied_now < total
    assert landing_state(migration.target_url) == source_state(migration.source_url)
    for name, has_key, our_columns, has_statistics, _ in rows(migration.target_url, LANDING_SHAPE):
        assert has_key and our_columns == 2 and has_statistics, name


def test_follow_retries_a_source_that_drops_away_and_skips_nothing(shop, admin_url):
    config, source, target, migration, _ = shop
    load.load(config, source, target, range_rows=1000)
    retries: list[tuple[str, float]] = []
    deadline = time.monotonic() + 8
    import threading

    follower = threading.Thread(
        target=lambda: sync.follow(
            config,
            source,
            target,
            interval=0.1,
            run_dbt=False,
            until=lambda: time.monotonic() > deadline,
            on_retry=lambda cause, wait: retries.append((cause, wait)),
        )
    )
    follower.start()
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute("""insert into "Shop"."Client" values (9101, 'before the outage', null, now())""")
    time.sleep(0.5)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'alter database "{source.name}" allow_connections false')
        admin.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
            (source.name,),
        )
        time.sleep(2.0)
        admin.execute(f'alter database "{source.name}" allow_connections true')
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute("""insert into "Shop"."Client" values (9102, 'after the outage', null, now())""")
    follower.join()
    assert retries, "the outage must be seen and retried"
    assert [wait for _, wait in retries] == sorted(wait for _, wait in retries), "waits back off"
    sync.sync_once(config, source, target)
    assert landing_state(migration.target_url) == source_state(migration.source_url)
