"""Long and odd names from a MySQL source, which holds 64 characters (multibyte ones too) where
PostgreSQL holds 63 bytes: `migrate init` leaves out, one line each naming it and the fix, a table
PostgreSQL cannot hold under its name (no two source objects may land in one, none is cut
silently), and the project it writes works; a name PostgreSQL holds, with spaces, dots, quotes and
multibyte characters, goes through load, sync (binary log) and reconcile exactly."""

from __future__ import annotations

import psycopg
import pytest

from harness.core import control
from harness.core.config import load_config
from tests.conftest import assert_one_clear_line, run_migrate
from tests.integration.mysql.conftest import fetch, run_sql

pytestmark = pytest.mark.integration

TWIN_1, TWIN_2 = "t" * 63 + "1", "t" * 63 + "2"  # 64 characters, alike in their first 63 bytes
WIDE = "tête ü " + "é" * 30  # 37 characters, 69 bytes
QUOTED = 'we"ird`name'
COLUMN_1, COLUMN_2 = "c" * 63 + "1", "c" * 63 + "2"
ODD = "ordre détail.v2"  # a space, a dot, multibyte: PostgreSQL holds it
FULL = "f" * 63  # 63 bytes: PostgreSQL holds it whole
PERCENT = "taux 5%s"  # a % in a name, where PyMySQL formats a statement's parameters
LONG_COLUMN = "d" * 63  # a date column of 63 bytes: its companion's name must be generated


def q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


SOURCE = f"""
create table {q(TWIN_1)} (id int primary key, v int);
create table {q(TWIN_2)} (id int primary key, v int);
create table {q(WIDE)} (id int primary key, v int);
create table {q(QUOTED)} (id int primary key, v int);
create table wide_columns (id int primary key, {q(COLUMN_1)} int, {q(COLUMN_2)} int);
create table {q(ODD)} (`n° id` int primary key, `prix unité` decimal(8,2), `it's` varchar(20), `a.b c` int,
    {q(LONG_COLUMN)} datetime, `remise 10%` int, `tick``ed` int);
create table {q(FULL)} (id int primary key, `Mixed Case` text);
create table {q(PERCENT)} (`id%d` int primary key, `v%s` text);
insert into {q(PERCENT)} values (1, 'a'), (2, 'b');
insert into {q(TWIN_1)} values (1, 1), (2, 2);
insert into {q(TWIN_2)} values (1, 10);
insert into wide_columns values (1, 1, 2);
insert into {q(ODD)} values (1, 1.50, 'l''un', 1, '2024-01-01 00:00:00', 10, 1),
    (2, 2.50, 'deux', 2, '0000-00-00 00:00:00', 20, 2), (3, 3.50, 'trois', 3, null, 30, 3);
insert into {q(FULL)} values (1, 'a'), (2, 'b')
"""

WRITES = f"""
insert into {q(ODD)} values (4, 4.50, 'quatre', 4, '2025-05-05 05:05:05', 40, 4);
update {q(ODD)} set `prix unité` = 9.99, `it's` = 'it''s', {q(LONG_COLUMN)} = '2026-01-01', `remise 10%` = 25,
    `tick``ed` = 22 where `n° id` = 2;
delete from {q(ODD)} where `n° id` = 3;
update {q(FULL)} set `Mixed Case` = 'changed' where id = 1;
insert into {q(FULL)} values (3, 'c');
update {q(PERCENT)} set `v%s` = 'changed' where `id%d` = 1;
insert into {q(PERCENT)} values (3, 'c');
delete from {q(PERCENT)} where `id%d` = 2
"""


@pytest.fixture
def scaffolded(migration, mysql_database, tmp_path, monkeypatch):
    for name in ("MIGRATE_PROJECT_DIR", "MIGRATE_SOURCE_URL", "MIGRATE_TARGET_URL", "MIGRATE_ROUTING_FILE"):
        monkeypatch.delenv(name, raising=False)
    url, db = mysql_database
    run_sql(url, db, SOURCE, sql_mode="")
    folder = tmp_path / "names"
    done = run_migrate("init", str(folder), "--source-url", url, "--target-url", migration.target_url, "--schema", db)
    return folder, done, url, db


def test_init_leaves_out_each_name_postgresql_cannot_hold_in_one_line_and_the_project_works(scaffolded):
    folder, done, _, _ = scaffolded
    said = done.stdout + done.stderr
    for name, why in (
        (TWIN_1, "64 bytes"),
        (TWIN_2, "64 bytes"),
        (WIDE, "69 bytes"),
        ("ird`name", "quotes"),  # quoted in the line: its double quote doubled
        ("wide_columns", f"column {COLUMN_1} is 64 bytes"),
    ):
        lines = [line for line in said.replace("\n", " ").split("→") if name in line and "rename" in line]
        assert lines and why in lines[0], (name, said)
    config = (folder / "migration.yml").read_text()
    for name in (TWIN_1, TWIN_2, WIDE, "wide_columns"):
        assert f'\n  "{name}":' not in config  # said in a comment, not listed
    assert f'\n  "{ODD}":' in config and f'\n  "{FULL}":' in config
    checked = run_migrate("check", "--offline", cwd=folder)  # migration.yml loads: no name it refuses
    assert "meets what the harness relies on" in checked.stdout


def test_two_tables_one_reverse_relation_get_no_reverse_model_and_no_fallback(migration, mysql_database, tmp_path):
    url, db = mysql_database  # MySQL on Linux tells Orders from orders; the contract's legacy_orders does not
    run_sql(
        url, db, "create table `Orders` (id int primary key, a int);\ncreate table orders (id int primary key, b text)"
    )
    folder = tmp_path / "cases"
    done = run_migrate("init", str(folder), "--source-url", url, "--target-url", migration.target_url, "--schema", db)
    said = done.stdout.replace("\n", " ")
    for name in ('"Orders"', '"orders"'):
        assert any(name in line and "fallback.legacy_orders" in line for line in said.split("→")), said
    assert not list((folder / "models" / "fallback").glob("fallback_orders*.sql"))
    checked = run_migrate("check", "--offline", cwd=folder)  # dbt parses it: no two models of one relation
    assert "meets what the harness relies on" in checked.stdout
    assert "Orders: its reverse model's name legacy_orders is also that of orders" in checked.stderr

    # After a switch, the rollback refuses before it freezes or writes anything.
    config = load_config(folder)
    with psycopg.connect(migration.target_url, autocommit=True) as conn:
        control.ensure(conn, config.control_schema)
        control.set_phase(conn, config.control_schema, "switched")
    args = ("rollback", "--decided-by", "Dana", "--role", "dba", "--reason", "the one reverse model")
    refused = run_migrate(*args, cwd=folder, expect=2)
    assert_one_clear_line(refused, "Orders and orders share the reverse model fallback.legacy_orders", "by hand")
    with psycopg.connect(migration.target_url) as conn:
        assert conn.execute("select phase from migrate_control.migration_state").fetchone() == ("switched",)


def test_init_refuses_a_database_name_migration_yml_cannot_hold_in_one_line(mysql_url, tmp_path):
    database = "s" * 64
    run_sql(mysql_url, None, f"create database {q(database)};\ncreate table {q(database)}.t (id int primary key)")
    try:
        failed = run_migrate("init", str(tmp_path / "p"), "--source-url", mysql_url, "--schema", database, expect=2)
    finally:
        run_sql(mysql_url, None, f"drop database {q(database)}")
    assert_one_clear_line(failed, database, "64 bytes", "shorter name")
    assert not (tmp_path / "p").exists()


def test_a_column_postgresql_cannot_hold_is_refused_by_load_in_one_line(migration, scaffolded):
    folder, _, _, _ = scaffolded
    yml = folder / "migration.yml"
    yml.write_text(yml.read_text().replace("tables:\n", 'tables:\n  "wide_columns": {key: ["id"]}\n', 1))
    run_migrate("provision", cwd=folder)
    failed = run_migrate("load", "--no-build", cwd=folder, expect=2)
    assert_one_clear_line(failed, "wide_columns", COLUMN_1, "64 bytes", "rename")
    with psycopg.connect(migration.target_url) as conn:
        assert conn.execute("select to_regclass('landing.wide_columns')").fetchone() == (None,)


def landing_rows(url: str, table: str, columns: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            f'select {columns} from landing."{table}" where not _migrate_deleted order by 1'  # noqa: S608
        ).fetchall()


@pytest.mark.slow
@pytest.mark.parametrize("capture", ["binlog", "trigger"])
def test_odd_names_postgresql_holds_load_sync_and_reconcile_exactly(migration, scaffolded, capture):
    folder, _, url, db = scaffolded
    yml = folder / "migration.yml"
    yml.write_text(yml.read_text().replace("method: binlog", f"method: {capture}", 1))
    run_migrate("provision", cwd=folder)
    run_migrate("load", cwd=folder)
    run_sql(url, db, WRITES)
    run_migrate("sync", cwd=folder)
    reconciled = run_migrate("reconcile", cwd=folder)
    assert "Traceback" not in reconciled.stdout + reconciled.stderr
    odd = landing_rows(
        migration.target_url,
        ODD,
        f'"n° id", "prix unité"::text, "it\'s", "a.b c", "{LONG_COLUMN}"::text, "remise 10%", "tick`ed"',
    )
    assert odd == [
        (1, "1.50", "l'un", 1, "2024-01-01 00:00:00", 10, 1),
        (2, "9.99", "it's", 2, "2026-01-01 00:00:00", 25, 22),
        (4, "4.50", "quatre", 4, "2025-05-05 05:05:05", 40, 4),
    ]
    source = fetch(url, db, f"select id, `Mixed Case` from {q(FULL)} order by 1")
    assert landing_rows(migration.target_url, FULL, 'id, "Mixed Case"') == [tuple(r) for r in source]
    assert landing_rows(migration.target_url, PERCENT, '"id%d", "v%s"') == [(1, "changed"), (3, "c")]
    with psycopg.connect(migration.target_url) as conn:
        app = conn.execute("select count(*) from information_schema.tables where table_schema = 'app'").fetchone()
    assert app[0] >= 2
