"""MySQL's description of all listed tables at once (catalog.columns_and_keys) is what the table
by table one gives (companion columns, MariaDB's JSON, keys), and refuses as it does."""

from __future__ import annotations

import pytest

from harness.core import connections
from harness.core.config import load_config
from harness.core.connections import Database
from harness.core.errors import ConfigError
from harness.engines.mysql import catalog
from harness.target import landing
from tests.integration.mysql.conftest import run_sql

pytestmark = pytest.mark.integration

SCHEMA = """
create table people (id int primary key, name varchar(20) not null, born date, j json);
create table `Mixed Case` (a int, b varchar(5), c datetime(3), primary key (b, a));
create table nokey (id int);
create table other (id bigint unsigned primary key, j json)
"""


def _described(tmp_path, monkeypatch, url, db, listed):
    (tmp_path / "migration.yml").write_text(
        f"source: {{engine: mysql, schema: {db}}}\ntarget: {{database: unused}}\ntables:\n{listed}"
    )
    monkeypatch.setenv("MIGRATE_SOURCE_URL", url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", "postgresql://unused")
    config = load_config(tmp_path)
    with connections.connection(Database("source", url, "MIGRATE_SOURCE_URL", False), autocommit=True) as conn:
        return landing.describe_all(conn, config, list(config.tables))


def test_all_at_once_is_table_by_table(tmp_path, monkeypatch, machine_mysql_database):
    url, db = machine_mysql_database
    run_sql(url, db, SCHEMA)
    listed = "  people: {}\n  Mixed Case: {}\n  nokey: {key: [id]}\n  other: {}\n"
    described = _described(tmp_path, monkeypatch, url, db, listed)
    assert list(described) == ["people", "Mixed Case", "nokey", "other"]
    with connections.connection(Database("source", url, "MIGRATE_SOURCE_URL", False), autocommit=True) as conn:
        for name in ("people", "Mixed Case", "other"):
            assert described[name].columns == catalog.columns(conn, db, name)
            assert described[name].key == catalog.primary_key(conn, db, name)
    assert described["Mixed Case"].key == ["b", "a"] and described["nokey"].key == ["id"]
    assert [c.raw_of for c in described["people"].columns] == [None, None, None, None, "born"]  # a companion


@pytest.mark.parametrize(
    "listed, error",
    [
        ("  People: {}\n", 'table "%s"."People" listed in migration.yml does not exist in the source'),
        ("  nokey: {}\n", 'table "%s"."nokey" has no primary key: name one under tables.nokey.key in migration.yml'),
        ("  people: {masks: {card: last4}}\n", "migration.yml names column(s) card of people that the source"),
    ],
)
def test_all_at_once_refuses_as_table_by_table(listed, error, tmp_path, monkeypatch, machine_mysql_database):
    url, db = machine_mysql_database
    run_sql(url, db, SCHEMA)
    with pytest.raises(ConfigError) as raised:
        _described(tmp_path, monkeypatch, url, db, "  other: {}\n" + listed)
    assert str(raised.value).startswith(error.replace("%s", db))
