"""The write freeze waits for writers in flight, then refuses every write, and lifts cleanly."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from harness import load
from harness.engines.postgres import freeze
from tests.integration.conftest import rows

pytestmark = pytest.mark.integration

TABLES = ["Client", "Basket", "Tag"]


def test_freeze_waits_for_the_writer_in_flight_then_refuses_writes(shop):
    _, _, _, migration, _ = shop
    in_flight = psycopg.connect(migration.source_url)
    in_flight.execute("""update "Shop"."Client" set "Name" = 'committed during the freeze' where "Id" = 1""")
    done = {}

    def do_freeze() -> None:
        with psycopg.connect(migration.source_url) as conn:
            done["frozen"] = freeze.freeze(conn, "Shop", TABLES)

    thread = threading.Thread(target=do_freeze)
    thread.start()
    time.sleep(1.0)
    assert "frozen" not in done, "the freeze must wait for the open write transaction"
    in_flight.commit()
    in_flight.close()
    thread.join()
    assert done["frozen"].waited_seconds >= 0.5
    assert rows(migration.source_url, """select "Name" from "Shop"."Client" where "Id" = 1""") == [
        ("committed during the freeze",)
    ]

    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="frozen for the migration"):
            conn.execute("""insert into "Shop"."Tag" values ('z', 'refused')""")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("""delete from "Shop"."Basket" where false""")
        assert conn.execute("""select count(*) from "Shop"."Client" """).fetchone() == (5000,), "reads go on"
        assert freeze.frozen_tables(conn, "Shop") == sorted(TABLES)
        freeze.unfreeze(conn, "Shop", TABLES)
        conn.execute("""insert into "Shop"."Tag" values ('z', 'accepted again')""")
        assert freeze.frozen_tables(conn, "Shop") == []


def test_freeze_gives_up_cleanly_when_a_writer_never_ends(shop):
    _, _, _, migration, _ = shop
    stuck = psycopg.connect(migration.source_url)
    stuck.execute("""delete from "Shop"."Tag" where "Code" = 'a'""")
    try:
        with psycopg.connect(migration.source_url) as conn:
            with pytest.raises(freeze.FreezeFailed, match="nothing was frozen"):
                freeze.freeze(conn, "Shop", TABLES, lock_timeout_seconds=0.5)
            assert freeze.frozen_tables(conn, "Shop") == []
    finally:
        stuck.rollback()
        stuck.close()


def test_drain_timeout_ends_the_write_transactions_still_open_and_nothing_they_wrote_commits(shop):
    config, source, target, migration, _ = shop
    load.load(config, source, target)  # the capture triggers: the freeze drains through their lock
    stuck = psycopg.connect(migration.source_url)
    stuck.execute("""update "Shop"."Client" set "Name" = 'never acknowledged' where "Id" = 2""")
    try:
        with psycopg.connect(migration.source_url) as conn:
            frozen = freeze.freeze(conn, "Shop", TABLES, lock_timeout_seconds=20, drain_timeout_seconds=0.3)
        assert frozen.ended_transactions == 1 and frozen.waited_seconds < 5, frozen
        with pytest.raises(psycopg.OperationalError):
            stuck.commit()  # its session was ended: the application sees a failed commit, never an acknowledgement
        assert rows(migration.source_url, """select "Name" from "Shop"."Client" where "Id" = 2""") == [("client 2",)]
        with psycopg.connect(migration.source_url, autocommit=True) as conn:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("""update "Shop"."Client" set "Name" = 'refused' where "Id" = 2""")
            freeze.unfreeze(conn, "Shop", TABLES)
    finally:
        stuck.close()


def _privileges(url: str, role: str) -> list[tuple]:
    return rows(
        url,
        f"""select c.relname, a.privilege_type, a.is_grantable from pg_class c
                         join pg_namespace n on n.oid = c.relnamespace, aclexplode(c.relacl) a
                         where n.nspname = 'Shop' and a.grantee = '{role}'::regrole order by 1, 2""",
    )


def test_an_application_session_that_declares_itself_the_migrations_writer_is_still_refused(shop, legacy_role):
    _, _, _, migration, _ = shop
    with psycopg.connect(migration.source_url) as conn:
        freeze.freeze(conn, "Shop", TABLES)
    with psycopg.connect(migration.source_url, user=legacy_role, autocommit=True) as app:
        app.execute("set migrate.writer = 'fallback'")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="frozen for the migration"):
            app.execute("""insert into "Shop"."Tag" values ('z', 'past the freeze')""")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("select * from _migrate.freeze_secret")  # the harness's secret is not the application's to read
    with (
        psycopg.connect(migration.source_url) as harness,
        psycopg.connect(migration.source_url, autocommit=True) as watcher,
    ):
        freeze.declare_writer(harness)  # the harness's own session passes
        (secret,) = watcher.execute("select secret from _migrate.freeze_secret").fetchone()
        (text,) = watcher.execute(
            "select query from pg_stat_activity where pid = %s", (harness.info.backend_pid,)
        ).fetchone()
        assert secret not in text, "the secret travels as a bound parameter, never in the query text"
        harness.execute("""insert into "Shop"."Tag" values ('y', 'carried back')""")
        harness.commit()
    assert rows(migration.source_url, """select "Label" from "Shop"."Tag" where "Code" = 'y'""") == [("carried back",)]


def test_the_freeze_revokes_the_legacy_roles_writes_and_unfreeze_grants_back_exactly_those(shop, legacy_role):
    _, _, _, migration, _ = shop
    before = _privileges(migration.source_url, legacy_role)
    with psycopg.connect(migration.source_url) as conn:
        frozen = freeze.freeze(conn, "Shop", TABLES, legacy_role=legacy_role)
    assert sorted(frozen.revoked) == [
        "Basket: DELETE, INSERT, UPDATE",
        "Client: DELETE, INSERT, UPDATE",
        "Tag: DELETE, INSERT, TRUNCATE, UPDATE",
    ]
    assert _privileges(migration.source_url, legacy_role) == [(t, "SELECT", False) for t in sorted(TABLES)], (
        "reads go on"
    )
    with psycopg.connect(migration.source_url) as conn:
        again = freeze.freeze(conn, "Shop", TABLES, legacy_role=legacy_role)  # a resumed cutover: the record is kept
        assert again.revoked == frozen.revoked
        freeze.unfreeze(conn, "Shop", TABLES)
    assert _privileges(migration.source_url, legacy_role) == before
    with psycopg.connect(migration.source_url, user=legacy_role, autocommit=True) as app:
        app.execute("""insert into "Shop"."Tag" values ('z', 'accepted again')""")
