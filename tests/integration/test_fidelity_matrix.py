"""The fidelity matrix (issue 16, item 5): one column per built-in type, rows of special values,
written by sessions with odd settings, loaded, changed (insert, update, key change, delete),
synced, and compared value by value; then every value corrupted in landing, one at a time, must
be found by the checksum level with its key and column.

Values are compared in their types' binary send form (COPY BINARY): equal bytes mean the same
value, stricter than `=` (which calls -0 and 0, 1.10 and 1.1, '1 mon' and '30 days' equal) and
defined for types without `=` (xml, point, line, lseg, path, polygon, circle; box's `=` compares
areas). Two columns hold the OID of a type of the migration's own in that form (an array of a
composite type, an array of an enum), and OIDs differ between the databases: those two are
compared by their text output under fixed settings instead (COMPARED_AS_TEXT). A server built
without libxml (the embedded PostgreSQL 16) can hold no xml value: there the matrix has no xml column.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest

from harness import load, sync
from harness.core.config import Config, load_config
from harness.core.connections import Database
from harness.reconcile import checksums
from tests.conftest import Migration
from tests.integration import conftest
from tests.integration.conftest import binary_rows, odd_monetary_locale

pytestmark = pytest.mark.integration

TYPES = """
create schema "Fid";
create type "Fid".mood as enum ('sad', 'ok', 'happy ☺', 'with "quote", comma');
create type "Fid".pair as (a integer, b text, f double precision);
create domain "Fid".positive as numeric check (value > 0);
create domain "Fid".short_text as varchar(10);
"""

# column, type, value A, value B, a corruption of value A: another value, as near as the type allows.
MATRIX = [
    ("i2", "smallint", "-32768", "32767", "-32767"),
    ("i4", "integer", "2147483647", "0", "2147483646"),
    ("i8", "bigint", "-9223372036854775808", "9223372036854775807", "-9223372036854775807"),
    ("f4", "real", "'-0'", "'1.4e-45'", "'0'"),
    ("f8", "double precision", "'-0'", "'4.9406564584124654e-324'", "'0'"),
    ("f8_digits", "double precision", "0.1::float8 + 0.2::float8", "'-Infinity'", "0.3::float8"),
    ("f4_special", "real", "'NaN'", "'3.4028235e38'", "'Infinity'"),
    ("num", "numeric", "'NaN'", "12345678901234567890123456789012345678901234.567890000", "0"),
    ("num_scale", "numeric", "1.10", "-0.000", "1.1"),
    ("num_typed", "numeric(12,4)", "1.1", "-0.0001", "1.1001"),
    ("js", "json", """'{"b": 1, "a": 2, "a": 3}'""", """'"a JSON string"'""", """'{"b": 1, "a": 3}'"""),
    ("js_blank", "json", """' { "x" :  [1, 2] } '""", "'null'", """'{"x": [1, 2]}'"""),
    ("jb", "jsonb", "'null'", """'{"n": null, "a": [null, {"b": null}]}'""", "null"),
    ("jb_string", "jsonb", """'"null"'""", "'[]'", "'null'"),
    ("by", "bytea", "decode('00ff5c2722', 'hex')", "''::bytea", "decode('00ff5c272200', 'hex')"),
    ("arr_i", "integer[]", "'[0:2]={1,NULL,3}'", "'{}'", "'{1,NULL,3}'"),
    (
        "arr_t",
        "text[]",
        """array['NULL', null, '', 'a,b', '{x}', '"q"', E'back\\\\slash']""",
        "'{NULL}'",
        """array[null, null, '', 'a,b', '{x}', '"q"', E'back\\\\slash']""",
    ),
    ("arr_f", "double precision[]", "'{-0,NaN,Infinity,1e-320}'", "'[-1:-1]={-Infinity}'", "'{0,NaN,Infinity,1e-320}'"),
    ("arr_2d", "integer[]", "'{{1,2},{3,4}}'", "'[0:1][5:6]={{1,NULL},{NULL,4}}'", "'{1,2,3,4}'"),
    ("comp", '"Fid".pair', """row(1, 'x,y"z', '-0')""", "row(null, null, null)", """row(1, 'x,y"z', '0')"""),
    (
        "comp_arr",
        '"Fid".pair[]',
        "array[row(null, null, null), row(2, '', 'NaN')]::\"Fid\".pair[]",
        "'{}'",
        "array[null, row(2, '', 'NaN')::\"Fid\".pair]",
    ),
    ("dom", '"Fid".positive', "1.10", "1e-100", "1.1"),
    ("dom_t", '"Fid".short_text', "'short'", "''", "'short '"),
    ("en", '"Fid".mood', "'happy ☺'", "'with \"quote\", comma'", "'ok'"),
    (
        "en_arr",
        '"Fid".mood[]',
        """array['sad', 'with "quote", comma']::"Fid".mood[]""",
        "'{}'",
        "array['sad']::\"Fid\".mood[]",
    ),
    ("rng", "int4range", "'[1,10)'", "'empty'", "'[1,11)'"),
    ("nrng", "numrange", "'(,1.50]'", "'[-0.0,0.00]'", "'(,1.5]'"),
    ("tsrng", "tstzrange", "'[2000-01-01 00:00:00+00,infinity)'", "'empty'", "'[2000-01-01 00:00:00+00,infinity]'"),
    ("mrng", "int4multirange", "'{[1,3),[5,7)}'", "'{}'", "'{[1,3),[5,8)}'"),
    ("iv", "interval", "'1 mon 2 days -03:04:05.000006'", "'-1 year -2 mons +3 days'", "'32 days -03:04:05.000006'"),
    ("iv_day", "interval", "'24:00:00'", "'-178000000 years'", "'1 day'"),
    ("ts", "timestamp", "'4713-01-01 00:00:00 BC'", "'infinity'", "'4713-01-01 00:00:00.000001 BC'"),
    (
        "tstz",
        "timestamptz",
        "'2000-06-01 12:34:56.789012+05:45'",
        "'0044-03-15 12:00:00+00 BC'",
        "'2000-06-01 12:34:56.789013+05:45'",
    ),
    ("tstz_inf", "timestamptz", "'infinity'", "'-infinity'", "'-infinity'"),
    ("ts3", "timestamp(3)", "'2000-01-01 12:00:00.123'", "'294276-12-31 23:59:59'", "'2000-01-01 12:00:00.124'"),
    ("d", "date", "'infinity'", "'4713-01-01 BC'", "'5874897-12-31'"),
    ("t", "time", "'24:00:00'", "'00:00:00.000001'", "'00:00:00'"),
    ("ttz", "timetz", "'24:00:00+14'", "'12:00:00.5-15:59'", "'10:00:00+00'"),
    ("mon", "money", "-92233720368547758.08", "0.01", "-92233720368547758.07"),
    ("bt", "bit(8)", "B'10101010'", "B'00000000'", "B'10101011'"),
    ("vb", "bit varying", "B'1'", "B''", "B'10'"),
    ("ip", "inet", "'192.168.0.1/24'", "'::ffff:1.2.3.4'", "'192.168.0.1/32'"),
    ("net", "cidr", "'10.0.0.0/8'", "'::/0'", "'10.0.0.0/16'"),
    ("mac", "macaddr", "'08:00:2b:01:02:03'", "'ff:ff:ff:ff:ff:ff'", "'08:00:2b:01:02:04'"),
    ("mac8", "macaddr8", "'08:00:2b:01:02:03:04:05'", "'00:00:00:00:00:00:00:00'", "'08:00:2b:01:02:03:04:06'"),
    (
        "u",
        "uuid",
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
        "'00000000-0000-0000-0000-000000000000'",
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12'",
    ),
    ("x", "xml", """'<a b="1">text &amp; more</a>'""", "'<!DOCTYPE a><a/>'", """'<a  b="1">text &amp; more</a>'"""),
    ("tsv", "tsvector", "'a:1A fat:2B,4C cat:5D'", "''", "'a:1A fat:2B,4C cat:5C'"),
    ("tsq", "tsquery", "'fat & (rat | cat) <-> !dog'", "'!a'", "'fat & (rat | cat) <2> !dog'"),
    ("pt", "point", "'(1.5,-0)'", "'(1e308,-1e-308)'", "'(1.5,0)'"),
    ("ln", "line", "'{1,-1,0}'", "'{0,1,-0.5}'", "'{2,-2,0}'"),
    ("ls", "lseg", "'[(0,0),(1,1)]'", "'[(-0,0),(0,0)]'", "'[(1,1),(0,0)]'"),
    ("bx", "box", "'(1,1),(0,0)'", "'(0,0),(0,0)'", "'(2,0.5),(0,0)'"),
    ("pth", "path", "'[(0,0),(1,1),(2,0)]'", "'((0,0))'", "'((0,0),(1,1),(2,0))'"),
    ("pg", "polygon", "'((0,0),(1,1),(1,0))'", "'((0,0))'", "'((1,1),(1,0),(0,0))'"),
    ("cr", "circle", "'<(0,0),1.5>'", "'<(-0,0),0>'", "'<(0,0),1.5000000000000002>'"),
    (
        "txt",
        "text",
        r"E'tab\there\nnew line \u00e9 \U0001F600 \u200b\ufeff\u202e \U0010FFFF \uFFFE end'",
        "''",
        r"E'tab\there\nnew line \u00e9 \U0001F600 \ufeff\u202e \U0010FFFF \uFFFE end'",
    ),
    ("vc", "varchar(20)", "'varchar  '", "''", "'varchar '"),
    ("ch", "char(5)", "'ab'", "''", "'ac'"),
    ("nm", "name", "'a name'", "''", "'a Name'"),
    ("b", "boolean", "true", "false", "false"),
    ("lsn", "pg_lsn", "'16/B374D848'", "'0/0'", "'16/B374D849'"),
]
# Their binary form holds the OID of the migration's own composite or enum type: see the module doc.
COMPARED_AS_TEXT = {"comp_arr", "en_arr"}
TEXT_SETTINGS = {"extra_float_digits": "3", "DateStyle": "ISO, YMD", "IntervalStyle": "postgres", "TimeZone": "UTC"}

# Values that look like NULL but are not, and a row of SQL NULLs beside them.
LOOK_ALIKES = {
    "jb": "'\"null\"'",
    "jb_string": "'null'",
    "js": "'null'",
    "txt": "'NULL'",
    "arr_t": "'{\"NULL\"}'",
    "comp": "'(,\"\",)'",
    "vc": "'NULL'",
    "x": "xmlparse(content 'NULL')",
    "by": "'NULL'::bytea",
}
EVERY_CODE_POINT = "(select string_agg(chr(c), '') from generate_series(1, 1114111) c where c < 55296 or c > 57343)"

# The legacy application's odd sessions, which also parse xml as documents.
ODD_SETTINGS = {**conftest.ODD_SETTINGS, "xmloption": "document"}
CONFIG = """
source: {schema: Fid, database: unused}
target: {database: unused}
tables:
  Matrix: {}
"""


def odd_session(url: str) -> psycopg.Connection:
    """A session of the legacy application's with ODD_SETTINGS, and an lc_monetary other than C
    where the server has one (test_sync_exact's money test says when it has none)."""
    conn = psycopg.connect(url, autocommit=True)
    settings = dict(ODD_SETTINGS)
    if (locale := odd_monetary_locale(url)) is not None:
        settings["lc_monetary"] = locale
    for name, value in settings.items():
        conn.execute("select set_config(%s, %s, false)", (name, value))
    return conn


def insert(conn: psycopg.Connection, key: int, values: dict[str, str]) -> None:
    names = ", ".join(["id", *values])
    conn.execute(f'insert into "Fid"."Matrix" ({names}) values ({", ".join([str(key), *values.values()])})')


def update(conn: psycopg.Connection, key: int, values: dict[str, str]) -> None:
    conn.execute(f'update "Fid"."Matrix" set {", ".join(f"{c} = {v}" for c, v in values.items())} where id = {key}')


def xml_supported(url: str) -> bool:
    """Whether the server was built with libxml (the embedded PostgreSQL 16 is not): without, no xml value can be
    written."""
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute("select xmlparse(content 'x')")
            return True
        except psycopg.errors.FeatureNotSupported:
            return False


@dataclass
class Matrix:
    config: Config
    source: Database
    target: Database
    migration: Migration
    entries: list[tuple[str, str, str, str, str]]  # those of MATRIX the server can hold

    @property
    def columns(self) -> list[str]:
        return [column for column, *_ in self.entries]

    def values(self, which: str) -> dict[str, str]:
        """Each column's value A, value B, corruption of A, NULL, or look-alike of NULL."""
        if which == "null":
            return {column: "null" for column in self.columns}
        if which == "look-alike":
            return {column: value for column, value in LOOK_ALIKES.items() if column in self.columns}
        index = {"A": 2, "B": 3, "corrupted": 4}[which]
        return {entry[0]: entry[index] for entry in self.entries}


@pytest.fixture
def matrix(tmp_path, migration, monkeypatch) -> Matrix:
    """The matrix loaded: row 1 of values A, 2 of values B, 3 of NULLs, 4 of look-alikes of NULL,
    5 of every Unicode code point in one text, all written by a session with odd settings. Without
    xml on a server built without libxml."""
    entries = [e for e in MATRIX if e[1] != "xml" or xml_supported(migration.source_url)]
    (tmp_path / "migration.yml").write_text(CONFIG)
    monkeypatch.setenv("MIGRATE_SOURCE_URL", migration.source_url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    for url in (migration.source_url, migration.target_url):  # the target must have the source's own types
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(TYPES)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(
            f'create table "Fid"."Matrix" (id integer primary key, {", ".join(f"{c} {t}" for c, t, *_ in entries)})'
        )
    config = load_config(tmp_path)
    source = Database("source", migration.source_url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)
    loaded = Matrix(config, source, target, migration, entries)
    with odd_session(migration.source_url) as conn:
        insert(conn, 1, loaded.values("A"))
        insert(conn, 2, loaded.values("B"))
        insert(conn, 3, {})
        insert(conn, 4, loaded.values("look-alike"))
        insert(conn, 5, {"txt": EVERY_CODE_POINT})
    load.load(config, source, target)
    return loaded


def exact_rows(matrix: Matrix, url: str, relation: str) -> list[tuple]:
    values = ", ".join(f"{c}::text" if c in COMPARED_AS_TEXT else c for c in matrix.columns)
    return binary_rows(url, f"select id, {values} from {relation} order by id", TEXT_SETTINGS)


def assert_landing_exact(matrix: Matrix) -> None:
    source = exact_rows(matrix, matrix.migration.source_url, '"Fid"."Matrix"')
    landed = exact_rows(matrix, matrix.migration.target_url, 'landing."Matrix" where not _migrate_deleted')
    assert [row[0] for row in landed] == [row[0] for row in source], "the same keys"
    differing = [
        (int.from_bytes(s[0], "big"), column)
        for s, t in zip(source, landed)
        for column, a, b in zip(["id", *matrix.columns], s, t)
        if a != b
    ]
    assert differing == [], "values that landed other than the source holds them (key, column)"


def test_load_and_sync_land_every_matrix_value_exactly(matrix):
    config, source, target = matrix.config, matrix.source, matrix.target
    assert_landing_exact(matrix)
    with odd_session(matrix.migration.source_url) as conn:
        update(conn, 1, matrix.values("B"))
        update(conn, 2, matrix.values("A"))
        update(conn, 3, matrix.values("look-alike"))
        update(conn, 4, matrix.values("null"))
        insert(conn, 6, matrix.values("A"))
        insert(conn, 7, matrix.values("B"))
        insert(conn, 8, {"txt": EVERY_CODE_POINT, "arr_t": f"array[{EVERY_CODE_POINT}, 'NULL', null]"})
        conn.execute('update "Fid"."Matrix" set id = 50 where id = 5')
        conn.execute('delete from "Fid"."Matrix" where id = 7')
        update(conn, 6, {"f8": "'-0'"})  # a row changed twice in one batch: the last image wins
    batch = sync.sync_once(config, source, target)
    assert batch.changes == 10
    assert_landing_exact(matrix)
    (result,) = checksums.compare(config, source, target)
    assert result.matches, result.differences


def test_checksums_find_every_corrupted_matrix_value_with_its_key_and_column(matrix):
    config, source, target = matrix.config, matrix.source, matrix.target
    (result,) = checksums.compare(config, source, target)
    assert result.matches, result.differences
    with psycopg.connect(matrix.migration.target_url, autocommit=True) as conn:
        conn.execute('create table landing_original as select * from landing."Matrix"')
    missed = []
    for column, corruption in matrix.values("corrupted").items():
        with psycopg.connect(matrix.migration.target_url, autocommit=True) as conn:
            conn.execute(f'update landing."Matrix" set {column} = {corruption} where id = 1')
        (result,) = checksums.compare(config, source, target)
        found = [(d.kind, d.key, d.columns) for d in result.differences]
        if found != [("changed", ("1",), (column,))]:
            missed.append((column, found))
        with psycopg.connect(matrix.migration.target_url, autocommit=True) as conn:
            conn.execute(
                f'update landing."Matrix" m set {column} = o.{column} from landing_original o '
                "where m.id = 1 and o.id = 1"
            )
    assert missed == [], "corruptions the checksum level did not find with their key and column alone"
