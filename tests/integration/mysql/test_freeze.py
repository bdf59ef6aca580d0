"""The write freeze on a MariaDB source (harness/engines/mysql/freeze.py): the legacy application's
user refused once frozen and let back after, exactly its grants restored; a transaction in flight
drained, or ended after the drain timeout; a freeze and an unfreeze run twice change nothing more;
decommission's read-only guard."""

from __future__ import annotations

import threading
import time
import uuid

import pymysql
import pytest

from harness.core import connections
from harness.core.connections import Database
from harness.engines.mysql import freeze as write_freeze
from harness.engines.mysql.engine import MysqlEngine
from tests.integration.mysql.conftest import admin, fetch, run_sql

pytestmark = pytest.mark.integration

TABLES = ["orders", "order_items"]
SCHEMA = """
create table orders (id int primary key, total int) engine=InnoDB;
create table order_items (id int primary key, order_id int, qty int) engine=InnoDB;
create table untouched (id int primary key) engine=InnoDB;
insert into orders values (1, 10), (2, 20);
insert into order_items values (1, 1, 3)
"""


@pytest.fixture
def legacy(mysql_database):
    """(server URL, database, legacy user): the user may read and write the two tables, and
    truncate orders (DROP), through table grants, as an application's account does."""
    url, db = mysql_database
    run_sql(url, db, SCHEMA)
    user = f"legacy_{uuid.uuid4().hex[:8]}"
    run_sql(
        url,
        None,
        f"""create user '{user}'@'%';
grant select, insert, update, delete on `{db}`.orders to '{user}'@'%';
grant select, insert, update, delete on `{db}`.order_items to '{user}'@'%';
grant drop on `{db}`.orders to '{user}'@'%';
grant select, insert on `{db}`.untouched to '{user}'@'%'""",
    )
    yield url, db, user
    run_sql(url, None, f"drop user if exists '{user}'@'%'")
    _forget_freeze(url, db)


def _forget_freeze(url: str, db: str) -> None:
    """What a test's freeze left in _migrate (the server is shared by the session's tests)."""
    with admin(url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from information_schema.schemata where schema_name = '_migrate'")
        if cur.fetchone()[0]:
            cur.execute(
                "delete from _migrate.frozen_grants where table_schema = %s",
                (db,),
            )


def _source(url: str) -> Database:
    return Database("source", url, "MIGRATE_SOURCE_URL", False)


def _as(url: str, user: str, db: str, **options) -> pymysql.Connection:
    settings = connections.mysql_settings(url)
    options = {"autocommit": True, **options}
    return pymysql.connect(host=settings["host"], port=settings["port"], user=user, database=db, **options)


def _grants(url: str, user: str) -> list[tuple]:
    return sorted(
        fetch(
            url,
            None,
            f"select table_schema, table_name, privilege_type, is_grantable from information_schema.table_privileges "
            f"where grantee = '''{user}''@''%'''",
        )
    )


def _write(conn: pymysql.Connection, statement: str) -> str:
    """'ok', or the server's error code and message."""
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
        return "ok"
    except pymysql.err.MySQLError as exc:
        return f"{exc.args[0]} {exc.args[1]}"


def test_legacy_user_refused_after_freeze_and_allowed_after_unfreeze(legacy):
    url, db, user = legacy
    engine = MysqlEngine()
    before = _grants(url, user)
    app = _as(url, user, db)
    assert _write(app, "insert into orders values (3, 30)") == "ok"
    with connections.connection(_source(url), command="test") as conn:
        frozen = engine.freeze(conn, db, TABLES, lock_timeout_seconds=10, legacy_role=user)
        assert engine.frozen_tables(conn, db) == sorted(TABLES)
    assert frozen.revoked == ["order_items: DELETE, INSERT, UPDATE", "orders: DELETE, DROP, INSERT, UPDATE"]
    assert frozen.notes == []
    # The legacy user's writes fail on the revoked grants, TRUNCATE too; reads go on.
    assert _write(app, "insert into orders values (4, 40)").startswith("1142 INSERT command denied")
    assert _write(app, "update order_items set qty = 0").startswith("1142 UPDATE command denied")
    assert _write(app, "truncate table orders").startswith("1142 DROP command denied")
    assert fetch(url, db, "select count(*) from orders") == [(3,)]
    # Any other session, root included, meets the trigger; tables outside the freeze are written.
    root = admin(url, database=db)
    refused = _write(root, "delete from orders where id = 1")
    assert refused.startswith("1644 writes are frozen for the migration cutover")
    assert _write(app, "insert into untouched values (1)") == "ok"
    assert _grants(url, user) != before
    with connections.connection(_source(url), command="test") as conn:
        engine.unfreeze(conn, db, TABLES)
        assert engine.frozen_tables(conn, db) == []
    assert _grants(url, user) == before
    assert _write(app, "insert into orders values (4, 40)") == "ok"
    assert _write(root, "delete from orders where id = 1") == "ok"
    app.close()
    root.close()


def test_a_user_with_database_grants_is_refused_by_the_triggers_and_told(legacy):
    url, db, user = legacy
    run_sql(url, None, f"grant insert on `{db}`.* to '{user}'@'%'")
    app = _as(url, user, db)
    engine = MysqlEngine()
    with connections.connection(_source(url), command="test") as conn:
        frozen = engine.freeze(conn, db, TABLES, lock_timeout_seconds=10, legacy_role=user)
    assert frozen.notes == [
        f"user {user} may still write {db} through its grants on the database (not revoked: they reach other "
        "tables): the freeze triggers refuse it"
    ]
    assert _write(app, "insert into orders values (5, 50)").startswith("1644 writes are frozen")
    with connections.connection(_source(url), command="test") as conn:
        engine.unfreeze(conn, db, TABLES)
    assert _write(app, "insert into orders values (5, 50)") == "ok"
    app.close()


def test_the_harness_writer_passes_the_freeze_and_no_one_else(legacy):
    url, db, _ = legacy
    engine = MysqlEngine()
    with connections.connection(_source(url), command="test") as conn:
        engine.freeze(conn, db, TABLES, lock_timeout_seconds=10)
        write_freeze.declare_writer(conn)
        conn.execute(f"insert into `{db}`.orders values (9, 90)")
        conn.commit()
        # A variable set to a guess, or a secret read before the freeze, does not pass.
        other = admin(url, database=db)
        assert _write(other, "set @migrate_writer = 'guess'") == "ok"
        assert _write(other, "insert into orders values (10, 100)").startswith("1644")
        (secret,) = conn.execute("select secret from _migrate.freeze_secret")[0]
        engine.freeze(conn, db, TABLES, lock_timeout_seconds=10)
        assert _write(other, f"set @migrate_writer = '{secret}'") == "ok"
        assert _write(other, "insert into orders values (10, 100)").startswith("1644")
        engine.unfreeze(conn, db, TABLES)
        other.close()
    assert fetch(url, db, "select id from orders where id >= 9") == [(9,)]


def test_freeze_and_unfreeze_run_twice_change_nothing_more(legacy):
    url, db, user = legacy
    engine = MysqlEngine()
    before = _grants(url, user)
    with connections.connection(_source(url), command="test") as conn:
        first = engine.freeze(conn, db, TABLES, lock_timeout_seconds=10, legacy_role=user)
        triggers = fetch(url, db, f"select trigger_name from information_schema.triggers where trigger_schema = '{db}'")
        second = engine.freeze(conn, db, TABLES, lock_timeout_seconds=10, legacy_role=user)
        assert second.revoked == first.revoked  # the record of the first freeze is kept: nothing to revoke anew
        assert fetch(
            url, db, f"select trigger_name from information_schema.triggers where trigger_schema = '{db}'"
        ) == (triggers)
        assert len(triggers) == 3 * len(TABLES)
        engine.unfreeze(conn, db, TABLES)
        engine.unfreeze(conn, db, TABLES)
        assert engine.frozen_tables(conn, db) == []
    assert _grants(url, user) == before
    app = _as(url, user, db)
    assert _write(app, "insert into orders values (6, 60)") == "ok"
    app.close()


def test_a_transaction_in_flight_is_drained_before_the_freeze(legacy):
    url, db, user = legacy
    app = _as(url, user, db, autocommit=False)
    with app.cursor() as cur:
        cur.execute("insert into orders values (7, 70)")  # open, committed 1 s into the freeze
    committer = threading.Timer(1.0, app.commit)
    committer.start()
    with connections.connection(_source(url), command="test") as conn:
        frozen = MysqlEngine().freeze(conn, db, TABLES, lock_timeout_seconds=10, drain_timeout_seconds=5)
        MysqlEngine().unfreeze(conn, db, TABLES)
    committer.join()
    assert frozen.ended_transactions == 0
    assert frozen.waited_seconds >= 0.9
    assert fetch(url, db, "select total from orders where id = 7") == [(70,)]
    app.close()


def test_a_transaction_open_after_the_drain_timeout_is_ended(legacy):
    url, db, user = legacy
    app = _as(url, user, db, autocommit=False)
    with app.cursor() as cur:
        cur.execute("insert into orders values (8, 80)")  # never committed
    started = time.perf_counter()
    with connections.connection(_source(url), command="test") as conn:
        frozen = MysqlEngine().freeze(conn, db, TABLES, lock_timeout_seconds=10, drain_timeout_seconds=1)
        assert MysqlEngine().frozen_tables(conn, db) == sorted(TABLES)
        MysqlEngine().unfreeze(conn, db, TABLES)
    assert 1 <= time.perf_counter() - started < 8
    assert frozen.ended_transactions == 1
    assert fetch(url, db, "select count(*) from orders where id = 8") == [(0,)]
    with pytest.raises(pymysql.err.OperationalError):
        app.commit()


def test_without_a_drain_timeout_the_freeze_gives_up_and_freezes_nothing(legacy):
    url, db, user = legacy
    before = _grants(url, user)
    app = _as(url, user, db, autocommit=False)
    with app.cursor() as cur:
        cur.execute("update orders set total = total + 1 where id = 1")
    with connections.connection(_source(url), command="test") as conn:
        with pytest.raises(write_freeze.FreezeFailed, match="could not freeze .* within 1 s: a transaction"):
            MysqlEngine().freeze(conn, db, TABLES, lock_timeout_seconds=1, legacy_role=user)
        assert MysqlEngine().frozen_tables(conn, db) == []
    assert _grants(url, user) == before  # what it revoked while waiting is granted back
    app.commit()
    app.close()


def test_decommission_guards_the_tables_read_only_for_good(legacy):
    url, db, user = legacy
    before = _grants(url, user)
    engine = MysqlEngine()
    message = f'the legacy schema "{db}" was decommissioned after its migration: it is read-only'
    with connections.connection(_source(url), command="test") as conn:
        engine.freeze(conn, db, TABLES, lock_timeout_seconds=10, legacy_role=user)
        assert engine.retire(conn, db, TABLES, message=message, lock_timeout_seconds=10) == sorted(TABLES)
        assert engine.retire(conn, db, TABLES, message=message, lock_timeout_seconds=10) == sorted(TABLES)
        assert engine.frozen_tables(conn, db) == []
        assert engine.read_only_tables(conn, db) == sorted(TABLES)
        assert conn.execute("show databases like '\\_migrate'") == []  # nothing is frozen on the server any more
        conn.execute("set @migrate_writer = 'any'")  # and no writer is let through
        with pytest.raises(pymysql.err.OperationalError, match="decommissioned"):
            conn.execute(f"insert into `{db}`.orders values (11, 110)")
    assert _grants(url, user) == before
    app = _as(url, user, db)
    assert _write(app, "update orders set total = 0").startswith(f"1644 {message}")
    assert _write(app, "insert into untouched values (2)") == "ok"
    app.close()
