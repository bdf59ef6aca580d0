"""The checksum level gives two values that PostgreSQL stores differently two different hashes.

Each case loads one row, then rewrites one landing value to another that SQL calls equal, or that
an unsafe row encoding would confuse, and expects the difference found with its key, its column,
and both values as each side holds them."""

from __future__ import annotations

import psycopg
import pytest

from harness import load
from harness.reconcile import checksums
from tests.integration.conftest import project

pytestmark = pytest.mark.integration

SCHEMA = """
create schema "Odd";
create table "Odd"."Val" (
    id integer primary key, f8 double precision, f4 real, n numeric, iv interval, tz timetz, j json,
    a text, b text
);
insert into "Odd"."Val" values
    (1, 0, 0, 1.10, '1 mon 2 days', '12:00+01', '{"k": 1, "k": 2}', 'x', 'y'),
    (2, 1, 1, 2, '24:00:00', '10:00+00', '{"a": 1, "b": 2}', null, 'y'),
    (3, 1, 1, 2, '1 day', '10:00+00', '[]', E'a\\x1fb', 'c');
"""

CONFIG = """
source: {schema: Odd, database: unused}
target: {database: unused}
tables:
  Val: {}
"""


@pytest.fixture
def odd(tmp_path, migration, monkeypatch):
    config, source, target = project(tmp_path, migration, monkeypatch, CONFIG, SCHEMA)
    load.load(config, source, target)
    return config, source, target, migration


@pytest.mark.parametrize(
    "key, change, column",
    [
        (1, "f8 = '-0'", "f8"),  # -0 and 0: equal in SQL, stored differently
        (1, "f4 = '-0'", "f4"),
        (1, "n = 1.1", "n"),  # numeric keeps its scale: 1.10 is not 1.1
        (1, "iv = '32 days'", "iv"),  # months and days are kept apart
        (2, "iv = '1 day'", "iv"),  # 24:00:00 is not 1 day
        (1, "tz = '11:00+00'", "tz"),  # the same instant at another offset
        (1, "j = '{\"k\": 2}'", "j"),  # json keeps its text: duplicate keys and key order
        (2, "a = E'\\x1e'", "a"),  # NULL and the record separator
        (3, "a = 'a', b = E'b\\x1fc'", "a"),  # the unit separator moved from one column to the next
    ],
)
def test_a_value_stored_differently_is_a_difference(odd, key, change, column):
    config, source, target, migration = odd
    assert all(r.matches for r in checksums.compare(config, source, target))
    with psycopg.connect(migration.target_url, autocommit=True) as conn:
        conn.execute(f'update landing."Val" set {change} where id = {key}')
    (result,) = checksums.compare(config, source, target)
    assert [(d.kind, d.key) for d in result.differences] == [("changed", (str(key),))]
    assert column in result.differences[0].columns


def test_a_difference_shows_both_values(odd):
    config, source, target, migration = odd
    with psycopg.connect(migration.target_url, autocommit=True) as conn:
        conn.execute("""update landing."Val" set iv = '32 days', b = null where id = 1""")
    (result,) = checksums.compare(config, source, target)
    (difference,) = result.differences
    assert difference.columns == ("iv", "b")
    assert difference.values == (("1 mon 2 days", "32 days"), ("y", None))
