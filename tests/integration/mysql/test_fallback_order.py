"""The order in which the fallback's carry-back writes a MariaDB legacy schema whose foreign keys and
unique keys are declared (InnoDB checks both row by row): the new application's changes, as reverse
rows, written by the real carry_back and verify steps (harness/rollback/fallback.py) into the
frozen legacy tables. The scenarios of tests/integration/test_fallback_order.py, and one more:
the legacy schema holds at the end what no order of statements can write one by one."""

from __future__ import annotations

import psycopg
import pytest

from harness.core import connections
from harness.core.config import load_config
from harness.core.connections import Database
from harness.dbt import contract as dbt_contract
from harness.engines.mysql import carry_back
from harness.engines.mysql.engine import MysqlEngine
from harness.rollback import fallback
from tests.integration.mysql.conftest import fetch, run_sql

pytestmark = pytest.mark.integration

OP, COLUMNS = dbt_contract.FALLBACK_OP, dbt_contract.FALLBACK_COLUMNS

LEGACY = """
create table customer (id int primary key, email varchar(40) not null unique, name varchar(40)) engine=InnoDB;
create table orders (id int primary key, customer_id int not null, note varchar(40),
                     constraint orders_customer foreign key (customer_id) references customer (id)) engine=InnoDB;
create table person (id int primary key, boss int, name varchar(40),
                     constraint person_boss foreign key (boss) references person (id)) engine=InnoDB;
insert into customer values (1, 'a@x', 'moved away'), (2, 'b@x', 'stays'), (4, 'd@x', 'frees d'),
                            (6, 'e@x', 'frees e'), (7, 'g@x', 'g');
insert into orders values (10, 1, 'to 2'), (11, 1, 'to 3'), (12, 7, 'stays');
insert into person values (1, null, 'top'), (5, null, 'old top');
insert into person values (2, 1, 'middle'), (6, 5, 'old child');
insert into person values (3, 2, 'bottom')
"""
CONFIG = """
source: {{engine: mysql, schema: {db}}}
target: {{database: unused}}
tables:
  customer: {{}}
  orders: {{}}
  person: {{}}
"""
SHAPES = {
    "customer": "id int, email text, name text",
    "orders": "id int, customer_id int, note text",
    "person": "id int, boss int, name text",
}


@pytest.fixture
def legacy(mysql_database, migration, tmp_path, monkeypatch):
    """A legacy schema after the switch: frozen, its project's reverse relations empty."""
    url, db = mysql_database
    run_sql(url, db, LEGACY)
    (tmp_path / "migration.yml").write_text(CONFIG.format(db=db))
    monkeypatch.setenv("MIGRATE_SOURCE_URL", url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    config = load_config(tmp_path)
    source = Database("source", url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)
    with connections.connection(source) as conn:
        MysqlEngine().freeze(conn, db, list(SHAPES), lock_timeout_seconds=10)
    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute(f"create schema {dbt_contract.FALLBACK_SCHEMA}")
        for table, shape in SHAPES.items():
            relation = dbt_contract.fallback_relation_name(table)
            conn.execute(f"create table fallback.{relation} ({shape}, {OP} char(1), {COLUMNS} text[])")
    return config, source, target, url, db


def _reverse(legacy, table: str, rows: str) -> None:
    with psycopg.connect(legacy[2].url, autocommit=True) as conn:
        conn.execute(f"insert into fallback.{dbt_contract.fallback_relation_name(table)} values {rows}")


def _rows(legacy, query: str) -> list[tuple]:
    return fetch(legacy[3], legacy[4], query)


def _carry(legacy) -> dict:
    config, source, target = legacy[:3]
    carried = fallback._carry_back(config, source, target)
    fallback._verify(config, source, target)
    assert _rows(legacy, "select @@foreign_key_checks") == [(1,)]
    return carried


def test_a_child_moved_to_another_parent_before_its_old_parent_was_deleted(legacy):
    """Order 10 moved to customer 2, order 11 to customer 3 (born in the new system); customer 1 deleted."""
    _reverse(legacy, "customer", "(3, 'c@x', 'new', 'I', '{id,email,name}'), (1, null, null, 'D', '{}')")
    _reverse(legacy, "orders", "(10, 2, null, 'U', '{customer_id}'), (11, 3, null, 'U', '{customer_id}')")
    carried = _carry(legacy)
    assert carried["customer"] == {"deleted": 1, "inserted": 1, "updated": 0}
    assert _rows(legacy, "select id, customer_id from orders order by id") == [(10, 2), (11, 3), (12, 7)]
    assert _rows(legacy, "select id from customer order by id") == [(2,), (3,), (4,), (6,), (7,)]


def test_a_unique_value_freed_by_a_delete_is_taken_by_an_insert_and_an_update(legacy):
    """Customer 4 deleted, its e-mail taken by customer 5 (born in the new system); customer 6
    deleted, its e-mail taken by customer 2."""
    _reverse(
        legacy,
        "customer",
        "(4, null, null, 'D', '{}'), (5, 'd@x', 'new d', 'I', '{id,email,name}'), (6, null, null, 'D', '{}'), "
        "(2, 'e@x', null, 'U', '{email}')",
    )
    carried = _carry(legacy)
    assert carried["customer"] == {"deleted": 2, "inserted": 1, "updated": 1}
    assert _rows(legacy, "select id, email from customer order by id") == [
        (1, "a@x"),
        (2, "e@x"),
        (5, "d@x"),
        (7, "g@x"),
    ]


def test_a_customer_deleted_whose_orders_and_e_mail_went_to_a_new_one(legacy):
    """Customer 7 deleted, order 12 moved to customer 8 (born in the new system) that took its
    e-mail: the delete needs the move first, the move needs the insert, the insert needs the delete."""
    _reverse(legacy, "customer", "(7, null, null, 'D', '{}'), (8, 'g@x', 'g again', 'I', '{id,email,name}')")
    _reverse(legacy, "orders", "(12, 8, null, 'U', '{customer_id}')")
    carried = _carry(legacy)
    assert carried["customer"] == {"deleted": 1, "inserted": 1, "updated": 0}
    assert _rows(legacy, "select id, customer_id from orders where id = 12") == [(12, 8)]


def test_a_self_referencing_table(legacy):
    """Person 2 deleted and person 3 moved under person 4 (born in the new system, under 1); the
    whole tree of person 5 deleted; person 8 born under person 9, born after it."""
    _reverse(
        legacy,
        "person",
        "(2, null, null, 'D', '{}'), (3, 4, null, 'U', '{boss}'), (4, 1, 'new middle', 'I', '{id,boss,name}'), "
        "(6, null, null, 'D', '{}'), (5, null, null, 'D', '{}'), "
        "(8, 9, 'new child', 'I', '{id,boss,name}'), (9, null, 'new top', 'I', '{id,boss,name}')",
    )
    carried = _carry(legacy)
    assert carried["person"] == {"deleted": 3, "inserted": 3, "updated": 1}
    assert _rows(legacy, "select id, boss from person order by id") == [(1, None), (3, 4), (4, 1), (8, 9), (9, None)]


def test_carried_data_that_breaks_a_constraint_is_refused_in_one_line_and_nothing_written(legacy):
    """Customer 7 deleted while order 12 still names it."""
    _reverse(legacy, "customer", "(7, null, null, 'D', '{}'), (3, 'c@x', 'new', 'I', '{id,email,name}')")
    before = _rows(legacy, "select * from customer order by id")
    with pytest.raises(carry_back.NotWritable) as refused:
        _carry(legacy)
    message = str(refused.value)
    assert "\n" not in message
    for fragment in ("orders", "customer", "orders_customer", "12", "nothing was written"):
        assert fragment in message, message
    assert _rows(legacy, "select * from customer order by id") == before
