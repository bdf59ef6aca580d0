"""The order in which the fallback's carry-back writes a PostgreSQL legacy schema whose constraints
are declared (not deferrable): the new application's changes, as reverse rows, written by the real
carry_back and verify steps (harness/rollback/fallback.py) into the frozen legacy tables.

Each scenario is a state the new application reached by ordinary writes that the legacy schema
holds at its end, but that a fixed order of deletes and writes breaks on the way: a child moved to
another parent before the old parent was deleted; a unique value freed by a delete and taken by an
insert or an update; a self-referencing table. Data that itself breaks a constraint is refused in
one line naming the table, the key and the constraint, and nothing is written."""

from __future__ import annotations

import psycopg
import pytest

from harness import engines
from harness.core import connections
from harness.dbt import contract as dbt_contract
from harness.engines.postgres import carry_back as postgres_carry_back
from harness.rollback import fallback
from tests.integration.conftest import project

pytestmark = pytest.mark.integration

OP, COLUMNS = dbt_contract.FALLBACK_OP, dbt_contract.FALLBACK_COLUMNS

LEGACY = """
create schema legacy;
create table legacy.customer (id int primary key, email text not null unique, name text);
create table legacy.orders (id int primary key, customer_id int not null references legacy.customer (id), note text);
create table legacy.person (id int primary key, boss int references legacy.person (id), name text);
insert into legacy.customer values (1, 'a@x', 'moved away'), (2, 'b@x', 'stays'), (4, 'd@x', 'frees d'),
                                   (6, 'e@x', 'frees e'), (7, 'g@x', 'g');
insert into legacy.orders values (10, 1, 'to 2'), (11, 1, 'to 3'), (12, 7, 'stays');
insert into legacy.person values (1, null, 'top'), (2, 1, 'middle'), (3, 2, 'bottom'), (5, null, 'old top'),
                                 (6, 5, 'old child')
"""
CONFIG = """
source: {schema: legacy, database: unused}
target: {database: unused}
tables:
  customer: {}
  orders: {}
  person: {}
"""
SHAPES = {
    "customer": "id int, email text, name text",
    "orders": "id int, customer_id int, note text",
    "person": "id int, boss int, name text",
}


@pytest.fixture
def legacy(tmp_path, migration, monkeypatch):
    """A legacy schema after the switch: frozen, its project's reverse relations empty."""
    config, source, target = project(tmp_path, migration, monkeypatch, CONFIG, LEGACY)
    with connections.connection(source) as conn:
        engines.source_engine(config).freeze(conn, "legacy", list(SHAPES), lock_timeout_seconds=10)
    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute(f"create schema {dbt_contract.FALLBACK_SCHEMA}")
        for table, shape in SHAPES.items():
            relation = dbt_contract.fallback_relation_name(table)
            conn.execute(f"create table fallback.{relation} ({shape}, {OP} char(1), {COLUMNS} text[])")
    return config, source, target, migration


def _reverse(migration, table: str, rows: str) -> None:
    with psycopg.connect(migration.target_url, autocommit=True) as conn:
        conn.execute(f"insert into fallback.{dbt_contract.fallback_relation_name(table)} values {rows}")


def _rows(migration, query: str) -> list[tuple]:
    with psycopg.connect(migration.source_url) as conn:
        return conn.execute(query).fetchall()


def _carry(legacy) -> dict:
    config, source, target, _ = legacy
    carried = fallback._carry_back(config, source, target)
    fallback._verify(config, source, target)
    return carried


def test_a_child_moved_to_another_parent_before_its_old_parent_was_deleted(legacy):
    """Order 10 moved to customer 2, order 11 to customer 3 (born in the new system); customer 1 deleted."""
    migration = legacy[3]
    _reverse(migration, "customer", "(3, 'c@x', 'new', 'I', '{id,email,name}'), (1, null, null, 'D', '{}')")
    _reverse(migration, "orders", "(10, 2, null, 'U', '{customer_id}'), (11, 3, null, 'U', '{customer_id}')")
    carried = _carry(legacy)
    assert carried["customer"] == {"deleted": 1, "inserted": 1, "updated": 0}
    assert _rows(migration, "select id, customer_id from legacy.orders order by id") == [(10, 2), (11, 3), (12, 7)]
    assert _rows(migration, "select id from legacy.customer order by id") == [(2,), (3,), (4,), (6,), (7,)]


def test_a_unique_value_freed_by_a_delete_is_taken_by_an_insert_and_an_update(legacy):
    """Customer 4 deleted, its e-mail taken by customer 5 (born in the new system); customer 6
    deleted, its e-mail taken by customer 2."""
    migration = legacy[3]
    _reverse(
        migration,
        "customer",
        "(4, null, null, 'D', '{}'), (5, 'd@x', 'new d', 'I', '{id,email,name}'), (6, null, null, 'D', '{}'), "
        "(2, 'e@x', null, 'U', '{email}')",
    )
    carried = _carry(legacy)
    assert carried["customer"] == {"deleted": 2, "inserted": 1, "updated": 1}
    assert _rows(migration, "select id, email from legacy.customer order by id") == [
        (1, "a@x"),
        (2, "e@x"),
        (5, "d@x"),
        (7, "g@x"),
    ]


def test_a_self_referencing_table(legacy):
    """Person 2 deleted and person 3 moved under person 4 (born in the new system, under 1); the
    whole tree of person 5 deleted; person 8 born under person 9, born after it."""
    migration = legacy[3]
    _reverse(
        migration,
        "person",
        "(2, null, null, 'D', '{}'), (3, 4, null, 'U', '{boss}'), (4, 1, 'new middle', 'I', '{id,boss,name}'), "
        "(6, null, null, 'D', '{}'), (5, null, null, 'D', '{}'), "
        "(8, 9, 'new child', 'I', '{id,boss,name}'), (9, null, 'new top', 'I', '{id,boss,name}')",
    )
    carried = _carry(legacy)
    assert carried["person"] == {"deleted": 3, "inserted": 3, "updated": 1}
    assert _rows(migration, "select id, boss from legacy.person order by id") == [
        (1, None),
        (3, 4),
        (4, 1),
        (8, 9),
        (9, None),
    ]


def test_carried_data_that_breaks_a_constraint_is_refused_in_one_line_and_nothing_written(legacy):
    """Customer 7 deleted while order 12 still names it."""
    migration = legacy[3]
    _reverse(migration, "customer", "(7, null, null, 'D', '{}'), (3, 'c@x', 'new', 'I', '{id,email,name}')")
    before = _rows(migration, "select * from legacy.customer order by id")
    with pytest.raises(postgres_carry_back.NotWritable) as refused:
        _carry(legacy)
    message = str(refused.value)
    assert "\n" not in message
    for fragment in ("customer", "orders_customer_id_fkey", "(id)=(7)", "nothing was written"):
        assert fragment in message, message
    assert _rows(migration, "select * from legacy.customer order by id") == before


CYCLE = {
    "customer": "(7, null, null, 'D', '{}'), (8, 'g@x', 'g again', 'I', '{id,email,name}')",
    "orders": "(12, 8, null, 'U', '{customer_id}')",
}


def test_a_customer_deleted_whose_orders_and_e_mail_went_to_a_new_one_is_refused_in_one_line(legacy):
    """The delete needs the move first, the move needs the insert, the insert needs the delete: no
    order of statements writes it while both constraints are checked at once (as InnoDB's are not,
    tests/integration/mysql/test_fallback_order.py)."""
    migration = legacy[3]
    for table, rows in CYCLE.items():
        _reverse(migration, table, rows)
    with pytest.raises(postgres_carry_back.NotWritable) as refused:
        _carry(legacy)
    message = str(refused.value)
    assert "\n" not in message
    for fragment in ("customer", "customer_email_key", "(email)=(g@x)", "nothing was written"):
        assert fragment in message, message
    assert _rows(migration, "select customer_id from legacy.orders where id = 12") == [(7,)]


def test_a_deferrable_foreign_key_is_checked_once_at_the_end(legacy):
    """The same changes where the legacy schema declares the reference DEFERRABLE."""
    migration = legacy[3]
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute("alter table legacy.orders alter constraint orders_customer_id_fkey deferrable")
    for table, rows in CYCLE.items():
        _reverse(migration, table, rows)
    carried = _carry(legacy)
    assert carried["customer"] == {"deleted": 1, "inserted": 1, "updated": 0}
    assert _rows(migration, "select customer_id from legacy.orders where id = 12") == [(8,)]
    # Checked at the end all the same: an order left naming a deleted customer is refused.
    _reverse(migration, "customer", "(2, null, null, 'D', '{}')")
    with connections.connection(legacy[1]) as conn:  # past the freeze
        engines.source_engine(legacy[0]).declare_writer(conn)
        conn.execute("insert into legacy.orders values (13, 2, 'names 2')")
        conn.commit()
    with pytest.raises(postgres_carry_back.NotWritable, match="orders_customer_id_fkey.*nothing was written"):
        _carry(legacy)
    assert _rows(migration, "select count(*) from legacy.customer where id = 2") == [(1,)]
