"""A command's context: the listed tables described once per command, a failed description not
kept; and a database error no step expected leaves the CLI as one line."""

from __future__ import annotations

import json

import psycopg
import pytest

from harness.core import connections, control
from harness.core.context import Context
from harness.core.errors import ConfigError, DatabaseFailed
from tests.conftest import assert_one_clear_line, run_migrate

pytestmark = pytest.mark.integration


def test_a_context_describes_each_listed_table_once(shop):
    config, source, target, migration, _ = shop
    context = Context(config, source, target, "test")
    described = context.tables()
    assert [t.name for t in described] == ["Client", "Basket", "Tag"]
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute('alter table "Shop"."Tag" rename to "Label"')
    # The same command asks again: the kept description, not the catalog (which no longer has Tag).
    assert context.tables() == described
    assert context.tables(["Tag"]) == [described[2]]
    with pytest.raises(ConfigError, match='"Shop"."Tag" listed in migration.yml does not exist'):
        Context(config, source, target, "test").tables()  # a new command describes afresh


def test_a_table_that_failed_to_describe_is_described_again(shop):
    config, source, target, migration, _ = shop
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute('alter table "Shop"."Tag" rename to "Label"')
    context = Context(config, source, target, "test")
    with pytest.raises(ConfigError):
        context.tables()
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute('alter table "Shop"."Label" rename to "Tag"')
    assert [t.name for t in context.tables()] == ["Client", "Basket", "Tag"]


def test_an_unexpected_database_error_becomes_its_first_line(shop):
    _, source, _, _, _ = shop
    with (
        pytest.raises(DatabaseFailed) as raised,
        connections.database_errors(),
        connections.connection(source, command="test") as conn,
    ):
        conn.execute("select * from no_such_table")
    assert str(raised.value) == 'relation "no_such_table" does not exist' and raised.value.exit_code == 1


def test_the_cli_says_an_unexpected_database_error_in_one_line(shop):
    config, _, target, migration, tmp_path = shop
    (tmp_path / "migration.yml").write_text((tmp_path / "migration.yml").read_text() + "owners: {dba: Platform DBA}\n")
    with psycopg.connect(migration.target_url, autocommit=True) as conn:
        control.ensure(conn, config.control_schema)
        conn.execute(
            "create function refuse() returns trigger language plpgsql as $$ begin raise exception "
            "'refused by a test'; end $$"
        )
        conn.execute(
            f'create trigger refuse before insert on "{config.control_schema}".approvals execute function refuse()'
        )
    env = {"MIGRATE_PROJECT_DIR": str(tmp_path)}
    result = run_migrate("approve", "--role", "dba", "--name", "Ann", env=env, expect=1)
    assert_one_clear_line(result, "database error: refused by a test")
    document = json.loads(run_migrate("approve", "--role", "dba", "--name", "Ann", "--json", env=env, expect=1).stdout)
    assert document["error"] == "database error: refused by a test"
