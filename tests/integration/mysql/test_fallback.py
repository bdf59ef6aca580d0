"""`migrate rollback` after the switch on a MariaDB source: the whole fallback runbook (the new side
frozen, the reverse models built by dbt, their rows carried into the frozen legacy tables, verified,
the applications switched back, the source unfrozen), on a small project of its own whose reverse
models read the new application's changes from a table the test writes."""

from __future__ import annotations

import json
import shutil

import psycopg
import pytest

from harness.core import connections, control
from harness.core.config import load_config
from harness.core.connections import Database
from harness.engines.mysql.engine import MysqlEngine
from tests.conftest import PROJECT_DIR, assert_one_clear_line, run_migrate
from tests.integration.mysql.conftest import fetch, run_sql

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # dbt builds the reverse models

LEGACY = """
create table orders (id int primary key, placed date not null, status enum('new', 'paid'), tags set('gift', 'rush'),
                     total decimal(10,2), updated timestamp(3) not null default current_timestamp(3)
                         on update current_timestamp(3)) engine=InnoDB;
create table order_items (id int primary key, order_id int not null, sku varchar(20) character set latin1,
                          foreign key (order_id) references orders (id)) engine=InnoDB;
insert into orders values (1, '0000-00-00', 'new', '', 1.00, '2020-01-01 00:00:00'),
                          (2, '2024-02-30', 'paid', 'gift', 2.00, '2020-01-01 00:00:00'),
                          (3, '2024-03-01', 'new', 'rush', 3.00, '2020-01-01 00:00:00');
insert into order_items values (10, 1, 'a'), (20, 2, 'b'), (30, 3, 'c')
"""

CONFIG = """
source: {{engine: mysql, schema: {db}}}
target: {{database: unused}}
tables:
  orders: {{}}
  order_items: {{}}
owners: {{dba: Platform DBA}}
cutover: {{routing_file: routing.json}}
"""

# The new application's changes after the switch, in legacy form (as models/fallback would make them).
# A date column's companion may be left out (`updated`'s is): the new application makes no zero dates.
CHANGES = """
create schema changes;
create table changes.orders (id int, placed date, _mysql_raw_placed text, status text, tags text[],
                             total numeric(10,2), updated timestamptz(3),
                             _fallback_op char(1), _fallback_columns text[]);
create table changes.order_items (id int, order_id int, sku varchar(20), _fallback_op char(1),
                                  _fallback_columns text[]);
insert into changes.orders values
    (4, '2026-12-07', null, 'paid', '{gift,rush}', 40.00, '2026-12-07 10:00:00.5+00', 'I',
     '{id,placed,_mysql_raw_placed,status,tags,total,updated}'),
    (2, null, null, null, '{}', 22.00, null, 'U', '{tags,total}'),
    (3, null, null, null, null, null, null, 'D', '{}');
insert into changes.order_items values
    (40, 4, 'ü', 'I', '{id,order_id,sku}'),
    (30, null, null, 'D', '{}')
"""

REVERSE_MODEL = """{{{{ config(materialized='table', schema='fallback', tags=['fallback']) }}}}
select * from changes.{table}
"""
SCHEMA_MACRO = """{% macro generate_schema_name(custom_schema_name, node) -%}
{{ custom_schema_name or target.schema }}
{%- endmacro %}
"""


@pytest.fixture
def switched(mysql_database, migration, tmp_path, monkeypatch):
    """A project after its switch: the legacy tables frozen, the phase 'switched', the new
    application's changes in the target, reverse models that read them."""
    url, db = mysql_database
    run_sql(url, db, LEGACY, sql_mode="ALLOW_INVALID_DATES")
    (tmp_path / "migration.yml").write_text(CONFIG.format(db=db))
    monkeypatch.setenv("MIGRATE_SOURCE_URL", url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    (tmp_path / "dbt_project.yml").write_text(
        "name: mysql_fallback\nversion: '1.0'\nconfig-version: 2\nprofile: migrate\n"
    )
    shutil.copytree(PROJECT_DIR / "profiles", tmp_path / "profiles")
    (tmp_path / "macros").mkdir()
    (tmp_path / "macros" / "generate_schema_name.sql").write_text(SCHEMA_MACRO)
    (tmp_path / "models" / "fallback").mkdir(parents=True)
    for table in ("orders", "order_items"):
        (tmp_path / "models" / "fallback" / f"legacy_{table}.sql").write_text(REVERSE_MODEL.format(table=table))
    with psycopg.connect(migration.target_url, autocommit=True) as conn:
        conn.execute(CHANGES)
        conn.execute("create schema app; create table app.orders (id int primary key)")
    env = {"MIGRATE_PROJECT_DIR": str(tmp_path), "MIGRATE_SOURCE_URL": url, "MIGRATE_TARGET_URL": migration.target_url}
    source = Database("source", url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)
    config = load_config(tmp_path)
    with connections.connection(source) as conn:
        MysqlEngine().freeze(conn, db, ["orders", "order_items"], lock_timeout_seconds=10)
    with connections.connection(target, autocommit=True) as ctl:
        control.ensure(ctl, config.control_schema)
        control.set_phase(ctl, config.control_schema, "switched")
    return url, db, env, tmp_path


def test_migrate_rollback_falls_back_into_the_mariadb_schema(switched):
    url, db, env, folder = switched
    run_migrate("rollback", "--decided-by", "Dana", "--role", "dba", "--reason", "testing the MySQL fallback", env=env)
    assert fetch(url, db, "select id from orders order by id") == [(1,), (2,), (4,)]
    assert fetch(url, db, "select id, order_id from order_items order by id") == [(10, 1), (20, 2), (40, 4)]
    with connections.connect_mysql(Database("source", f"{url}/{db}", "MIGRATE_SOURCE_URL", False)) as conn:
        rows = conn.execute("select id, placed, status, tags, total, updated from orders order by id") + conn.execute(
            "select sku from order_items where id = 40"
        )
    assert rows == [
        ("1", "0000-00-00", "new", "", "1.00", "2020-01-01 00:00:00.000"),
        # Only tags and total listed: the invalid date and `updated` (ON UPDATE) as they were.
        ("2", "2024-02-30", "paid", "", "22.00", "2020-01-01 00:00:00.000"),
        ("4", "2026-12-07", "paid", "gift,rush", "40.00", "2026-12-07 10:00:00.500"),
        ("ü",),
    ]
    # Switched back and unfrozen: the legacy application writes again.
    assert json.loads((folder / "routing.json").read_text())
    with connections.connect_mysql(Database("source", url, "MIGRATE_SOURCE_URL", False)) as conn:
        assert MysqlEngine().frozen_tables(conn, db) == []
    run_sql(url, db, "insert into orders (id, placed) values (5, '2026-12-08')")


def test_a_reverse_model_without_a_legacy_column_is_refused_in_one_line(switched):
    url, db, env, folder = switched
    with psycopg.connect(env["MIGRATE_TARGET_URL"], autocommit=True) as conn:
        conn.execute("alter table changes.orders drop column total")
    result = run_migrate(
        "rollback", "--decided-by", "Dana", "--role", "dba", "--reason", "testing the MySQL fallback", env=env, expect=2
    )
    assert_one_clear_line(result, "the reverse model of orders lacks total", "models/fallback/legacy_orders.sql")
    assert fetch(url, db, "select count(*) from orders") == [(3,)]
