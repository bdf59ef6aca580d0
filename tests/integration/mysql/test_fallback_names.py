"""`migrate rollback` after the switch into MariaDB tables whose names have spaces, dots, quotes, a
backtick, a % (PyMySQL formats parameters with it) and multibyte characters: the reverse rows land
in the right table and columns, exactly."""

from __future__ import annotations

import shutil

import psycopg
import pytest

from harness.core import connections, control
from harness.core.config import load_config
from harness.core.connections import Database
from harness.engines.mysql.engine import MysqlEngine
from tests.conftest import PROJECT_DIR, run_migrate
from tests.integration.mysql.conftest import fetch, run_sql
from tests.integration.mysql.test_fallback import SCHEMA_MACRO

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # dbt builds the reverse models

TABLE = "taux 5%s été.v2"
LEGACY = """
create table `taux 5%s été.v2` (`n° id` int primary key, `remise 10%` int, `tick``ed` varchar(10), `it's` text)
    engine=InnoDB;
insert into `taux 5%s été.v2` values (1, 10, 'a', 'un'), (2, 20, 'b', 'deux'), (3, 30, 'c', 'trois')
"""
CONFIG = """
source: {{engine: mysql, schema: {db}}}
target: {{database: unused}}
tables:
  "taux 5%s été.v2": {{}}
owners: {{dba: Platform DBA}}
cutover: {{routing_file: routing.json}}
"""
CHANGES = """
create schema changes;
create table changes.odd ("n° id" int, "remise 10%" int, "tick`ed" varchar(10), "it's" text,
                          _fallback_op char(1), _fallback_columns text[]);
insert into changes.odd values
    (4, 40, 'd''x', 'quatre', 'I', '{"n° id","remise 10%","tick`ed","it''s"}'),
    (2, 25, null, null, 'U', '{"remise 10%"}'),
    (1, null, 'z%s', 'l''un', 'U', '{"tick`ed","it''s"}'),
    (3, null, null, null, 'D', '{}')
"""
REVERSE_MODEL = """{{ config(materialized='table', schema='fallback', tags=['fallback'],
             alias='legacy_taux 5%s été.v2') }}
select * from changes.odd
"""


def test_a_fallback_writes_back_into_a_table_with_odd_names(mysql_database, migration, tmp_path, monkeypatch):
    url, db = mysql_database
    run_sql(url, db, LEGACY)
    (tmp_path / "migration.yml").write_text(CONFIG.format(db=db))
    monkeypatch.setenv("MIGRATE_SOURCE_URL", url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    project = "name: odd_fallback\nversion: '1.0'\nconfig-version: 2\nprofile: migrate\n"
    (tmp_path / "dbt_project.yml").write_text(project)
    shutil.copytree(PROJECT_DIR / "profiles", tmp_path / "profiles")
    (tmp_path / "macros").mkdir()
    (tmp_path / "macros" / "generate_schema_name.sql").write_text(SCHEMA_MACRO)
    (tmp_path / "models" / "fallback").mkdir(parents=True)
    (tmp_path / "models" / "fallback" / "legacy_odd.sql").write_text(REVERSE_MODEL)
    with psycopg.connect(migration.target_url, autocommit=True) as conn:
        conn.execute(CHANGES)
        conn.execute("create schema app; create table app.odd (id int primary key)")
    env = {"MIGRATE_PROJECT_DIR": str(tmp_path), "MIGRATE_SOURCE_URL": url, "MIGRATE_TARGET_URL": migration.target_url}
    config = load_config(tmp_path)
    with connections.connection(Database("source", url, "MIGRATE_SOURCE_URL", False)) as conn:
        MysqlEngine().freeze(conn, db, [TABLE], lock_timeout_seconds=10)
    with connections.connection(Database("target", migration.target_url, "", False), autocommit=True) as ctl:
        control.ensure(ctl, config.control_schema)
        control.set_phase(ctl, config.control_schema, "switched")
    run_migrate("rollback", "--decided-by", "Dana", "--role", "dba", "--reason", "odd names", env=env)
    assert fetch(url, db, "select * from `taux 5%s été.v2` order by 1") == [
        (1, 10, "z%s", "l'un"),
        (2, 25, "b", "deux"),
        (4, 40, "d'x", "quatre"),
    ]
