"""The generic writer (harness/demo/generic_traffic.py) on the fidelity matrix's types: it makes a
value of every built-in type and of the source's own enum, composite and domain types, the server
takes each, and the ledger (harness/demo/ledger.py) tells the row it wrote from any other, even
in a table with a column named like the writer's own aliases (t, k, e)."""

from __future__ import annotations

import random

import psycopg
import pytest

from harness.demo import ledger
from harness.demo.dialects import PostgresDialect
from harness.demo.generic_traffic import GenericApp, legacy_form, shapes
from tests.integration.test_fidelity_matrix import MATRIX, TYPES, xml_supported

pytestmark = pytest.mark.integration


def matrix_shape(url: str):
    """The matrix table (no row) in the source, and its shape as the generic writer reads it."""
    entries = [e for e in MATRIX if e[1] != "xml" or xml_supported(url)]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TYPES)
        conn.execute(
            f'create table "Fid"."Matrix" (id integer primary key, {", ".join(f"{c} {t}" for c, t, *_ in entries)})'
        )
        dialect = PostgresDialect()
        (shape,) = shapes(dialect.describe(conn, "Fid"), dialect=dialect).values()
    return shape, dialect, [c for c, *_ in entries]


def test_the_writer_makes_a_value_of_every_matrix_type(migration):
    shape, dialect, columns = matrix_shape(migration.source_url)
    assert set(columns) - shape.makeable == set(), "types the writer leaves NULL"
    rng = random.Random(3)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        dialect.prepare(conn)
        written = []
        for key in range(1, 61):
            values = {"id": key, **{c: dialect.value_for(shape.types[c], rng) for c in columns}}
            try:
                written.append(dialect.insert(conn, "Fid", shape, values))
            except psycopg.errors.IntegrityError:
                continue  # a domain's check refused a value (-0 is not positive): the writer retries
        nulls = conn.execute(
            f'select {", ".join(f"count(*) - count({c})" for c in columns)} from "Fid"."Matrix"'
        ).fetchone()
    assert {c for c, n in zip(columns, nulls) if n} == set(), "columns written as NULL"
    with psycopg.connect(migration.source_url) as conn:
        entries = [{"table": "Matrix", "key": w.key, "op": "I", **w.content} for w in written]
        check = ledger.check(conn, "Fid", ledger.final_entries(entries))
    assert check.ok and check.checked == len(written) > 30, check.describe()


def test_the_ledger_holds_whole_rows_with_a_column_named_t(migration):
    """The writer's `returning` and the ledger's check alias the table t: a column t must not stand for the row."""
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute('create schema "Odd"; create table "Odd".r (id integer primary key, t time, k integer, e text)')
        dialect = PostgresDialect()
        (shape,) = shapes(dialect.describe(conn, "Odd"), dialect=dialect).values()
        written = dialect.insert(conn, "Odd", shape, {"id": 1, "t": "10:00:00", "k": 7, "e": "x"})
        assert written.image == {"id": 1, "t": "10:00:00", "k": 7, "e": "x"}
        conn.execute('update "Odd".r set k = 8')  # another row than the one acknowledged
    entry = {"table": "r", "key": written.key, "op": "I", **written.content}
    with psycopg.connect(migration.source_url) as conn:
        check = ledger.check(conn, "Odd", ledger.final_entries([entry]))
    assert check.wrong == ['r {"id": 1}'], check.describe()


def test_the_ledger_tells_minus_zero_from_zero(migration):
    """The ledger's digest of a row is exact: -0 and 0 are other values (to_jsonb makes both 0), in a
    column, an array and a composite alike."""
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(TYPES)
        conn.execute(
            'create table "Fid".z (id integer primary key, f8 double precision, f4 real, arr double precision[], '
            'comp "Fid".pair)'
        )
        dialect = PostgresDialect()
        (shape,) = shapes(dialect.describe(conn, "Fid"), dialect=dialect).values()
        values = {"id": 1, "f8": "-0", "f4": "-0", "arr": "{-0}", "comp": "(1,x,-0)"}
        entry = {"table": "z", "key": {"id": 1}, "op": "I", **dialect.insert(conn, "Fid", shape, values).content}
        found = {}
        for column, other in (("f8", "0"), ("f4", "0"), ("arr", "{0}"), ("comp", "(1,x,0)")):
            conn.execute(f'update "Fid".z set {column} = %s::{shape.types[column]}', (other,))
            found[column] = ledger.check(conn, "Fid", ledger.final_entries([entry])).wrong
            conn.execute(f'update "Fid".z set {column} = %s::{shape.types[column]}', (values[column],))
        assert ledger.check(conn, "Fid", ledger.final_entries([entry])).ok
    assert found == {c: ['z {"id": 1}'] for c in ("f8", "f4", "arr", "comp")}


def test_the_fallback_check_tells_each_value_exactly(migration):
    """A new application's write in its legacy form (the values carried back as they are) is checked
    exactly: -0 is not 0, 1.10 is not 1.1 (both equal once read from to_jsonb)."""
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(
            'create schema "Back"; create table "Back".v (id integer primary key, f double precision, n numeric)'
        )
        dialect = PostgresDialect()
        (shape,) = shapes(dialect.describe(conn, "Back"), dialect=dialect).values()
        shape.legacy_table, shape.legacy_key, shape.legacy_columns = "v", {"id": "id"}, {"f": "f", "n": "n"}
        app = GenericApp(conn, "new", "Back", {"v": shape}, random.Random(1), None, dialect)
        written = dialect.insert(conn, "Back", shape, {"id": 1, "f": "-0", "n": "1.10"})
        entry = legacy_form(app._entry(shape, "I", written.key, written))
        found = {}
        for column, other in (("f", "0"), ("n", "1.1")):
            conn.execute(f"update \"Back\".v set {column} = '{other}'")
            found[column] = ledger.check(conn, "Back", ledger.final_entries([entry])).wrong
            conn.execute("update \"Back\".v set f = '-0', n = 1.10")
        assert ledger.check(conn, "Back", ledger.final_entries([entry])).ok
    assert found == {"f": ['v {"id": 1}'], "n": ['v {"id": 1}']}
