"""Checksums across engines: a MariaDB source hashed inside MariaDB, landing hashed inside PostgreSQL,
by one canonical text per value. Every MySQL type loaded is found equal (no false difference), and a
single value changed in landing is found with its key and column, for each type."""

from __future__ import annotations

import json
import random

import psycopg
import pytest

from harness import load
from harness.core.config import load_config
from harness.core.connections import Database
from harness.reconcile import checksums
from tests.conftest import run_migrate
from tests.integration.mysql.conftest import run_sql
from tests.integration.mysql.test_load import EDGE_TABLE, PEOPLE

pytestmark = pytest.mark.integration

# Beyond test_load's edge values: random floats and doubles (every digit count and exponent), the
# types MariaDB 10.7+ adds, SET members PostgreSQL must quote, temporal types without a fraction,
# a latin1 text, and a text key (cut into hash buckets rather than key ranges).
MORE_TABLES = """
create table floats (id int primary key, f float, d double) engine=InnoDB;
create table extra (
    code varchar(20) character set latin1 primary key,
    u uuid, i4 inet4, i6 inet6, s set('a b', 'null', 'x"y', 'back\\\\slash', '{br}', 'é'),
    dt0 datetime, tm0 time, ts0 timestamp null default null, t1 time(1), d date not null
) engine=InnoDB default charset=utf8mb4;
insert into extra values
 ('é-1', '123e4567-e89b-12d3-a456-426614174000', '192.168.0.1', '2001:db8::1', 'a b,null,x"y', '2024-01-02 03:04:05',
  '-00:00:01', '2024-06-30 23:59:59', '01:02:03.4', '2024-02-29'),
 ('plain', null, '0.0.0.0', '::ffff:1.2.3.4', 'back\\\\slash,{br},é', '1000-01-01 00:00:00', '00:00:00',
  '1970-01-01 00:00:01', '-12:00:00.0', '0000-00-00'),
 ('', '00000000-0000-0000-0000-000000000000', null, '::', '', null, null, null, null, '1999-12-31')
"""

CONFIG = """
source: {engine: mysql, schema: %(db)s}
target: {database: unused}
tables:
  edge: {}
  people: {masks: {card: last4, secret: hash, note: null}}
  floats: {}
  extra: {}
"""


def _floats(count: int) -> list[tuple]:
    rng = random.Random(19)
    rows = []
    for i in range(1, count + 1):
        exponent = rng.choice([rng.randint(-40, 38), rng.randint(-6, 16), 0])
        digits = rng.randint(1, 9)
        mantissa = round(rng.uniform(-10, 10), digits)
        double = rng.choice(
            [rng.uniform(-1, 1) * 10 ** rng.randint(-300, 300), rng.random(), float(rng.randint(-9, 9))]
        )
        rows.append((i, f"{mantissa}e{exponent}", repr(double)))
    return rows


@pytest.fixture
def loaded(tmp_path, monkeypatch, mysql_database, migration):
    url, db = mysql_database
    run_sql(url, db, EDGE_TABLE, sql_mode="ALLOW_INVALID_DATES")
    run_sql(url, db, PEOPLE)
    run_sql(url, db, MORE_TABLES, sql_mode="ALLOW_INVALID_DATES")
    values = ", ".join(f"({i}, {f}, {d})" for i, f, d in _floats(3000))
    run_sql(url, db, f"insert ignore into floats values {values}")
    (tmp_path / "migration.yml").write_text(CONFIG % {"db": db})
    monkeypatch.setenv("MIGRATE_SOURCE_URL", url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    config = load_config(tmp_path)
    source = Database("source", url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)
    load.load(config, source, target, jobs=2, range_rows=1000)
    return config, source, target


def _landing(target, statement: str, args=()) -> None:
    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute(statement, args)


def test_every_mysql_type_loaded_checksums_clean(loaded):
    config, source, target = loaded
    results = {r.table: r for r in checksums.compare(config, source, target)}
    for name, result in results.items():
        assert result.problem is None, f"{name}: {result.problem}"
        assert result.differences == [], f"{name}: {result.differences[:5]}"
        assert result.matches, f"{name}: {result.source_rows} vs {result.landing_rows}, {result.segments_differing}"
        assert not [n for n in result.notes if "landing" in n or "does not know" in n], result.notes
    assert results["floats"].source_rows == 3000 and results["people"].source_rows == 3000
    assert results["extra"].segments >= 1 and results["extra"].source_rows == 3


def test_segments_and_buckets_agree_across_engines(loaded, monkeypatch):
    """Many key ranges, and differing ones refined into hash buckets on both sides, down to the rows."""
    config, source, target = loaded
    monkeypatch.setattr(checksums, "SEGMENT_ROWS", 100)
    monkeypatch.setattr(checksums, "FETCH_ROWS", 20)
    _landing(target, "update landing.floats set d = case when d = 0 then 1 else d * 2 end where id in (7, 1500, 2999)")
    _landing(target, "delete from landing.people where id = 2000")
    results = {r.table: r for r in checksums.compare(config, source, target, tables=["floats", "people"])}
    floats, people = results["floats"], results["people"]
    assert floats.segments >= 30 and floats.segments_differing == 3
    assert [(d.kind, d.key, d.columns) for d in floats.differences] == [
        ("changed", (str(i),), ("d",)) for i in (7, 1500, 2999)
    ]
    assert [(d.kind, d.key) for d in people.differences] == [("missing", ("2000",))]


# One value changed in landing per column: (table, column, key, the landing change). Each is found
# as that one row changed in that one column, nothing else.
CORRUPTIONS = [
    ("edge", "u64", 2, "u64 = u64 - 1"),
    ("edge", "u64", 3, "u64 = 0"),  # NULL is not 0
    ("edge", "i64", 2, "i64 = i64 - 1"),
    ("edge", "u32", 2, "u32 = u32 - 1"),
    ("edge", "i8", 2, "i8 = i8 - 1"),
    ("edge", "u8", 2, "u8 = u8 - 1"),
    ("edge", "flag", 2, "flag = flag - 1"),
    ("edge", "u16", 2, "u16 = u16 - 1"),
    ("edge", "m24", 2, "m24 = m24 - 1"),
    ("edge", "m24u", 2, "m24u = m24u - 1"),
    ("edge", "dec65", 2, "dec65 = dec65 * 2"),
    ("edge", "money", 1, "money = money - 0.01"),
    ("edge", "f32", 2, "f32 = f32 * 2"),
    ("edge", "f64", 2, "f64 = 0.3"),  # one unit in the last place
    ("edge", "b10", 2, "b10 = ~b10"),
    ("edge", "b64", 1, "b64 = b64 & b'0111111111111111111111111111111111111111111111111111111111111111'"),
    ("edge", "d", 3, "d = d + 1"),
    ("edge", "dt", 3, "dt = dt - interval '1 microsecond'"),
    ("edge", "ts", 2, "ts = ts - interval '1 millisecond'"),
    ("edge", "tm", 2, "tm = tm + interval '1 microsecond'"),
    ("edge", "yr", 2, "yr = yr - 1"),
    ("edge", "ch", 2, "ch = ' a'"),
    ("edge", "vc", 2, "vc = 'trailing '"),
    ("edge", "tx", 1, "tx = 'emoji 😀 𝄞 '"),
    ("edge", "bin", 1, "bin = '\\x00ff7f0b'"),
    ("edge", "blb", 1, "blb = '\\x00'"),
    ("edge", "e", 2, "e = 'large'"),
    ("edge", "s", 2, "s = '{blue,red}'"),
    ("edge", "j", 1, 'j = \'{"b":1, "a": [1.0, "é"]}\''),
    ("edge", "_mysql_raw_d", 1, "_mysql_raw_d = '0000-00-01'"),
    ("edge", "_mysql_raw_dt", 2, "_mysql_raw_dt = '2024-02-30 10:11:12.600000'"),
    ("edge", "_mysql_raw_ts", 1, "_mysql_raw_ts = null"),
    ("people", "name", 5, "name = 'person 5 e'"),
    ("people", "card", 42, "card = '0043'"),
    ("people", "note", 43, "note = ''"),
    ("floats", "f", 11, "f = f + f * 1e-6"),
    ("extra", "u", "é-1", "u = '123e4567-e89b-12d3-a456-426614174001'"),
    ("extra", "i4", "plain", "i4 = '0.0.0.1'"),
    ("extra", "i6", "plain", "i6 = '::ffff:1.2.3.5'"),
    ("extra", "s", "é-1", "s = '{\"a b\",null}'"),
    ("extra", "dt0", "é-1", "dt0 = dt0 + interval '1 second'"),
    ("extra", "tm0", "é-1", "tm0 = interval '-00:00:02'"),
    ("extra", "ts0", "plain", "ts0 = ts0 + interval '1 hour'"),
    ("extra", "t1", "é-1", "t1 = t1 + interval '0.1 second'"),
    ("extra", "d", "", "d = d - 1"),
]


def test_one_changed_value_in_landing_is_found_with_its_key_and_column_for_each_type(loaded):
    config, source, target = loaded
    keys = {"edge": "id", "people": "id", "floats": "id", "extra": "code"}
    for table in keys:
        _landing(target, f"create table landing._before_{table} as select * from landing.{table}")
    missed = []
    for table, column, key, change in CORRUPTIONS:
        _landing(target, f"update landing.{table} set {change} where {keys[table]} = %s", (key,))
        (result,) = checksums.compare(config, source, target, tables=[table])
        found = [(d.kind, d.key, d.columns) for d in result.differences]
        if found != [("changed", (str(key),), (column,))]:
            missed.append((table, column, key, found))
        _landing(
            target,
            f"update landing.{table} t set {column} = b.{column} from landing._before_{table} b "
            f"where b.{keys[table]} = t.{keys[table]} and t.{keys[table]} = %s",
            (key,),
        )
    assert missed == []
    assert all(r.matches for r in checksums.compare(config, source, target))


def test_migrate_reconcile_checksums_on_mariadb_brings_landing_to_the_snapshot_and_names_the_difference(loaded):
    """The command end to end: source writes since the load are read from the binary log up to the
    reconcile's snapshot, so only the one landing corruption is reported, with its key and column."""
    config, source, target = loaded
    run_sql(
        source.url,
        config.source_schema,
        "update people set name = 'renamed' where id = 7;\ndelete from people where id = 8",
    )
    first = json.loads(run_migrate("reconcile", "--level", "checksums", "--json", cwd=config.project_dir).stdout)
    assert "(2 changes applied)" in first["steps"][0]
    _landing(target, "update landing.extra set tm0 = interval '00:00:09' where code = 'é-1'")
    result = run_migrate("reconcile", "--level", "checksums", "--json", cwd=config.project_dir, expect=1)
    assert json.loads(result.stdout)["failed_checks"] == ["checksums: extra: source = landing"]
    report = config.project_dir / json.loads(result.stdout)["report"]
    document = json.loads(report.with_suffix(".json").read_text())
    checks = {c["name"]: c for level in document["levels"] for c in level["checks"]}
    (difference,) = checks["extra: source = landing"]["data"]["differences"]
    assert difference == {
        "kind": "changed",
        "key": {"code": "é-1"},
        "columns": ["tm0"],
        "values": {"tm0": {"source": "-00:00:01", "landing": "00:00:09"}},
    }
    assert [name for name, c in checks.items() if c["verdict"] != "passed"] == ["extra: source = landing"]


def test_a_key_beyond_bigint_is_compared_in_hash_buckets(tmp_path, monkeypatch, mysql_database, migration):
    """bigint unsigned keys above 2**63 - 1 land as numeric(20,0): landing cannot cut them into bigint ranges."""
    url, db = mysql_database
    run_sql(
        url,
        db,
        "create table big (id bigint unsigned primary key, v int) engine=InnoDB;\n"
        "insert into big select 18446744073709551615 - seq, seq from seq_0_to_49",
    )
    (tmp_path / "migration.yml").write_text(
        f"source: {{engine: mysql, schema: {db}}}\ntarget: {{database: unused}}\ntables:\n  big: {{}}\n"
    )
    monkeypatch.setenv("MIGRATE_SOURCE_URL", url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    config = load_config(tmp_path)
    source = Database("source", url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)
    load.load(config, source, target, jobs=1)
    (result,) = checksums.compare(config, source, target)
    assert result.problem is None and result.matches and result.source_rows == 50
