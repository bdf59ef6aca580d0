"""The fallback's carry-back into a MariaDB legacy schema (harness/engines/mysql/carry_back.py).

Each value makes the whole round trip a fallback gives it: written in MariaDB (`expected`), read
into PostgreSQL landing types by the load's own SELECT, turned into reverse rows in PostgreSQL (the
reverse model's relation `fallback.legacy_every`), copied out by PostgreSQL as COPY text (as the
fallback reads a reverse model) and carried back into `every`, frozen, by the declared writer only:
inserts, updates of the listed columns, deletes. Every value of `every` is then held against
`expected` in MariaDB, as numbers and as MySQL's text of them."""

from __future__ import annotations

import random
import struct
import time
from types import SimpleNamespace

import psycopg
import pymysql
import pytest

from harness.core import connections
from harness.core.connections import Database
from harness.dbt import contract as dbt_contract
from harness.engines.mysql import carry_back, catalog, copy
from harness.engines.mysql.engine import MysqlEngine
from harness.rollback import fallback
from harness.target import reverse
from tests.integration.mysql.conftest import fetch, run_sql

pytestmark = pytest.mark.integration

ENGINE = MysqlEngine()
OP, COLUMNS = dbt_contract.FALLBACK_OP, dbt_contract.FALLBACK_COLUMNS

# One column of every type types.MAPPINGS maps; `touched` updates itself on any change, `gen` is generated.
DDL = """
create table {name} (
    id int primary key,
    i8 tinyint, u8 tinyint unsigned, flag tinyint(1), i16 smallint, u16 smallint unsigned,
    m24 mediumint, m24u mediumint unsigned, i32 int, u32 int unsigned, i64 bigint, u64 bigint unsigned,
    dec65 decimal(65,30), money decimal(12,2) unsigned, f32 float, f64 double,
    b10 bit(10), b64 bit(64),
    d date, dt datetime(6), ts timestamp(3) null default null, tm time(6), yr year,
    touched timestamp(6) not null default current_timestamp(6) on update current_timestamp(6),
    ch char(5), vc varchar(20), lat varchar(20) character set latin1, tx text,
    bin varbinary(8), blb blob,
    e enum('small', 'large'), s set('red', 'green', 'blue'), j json,
    g point null, u uuid, i4 inet4, i6 inet6,
    gen bigint as (i32 * 2) virtual
) engine=InnoDB default charset=utf8mb4
"""
WRITTEN = (
    "id, i8, u8, flag, i16, u16, m24, m24u, i32, u32, i64, u64, dec65, money, f32, f64, b10, b64, d, dt, ts, tm, yr, "
    "touched, ch, vc, lat, tx, bin, blb, e, s, j, g, u, i4, i6"
)
ALL = WRITTEN.split(", ") + ["gen"]

EXPECTED_ROWS = r"""
insert into expected ({written}) values
 (1, -128, 255, 1, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808,
  18446744073709551615, '-99999999999999999999999999999999999.999999999999999999999999999999', 9999999999.99,
  3.40282e38, 1.7976931348623157e308, b'1010101010', 18446744073709551615,
  '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '838:59:59.000000', 0, '2001-02-03 04:05:06.789012',
  'ab', 'x\ty\nz\\', 'café', 'emoji 😀 𝄞', x'00ff7f0a', x'', '', '', '{{"b": 1, "a": [1.0, "é"]}}',
  point(1, 2), '123e4567-e89b-12d3-a456-426614174000', '255.255.255.255', '::ffff:1.2.3.4'),
 (2, 127, 0, 2, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0, '0.000000000000000000000000000001',
  0.00, -1.17549e-38, 0.1e0 + 0.2e0, b'0', b'0', '2024-00-15', '2024-02-30 10:11:12.5', '2038-01-19 03:14:07.999',
  '-838:59:59.999999', 2155, '1990-01-01 00:00:00', '  a', 'trailing  ', '', '', x'', x'0d0a5c4e09', 'small',
  'red,blue', 'null', null, null, '0.0.0.0', '::'),
 (3, null, null, null, null, null, null, null, null, null, null, null, null, null, 16777217, -0.0e0, null, null,
  '0001-01-01', '9999-12-31 23:59:59.999999', '1970-01-01 00:00:01', '25:00:00', 1901, '2038-01-19 03:14:07',
  null, null, null, null, null, null, 'large', 'green', '[]', null, null, null, null),
 (4, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, '0.5', 0.01, 0.1, 0.1, b'1', 9223372036854775808,
  '2024-02-29', '2000-01-01 00:00:00', '2020-06-15 12:30:45.123', '-00:00:00.5', 2000, '2020-01-01 00:00:00',
  'x', 'q''uote "dq"', 'ÿ', '\\N', x'5c', x'5c4e', 'large', 'red,green,blue', '{{"k": "\\u00e9\\n"}}',
  point(-1.5, 1e300), '00000000-0000-0000-0000-000000000000', '10.0.0.1', 'fe80::1'),
 (5, 5, 5, 1, 5, 5, 5, 5, 5, 5, 5, 5, '5.5', 5.50, 5.5, 5.5, b'101', b'101', '0000-00-00', '2024-02-30 00:00:01',
  '2001-01-01 01:01:01', '01:02:03.000004', 1999, '2005-05-05 05:05:05', 'five', 'updated five', 'fünf', 'five',
  x'05', x'05', 'small', 'blue', '{{}}', point(5, 5), '55555555-5555-5555-5555-555555555555', '5.5.5.5', '::5'),
 (6, 6, 6, 0, 6, 6, 6, 6, 6, 6, 6, 6, '6', 6, 6, 6, b'110', b'110', '2006-06-06', '2006-06-06 06:06:06',
  '2006-06-06 06:06:06', '06:06:06', 2006, '2006-06-06 06:06:06', 'six', 'six', 'six', 'six', x'06', x'06', 'large',
  '', '6', null, null, null, null),
 (7, 7, 7, 1, 7, 7, 7, 7, 7, 7, 7, 7, '7.7', 7.77, 7.5, 7.25, b'111', b'111', '2007-07-07', '2007-07-07 07:07:07.7',
  '2007-07-07 07:07:07.7', '-07:07:07', 2007, '2007-07-07 07:07:07', 'seven', 'seven', 'sieben', 'seven', x'07',
  x'07', '', 'red', '7', point(7, 7), '77777777-7777-7777-7777-777777777777', '7.7.7.7', '::7')
"""
PARTIAL = ["vc", "f64", "d", "_mysql_raw_dt", "s", "bin", "u"]  # row 5 writes only these (dt through its companion)
FLOAT_ROWS = 300


def _random_floats(count: int) -> list[tuple[float, float]]:
    """(a float32 as a double, a double) from random bits, every finite value MySQL can hold."""
    rng = random.Random(19)
    (largest,) = struct.unpack("<f", struct.pack("<I", 0x7F7FFFFF))
    (tiniest,) = struct.unpack("<f", struct.pack("<I", 1))
    # The extremes first: FLT_MAX (PostgreSQL prints 3.4028235e+38, above it), the smallest subnormals.
    values = [(largest, 5e-324), (-largest, -1.7976931348623157e308), (tiniest, 2.2250738585072014e-308)]
    while len(values) < count:
        (f32,) = struct.unpack("<f", struct.pack("<I", rng.getrandbits(32)))
        (f64,) = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))
        finite = all(abs(v) != float("inf") and v == v for v in (f32, f64))
        if finite and f32 != 0 and f64 != 0:  # MariaDB keeps no negative zero
            values.append((f32, f64))
    return values


@pytest.fixture
def legacy(mysql_database, database_url):
    """(MySQL URL, database, PostgreSQL URL): `expected` holds the rows the fallback is to leave,
    `every` the legacy table before it (rows 4 to 7 with row 2's values), `reverse` in PostgreSQL the
    reverse rows made from `expected` by the load's SELECT."""
    url, db = mysql_database
    run_sql(url, db, DDL.format(name="expected") + ";\n" + DDL.format(name="every"))
    run_sql(url, db, EXPECTED_ROWS.format(written=WRITTEN), sql_mode="ALLOW_INVALID_DATES")
    floats = ", ".join(f"({100 + i}, {f32!r}, {f64!r})" for i, (f32, f64) in enumerate(_random_floats(FLOAT_ROWS)))
    run_sql(url, db, f"insert into expected (id, f32, f64) values {floats}")
    for key in (4, 5, 6, 7):
        columns = WRITTEN.replace("id, ", "")
        run_sql(
            url,
            db,
            f"insert into every ({WRITTEN}) select {key}, {columns} from expected where id = 2",
            sql_mode="ALLOW_INVALID_DATES",
        )
    _reverse_rows(url, db, database_url)
    return url, db, database_url


def _source(url: str, db: str) -> Database:
    """The source as the fallback reaches it: the server, no default database (source.schema names it)."""
    return Database("source", url, "MIGRATE_SOURCE_URL", False)


def _reverse_rows(url: str, db: str, pg_url: str) -> None:
    """`expected` landed in PostgreSQL by the load's SELECT, as the reverse model's relation with
    each row's op and listed columns."""
    with connections.connect_mysql(_source(url, db)) as conn:
        columns = catalog.columns(conn, db, "expected")
        table = SimpleNamespace(name="expected", columns=columns, key=["id"], masks={})
        lines = [line for (line,) in conn.execute(copy.range_select(db, table, None, None))]
    names = [c.name for c in columns]
    relation = dbt_contract.fallback_relation_name("every")
    with psycopg.connect(pg_url, autocommit=True) as pg:
        pg.execute(f"create schema {dbt_contract.FALLBACK_SCHEMA}")
        definitions = ", ".join(f'"{c.name}" {c.type}' for c in columns)
        pg.execute(f"create table fallback.{relation} ({definitions}, {OP} char(1), {COLUMNS} text[])")
        quoted = ", ".join(f'"{n}"' for n in names)
        with pg.cursor().copy(f"copy fallback.{relation} ({quoted}) from stdin") as into:
            into.write(("\n".join(lines) + "\n").encode())
        pg.execute(f"update fallback.{relation} set {OP} = 'I', {COLUMNS} = %s", (names,))
        pg.execute(f"update fallback.{relation} set {OP} = 'U' where id = 4")
        pg.execute(f"update fallback.{relation} set {OP} = 'U', {COLUMNS} = %s where id = 5", (PARTIAL,))
        # A delete carries its key; the rest of the row is whatever the reverse model leaves there.
        pg.execute(f"update fallback.{relation} set {OP} = 'D', {COLUMNS} = '{{}}' where id = 6")


def _carry(url: str, db: str, pg_url: str, tables=("every",), *, key=("id",), writer: bool = True) -> dict:
    """The fallback's _carry_back over these tables (its passes, in one transaction)."""
    carried: dict = {}
    with connections.connect_mysql(_source(url, db)) as src, psycopg.connect(pg_url) as dst:
        reverse.image_session(dst)
        ENGINE.image_session(src)
        if writer:
            ENGINE.declare_writer(src)
        ENGINE.carry_back_begin(src)
        for deletes, unreferenced in fallback.PASSES:
            for name in reversed(tables) if deletes else tables:
                columns = [c.name for c in ENGINE.columns(src, db, name)]
                with reverse.rows(dst, SimpleNamespace(name=name), columns) as rows:
                    counts = ENGINE.carry_back(
                        src, db, name, list(key), columns, rows, deletes=deletes, unreferenced=unreferenced
                    )
                totals = carried.setdefault(name, {})
                for op, count in counts.items():
                    totals[op] = totals.get(op, 0) + count
        ENGINE.carry_back_end(src, db, carried)
        src.commit()
    return carried


def _check(url: str, db: str, pg_url: str, name: str = "every"):
    with connections.connect_mysql(_source(url, db)) as src, psycopg.connect(pg_url) as dst:
        reverse.image_session(dst)
        ENGINE.image_session(src)
        columns = [c.name for c in ENGINE.columns(src, db, name)]
        with reverse.rows(dst, SimpleNamespace(name=name), columns) as rows:
            return ENGINE.check_carried(src, db, name, ["id"], columns, rows)


def _differences(url: str, db: str, left: str, right: str, columns: list[str], where: str) -> list[tuple]:
    """(id, column) where `left` and `right` differ as values or in MySQL's text of them."""
    found = []
    for column in columns:
        c = f"`{column}`"
        rows = fetch(
            url,
            db,
            f"select a.id from {left} a join {right} b on {where} "
            f"where not (a.{c} <=> b.{c} and cast(a.{c} as binary) <=> cast(b.{c} as binary))",
        )
        found += [(row[0], column) for row in rows]
    return found


def texts(url: str, db: str, query: str) -> list[tuple]:
    """The rows as MySQL's text of each value (the harness's own session: no conversion by PyMySQL)."""
    with connections.connect_mysql(Database("source", f"{url}/{db}", "MIGRATE_SOURCE_URL", False)) as conn:
        ENGINE.image_session(conn)
        return conn.execute(query)


def _frozen(url: str, db: str, tables: list[str]):
    with connections.connect_mysql(_source(url, db)) as conn:
        ENGINE.freeze(conn, db, tables, lock_timeout_seconds=10)


def _unfreeze(url: str, db: str, tables: list[str]):
    with connections.connect_mysql(_source(url, db), autocommit=True) as conn:
        ENGINE.unfreeze(conn, db, tables)


def test_carry_back_writes_every_type_exactly_past_the_freeze(legacy):
    url, db, pg_url = legacy
    _frozen(url, db, ["every"])
    try:
        with pytest.raises(pymysql.err.MySQLError, match="frozen"):
            run_sql(url, db, "update every set vc = 'app' where id = 4")  # the freeze holds for everyone else

        carried = _carry(url, db, pg_url)
    finally:
        _unfreeze(url, db, ["every"])

    assert carried["every"] == {"deleted": 1, "inserted": 3 + FLOAT_ROWS, "updated": 3}
    ids = [row[0] for row in fetch(url, db, "select id from every order by id")]
    assert ids == [1, 2, 3, 4, 5, 7, *range(100, 100 + FLOAT_ROWS)]
    # Every row written whole is `expected`'s, value for value.
    assert _differences(url, db, "every", "expected", ALL, "a.id = b.id and a.id <> 5") == []
    # Row 5 wrote its listed columns (dt through its companion); the others kept row 2's values,
    # `touched` (ON UPDATE CURRENT_TIMESTAMP) too.
    written = ["vc", "f64", "d", "dt", "s", "bin", "u"]
    assert _differences(url, db, "every", "expected", written, "a.id = 5 and b.id = 5") == []
    kept = [c for c in ALL if c not in written and c != "id"]
    assert _differences(url, db, "every", "expected", kept, "a.id = 5 and b.id = 2") == []
    # The values the types make hard, as MySQL prints them.
    assert texts(url, db, "select e + 0, s, yr, tm, d, dt, ts, hex(bin), hex(b64), u64 from every where id = 1") == [
        (
            "0",
            "",
            "0000",
            "838:59:59.000000",
            "0000-00-00",
            "0000-00-00 00:00:00.000000",
            "0000-00-00 00:00:00.000",
            "00FF7F0A",
            "F" * 16,
            "18446744073709551615",
        )
    ]
    assert texts(url, db, "select d, dt, tm, ts from every where id = 2") == [
        ("2024-00-15", "2024-02-30 10:11:12.500000", "-838:59:59.999999", "2038-01-19 03:14:07.999")
    ]


def test_carry_back_without_the_declared_writer_is_refused_by_the_freeze(legacy):
    url, db, pg_url = legacy
    _frozen(url, db, ["every"])
    try:
        with pytest.raises(carry_back.NotWritable, match="every"):
            _carry(url, db, pg_url, writer=False)
    finally:
        _unfreeze(url, db, ["every"])
    assert [row[0] for row in fetch(url, db, "select id from every order by id")] == [4, 5, 6, 7]


def test_carrying_back_twice_writes_the_same_rows(legacy):
    url, db, pg_url = legacy
    _carry(url, db, pg_url)
    before = fetch(url, db, f"select {WRITTEN}, hex(g) from every order by id")
    again = _carry(url, db, pg_url)
    assert again["every"]["inserted"] == 0 and again["every"]["deleted"] == 0
    assert fetch(url, db, f"select {WRITTEN}, hex(g) from every order by id") == before


def test_check_carried_finds_a_seeded_difference(legacy):
    url, db, pg_url = legacy
    _carry(url, db, pg_url)
    assert _check(url, db, pg_url) == (7 + FLOAT_ROWS, 0, [])
    # One unit in the last place of a double, a column row 5 does not list (not a difference),
    # a delete come back.
    run_sql(url, db, "update every set f64 = 0.3e0 where id = 2")  # 0.30000000000000004 written
    run_sql(url, db, "update every set i8 = 99 where id = 5")
    run_sql(url, db, "insert into every (id) values (6)")
    total, wrong, sample = _check(url, db, pg_url)
    assert (total, wrong) == (7 + FLOAT_ROWS, 2)
    assert sorted(int(key["id"]) for key in sample) == [2, 6]


TAGS = """
create table tags (code varchar(10) primary key, label varchar(20)) engine=InnoDB
    default charset=utf8mb4 collate utf8mb4_general_ci;
insert into tags values ('abc', 'lower'), ('keep', 'kept'), ('gone', 'old')
"""


def test_a_text_key_is_matched_byte_for_byte(mysql_database, database_url):
    url, db = mysql_database
    run_sql(url, db, TAGS)
    relation = dbt_contract.fallback_relation_name("tags")
    with psycopg.connect(database_url, autocommit=True) as pg:
        pg.execute(f"create schema {dbt_contract.FALLBACK_SCHEMA}")
        pg.execute(
            f"create table fallback.{relation} (code varchar(10), label varchar(20), {OP} char(1), {COLUMNS} text[])"
        )
        pg.execute(
            f"insert into fallback.{relation} values ('ABC', 'upper', 'U', '{{label}}'), "
            "('keep', 'new', 'U', '{label}'), ('GONE', null, 'D', '{}'), ('tab\tx', 'new', 'I', '{code,label}')"
        )
    carried = _carry(url, db, database_url, ("tags",), key=("code",))
    # 'ABC' is not 'abc' (PostgreSQL's keys are bytes): no row to update, none deleted.
    assert carried["tags"] == {"deleted": 0, "inserted": 1, "updated": 1}
    assert fetch(url, db, "select code, label from tags order by code") == [
        ("abc", "lower"),
        ("gone", "old"),
        ("keep", "new"),
        ("tab\tx", "new"),
    ]


def test_a_value_the_legacy_column_cannot_hold_stops_the_whole_carry_back_with_one_line(mysql_database, database_url):
    url, db = mysql_database
    run_sql(
        url,
        db,
        "create table ok (id int primary key) engine=InnoDB;\n"
        "create table small (id int primary key, n tinyint, t time) engine=InnoDB",
    )
    with psycopg.connect(database_url, autocommit=True) as pg:
        pg.execute(f"create schema {dbt_contract.FALLBACK_SCHEMA}")
        pg.execute(f"create table fallback.legacy_ok (id int, {OP} char(1), {COLUMNS} text[])")
        pg.execute("insert into fallback.legacy_ok values (1, 'I', '{id}')")
        pg.execute(
            f"create table fallback.legacy_small (id int, n smallint, t interval, {OP} char(1), {COLUMNS} text[])"
        )
        pg.execute("insert into fallback.legacy_small values (1, 300, null, 'I', '{id,n}')")
    with pytest.raises(carry_back.NotWritable, match="small.*Out of range value for column 'n'"):
        _carry(url, db, database_url, ("ok", "small"))
    with psycopg.connect(database_url, autocommit=True) as pg:
        pg.execute("update fallback.legacy_small set n = 1, t = interval '1 month'")
    with pytest.raises(carry_back.NotWritable, match="column t of small.*months"):
        _carry(url, db, database_url, ("ok", "small"))
    # One transaction: the table carried before the refusal kept nothing either.
    assert fetch(url, db, "select (select count(*) from ok), (select count(*) from small)") == [(0, 0)]


def test_carry_back_throughput(mysql_database, database_url):
    """Not a floor: the figure docs/mysql.md quotes (20,000 inserts and 20,000 updates of 8 columns)."""
    url, db = mysql_database
    run_sql(
        url,
        db,
        "create table wide (id int primary key, a bigint, b varchar(40), c decimal(12,2), d datetime(6), "
        "e double, f text, g varbinary(16)) engine=InnoDB;\n"
        "insert into wide select seq, seq, 'old', 0, '2000-01-01', 0, 'old', x'00' from seq_20001_to_40000",
    )
    relation = dbt_contract.fallback_relation_name("wide")
    with psycopg.connect(database_url, autocommit=True) as pg:
        pg.execute(f"create schema {dbt_contract.FALLBACK_SCHEMA}")
        pg.execute(
            f"create table fallback.{relation} as select g as id, g::bigint as a, 'row ' || g as b, "
            "(g / 100.0)::numeric(12,2) as c, timestamp '2020-01-01' + g * interval '1 second' as d, "
            "g * 1.1::float8 as e, repeat('x', 50) as f, int4send(g) as g, null::text as _mysql_raw_d, "
            f"case when g > 20000 then 'U' else 'I' end::char(1) as {OP}, "
            f"case when g > 20000 then array['b', 'e'] else array['id','a','b','c','d','e','f','g'] end "
            f"as {COLUMNS} from generate_series(1, 40000) g"
        )
    started = time.perf_counter()
    carried = _carry(url, db, database_url, ("wide",))
    seconds = time.perf_counter() - started
    assert carried["wide"] == {"deleted": 0, "inserted": 20000, "updated": 20000}
    print(f"\ncarry-back of 40,000 reverse rows: {seconds:.2f} s ({40000 / seconds:,.0f} rows/s)")
    assert _check(url, db, database_url, "wide")[:2] == (40000, 0)
    assert texts(url, db, "select a, b, c from wide where id in (1, 30000) order by id") == [
        ("1", "row 1", "0.01"),
        ("30000", "row 30000", "0.00"),
    ]


PEOPLE_TREE = """
create table region (id int primary key) engine=InnoDB;
create table person (id int primary key, boss int, region int, name varchar(20),
    constraint person_boss foreign key (boss) references person (id),
    constraint person_region foreign key (region) references region (id)) engine=InnoDB;
insert into region values (1), (2);
insert into person values (1, null, 1, 'top'), (2, 1, 1, 'middle'), (3, 2, 1, 'bottom'), (4, 1, 1, 'moved'),
    (5, 4, 2, 'stays')
"""


def _person_rows(database_url: str, rows: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as pg:
        pg.execute(f"create schema if not exists {dbt_contract.FALLBACK_SCHEMA}")
        pg.execute("drop table if exists fallback.legacy_person")
        pg.execute(
            "create table fallback.legacy_person (id int, boss int, region int, name varchar(20), "
            f"{OP} char(1), {COLUMNS} text[])"
        )
        pg.execute(f"insert into fallback.legacy_person values {rows}")


def test_a_self_reference_is_checked_once_the_table_is_carried_not_row_by_row(mysql_database, database_url):
    """InnoDB checks a foreign key row by row: deleting a parent before its child in one statement,
    or before the update that moves a child away, or inserting a child before its new parent, was
    refused (1451/1452) though the table as carried holds every reference, as the new application's
    `app` held it."""
    url, db = mysql_database
    run_sql(url, db, PEOPLE_TREE)
    _person_rows(
        database_url,
        "(1, null, null, null, 'D', '{}'), (2, null, null, null, 'D', '{}'), (3, null, null, null, 'D', '{}'), "
        "(5, 6, 2, 'stays', 'U', '{boss}'), (4, null, null, null, 'D', '{}'), "
        "(6, 7, 1, 'new child', 'I', '{id,boss,region,name}'), (7, null, 2, 'new boss', 'I', '{id,boss,region,name}')",
    )
    carried = _carry(url, db, database_url, ("person",))
    assert carried["person"] == {"deleted": 4, "inserted": 2, "updated": 1}
    assert fetch(url, db, "select id, boss, region from person order by id") == [(5, 6, 2), (6, 7, 1), (7, None, 2)]
    assert fetch(url, db, "select @@foreign_key_checks") == [(1,)]


def test_a_carried_table_that_breaks_a_reference_is_refused_and_nothing_written(mysql_database, database_url):
    url, db = mysql_database
    run_sql(url, db, PEOPLE_TREE)
    # Row 3 still names 2 as its boss once 2 is deleted; row 6 names a region that does not exist.
    _person_rows(database_url, "(2, null, null, null, 'D', '{}')")
    with pytest.raises(carry_back.NotWritable, match="person.*person_boss"):
        _carry(url, db, database_url, ("person",))
    _person_rows(database_url, "(6, 1, 9, 'lost', 'I', '{id,boss,region,name}')")
    with pytest.raises(carry_back.NotWritable, match="person.*person_region"):
        _carry(url, db, database_url, ("person",))
    assert fetch(url, db, "select count(*) from person") == [(5,)]
