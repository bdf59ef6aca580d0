"""Tables added, reloaded or changed at the source while the migration runs: one table (re)loaded
consistently with the running sync, a bad declared key refused before anything is installed,
source columns added, dropped or retyped."""

from __future__ import annotations

import random
import threading
import time

import psycopg
import pytest

from harness import load, sync
from tests.conftest import assert_one_clear_line, run_migrate
from tests.integration.conftest import CONFIG, landing_state, rows, source_state

pytestmark = pytest.mark.integration

# What dbt's staging view over a landing table would be, without dbt.
STAGING_VIEW = 'create view public.stg_client as select "Id", "Name" from landing."Client" where not "_migrate_deleted"'


def cli(tmp_path, *args: str, expect: int = 0):
    return run_migrate(*args, env={"MIGRATE_PROJECT_DIR": str(tmp_path)}, expect=expect)


def write(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def triggers(url: str) -> list[tuple]:
    return rows(
        url,
        "select c.relname, t.tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid "
        "where t.tgname like '\\_migrate%' order by 1, 2",
    )


def test_table_added_after_the_load_is_loaded_alone_and_then_syncs(shop):
    config, source, target, migration, tmp_path = shop
    load.load(config, source, target)
    write(migration.target_url, STAGING_VIEW)
    write(
        migration.source_url,
        'create table "Shop"."Promo" ("Code" text primary key, "Percent" integer)',
        """insert into "Shop"."Promo" select 'P' || i, i % 50 from generate_series(1, 300) i""",
    )
    (tmp_path / "migration.yml").write_text(CONFIG.replace("  Tag: {}\n", "  Tag: {}\n  Promo: {}\n"))
    write(migration.source_url, """update "Shop"."Client" set "Name" = 'before the new table' where "Id" = 1""")

    refused = cli(tmp_path, "sync", "--no-build", expect=2)
    assert_one_clear_line(refused, "Promo", "migrate load --table Promo")
    assert rows(migration.source_url, 'select count(*) from "_migrate".changes') == [(1,)], (
        "a refused sync discards nothing"
    )

    cli(tmp_path, "load", "--table", "Promo", "--no-build")
    assert rows(migration.target_url, 'select count(*) from landing."Promo"') == [(300,)]
    assert rows(migration.target_url, "select count(*) from public.stg_client") == [(5000,)], (
        "the other tables are left alone"
    )
    write(
        migration.source_url,
        """update "Shop"."Promo" set "Percent" = 99 where "Code" = 'P7'""",
        """delete from "Shop"."Promo" where "Code" = 'P8'""",
        """insert into "Shop"."Promo" values ('NEW', 5)""",
    )
    cli(tmp_path, "sync", "--no-build")
    assert landing_state(migration.target_url) == source_state(migration.source_url)
    promo = 'select "Code", "Percent" from {} order by 1'
    assert rows(migration.target_url, promo.format('landing."Promo" where not "_migrate_deleted"')) == rows(
        migration.source_url, promo.format('"Shop"."Promo"')
    )


def test_reload_of_a_table_with_dependents_under_writes_and_sync_loses_nothing(shop):
    config, source, target, migration, _ = shop
    load.load(config, source, target, range_rows=1000)
    write(migration.target_url, STAGING_VIEW)
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        rng = random.Random(7)
        next_id = 100_000
        try:
            with psycopg.connect(migration.source_url, autocommit=True) as conn:
                while not stop.is_set():
                    next_id += 1
                    conn.execute(
                        """insert into "Shop"."Client" values (%s, 'written during the reload', null, now())""",
                        (next_id,),
                    )
                    conn.execute(
                        """update "Shop"."Client" set "Name" = 'updated ' || %s where "Id" = %s""",
                        (next_id, rng.randint(1, 5000)),
                    )
                    conn.execute("""delete from "Shop"."Client" where "Id" = %s""", (rng.randint(1, 5000),))
        except BaseException as exc:
            failures.append(exc)

    def syncer() -> None:
        try:
            while not stop.is_set():
                sync.sync_once(config, source, target)
                time.sleep(0.05)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=syncer)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        reloaded = load.load_tables(config, source, target, ["Client"])
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures, failures
    assert [(r.name, r.how, r.dropped_views) for r in reloaded] == [("Client", "emptied", [])]
    sync.sync_once(config, source, target)
    assert landing_state(migration.target_url) == source_state(migration.source_url)
    assert rows(migration.target_url, "select count(*) from public.stg_client") == rows(
        migration.source_url, 'select count(*) from "Shop"."Client"'
    ), "the dependent view is kept and sees the reloaded rows"


def test_non_unique_declared_key_is_refused_before_anything_is_installed(shop):
    _, _, _, migration, tmp_path = shop
    write(
        migration.source_url,
        'create table "Shop"."Log" ("At" integer, "Msg" text)',
        """insert into "Shop"."Log" values (1, 'a'), (2, 'b'), (2, 'c')""",
    )
    (tmp_path / "migration.yml").write_text(CONFIG.replace("  Tag: {}\n", "  Tag: {}\n  Log: {key: [At]}\n"))
    refused = cli(tmp_path, "load", "--no-build", expect=2)
    assert_one_clear_line(refused, "Log", "At", "(2)")
    assert triggers(migration.source_url) == [], "no capture trigger is left on the source"
    assert rows(migration.target_url, "select count(*) from migrate_control.load_runs") == [(0,)], (
        "no load is marked running"
    )


def test_added_nullable_source_column_is_carried_into_landing_by_sync(shop):
    """Also a constant default (older rows, and changes written before the add, hold it) and a dropped NOT NULL."""
    config, source, target, migration, _ = shop
    load.load(config, source, target)
    write(
        migration.source_url,
        """update "Shop"."Client" set "Name" = 'changed before the columns came' where "Id" = 5""",
        'alter table "Shop"."Client" add column "Flag" boolean not null default true',
        'alter table "Shop"."Client" add column "Note" text',
        """update "Shop"."Client" set "Note" = 'a note', "Flag" = false where "Id" = 6""",
        """insert into "Shop"."Client" values (9001, 'new', null, now(), false, 'with a note')""",
        'alter table "Shop"."Client" alter column "Name" drop not null',
        """insert into "Shop"."Client" values (9002, null, null, now(), true, null)""",
    )
    batch = sync.sync_once(config, source, target)
    assert batch.per_table == {"Client": 4}
    assert batch.columns_added == {"Client": ["Flag", "Note"]}, (
        "sync says capture takes them slowly until installed again"
    )
    query = 'select "Id", "Name", "Flag", "Note" from {} order by 1'
    assert rows(migration.target_url, query.format('landing."Client" where not "_migrate_deleted"')) == rows(
        migration.source_url, query.format('"Shop"."Client"')
    )
    assert rows(migration.target_url, 'select "Flag", "Note" from landing."Client" where "Id" = 5') == [(True, None)]


def test_dropped_or_retyped_source_column_stops_sync_with_one_line(shop):
    config, source, target, migration, tmp_path = shop
    load.load(config, source, target)
    write(migration.target_url, STAGING_VIEW)
    write(
        migration.source_url,
        'alter table "Shop"."Client" drop column "Updated"',
        """update "Shop"."Client" set "Name" = 'after the drop' where "Id" = 3""",
    )
    refused = cli(tmp_path, "sync", "--no-build", expect=2)
    assert_one_clear_line(refused, "Client", "Updated", "dropped", "migrate load --table Client")

    # A change logged before the retype holds a value the new type does not take: the reload's copy has it already.
    write(
        migration.source_url,
        """update "Shop"."Basket" set "Price" = 12.5 where "ClientId" = 5""",
        'alter table "Shop"."Basket" alter column "Price" type integer using round("Price")',
    )
    cli(tmp_path, "load", "--table", "Client", "--no-build")
    assert rows(migration.target_url, "select count(*) from pg_views where viewname = 'stg_client'") == [(0,)], (
        "a reshaped table's dependents are dropped (dbt build makes them again)"
    )
    refused = cli(tmp_path, "sync", "--no-build", expect=2)
    assert_one_clear_line(refused, "Basket", "Price", "double precision to integer", "migrate load --table Basket")

    cli(tmp_path, "load", "--table", "Basket", "--no-build")
    write(
        migration.source_url,
        """update "Shop"."Basket" set "Price" = 3 where "ClientId" = 2""",
        """update "Shop"."Client" set "Name" = 'after the reload' where "Id" = 4""",
    )
    cli(tmp_path, "sync", "--no-build")
    client = 'select "Id", "Name" from {} order by 1'
    assert rows(migration.target_url, client.format('landing."Client" where not "_migrate_deleted"')) == rows(
        migration.source_url, client.format('"Shop"."Client"')
    )
    basket = 'select "ClientId", "Line", "Price" from {} order by 1, 2'
    assert rows(migration.target_url, basket.format('landing."Basket" where not "_migrate_deleted"')) == rows(
        migration.source_url, basket.format('"Shop"."Basket"')
    )


def test_second_full_load_keeps_the_views_over_landing(shop):
    config, source, target, migration, _ = shop
    load.load(config, source, target)
    write(migration.target_url, STAGING_VIEW)
    write(migration.source_url, """update "Shop"."Client" set "Name" = 'before the second load' where "Id" = 2""")
    load.load(config, source, target, range_rows=1000)
    assert landing_state(migration.target_url) == source_state(migration.source_url)
    assert rows(migration.target_url, 'select "Name" from public.stg_client where "Id" = 2') == [
        ("before the second load",)
    ]


def test_plain_load_after_a_table_was_added_loads_only_that_table(shop):
    config, source, target, migration, tmp_path = shop
    load.load(config, source, target)
    write(migration.target_url, STAGING_VIEW)
    write(
        migration.source_url,
        'create table "Shop"."Promo" ("Code" text primary key)',
        """insert into "Shop"."Promo" values ('A'), ('B')""",
    )
    (tmp_path / "migration.yml").write_text(CONFIG.replace("  Tag: {}\n", "  Tag: {}\n  Promo: {}\n"))
    done = cli(tmp_path, "load", "--no-build")
    assert "Promo, added to migration.yml since" in done.stdout + done.stderr
    assert rows(migration.target_url, 'select count(*) from landing."Promo"') == [(2,)]
    assert rows(migration.target_url, "select count(*) from migrate_control.load_runs") == [(1,)], (
        "the other tables are not loaded again"
    )
    assert rows(migration.target_url, "select count(*) from public.stg_client") == [(5000,)]


def test_column_added_after_another_added_one_was_dropped_stops_sync_until_reloaded(shop):
    """Capture looks for columns added since it was installed at the first new column number
    only: behind a dropped one it would miss the values of another, and sync says so."""
    config, source, target, migration, tmp_path = shop
    load.load(config, source, target)
    write(
        migration.source_url,
        'alter table "Shop"."Client" add column "Short" integer',
        'alter table "Shop"."Client" drop column "Short"',
        'alter table "Shop"."Client" add column "Kept" double precision',
        """update "Shop"."Client" set "Kept" = 2.5 where "Id" = 3""",
    )
    refused = cli(tmp_path, "sync", "--no-build", expect=2)
    assert_one_clear_line(refused, "Client", "Kept", "migrate load --table Client")
    cli(tmp_path, "load", "--table", "Client", "--no-build")
    write(migration.source_url, """update "Shop"."Client" set "Kept" = -0.5 where "Id" = 4""")
    cli(tmp_path, "sync", "--no-build")
    query = 'select "Id", "Kept" from {} where "Kept" is not null order by 1'
    assert rows(migration.target_url, query.format('landing."Client"')) == rows(
        migration.source_url, query.format('"Shop"."Client"')
    )
