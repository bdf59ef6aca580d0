"""`migrate load` from a MariaDB source into PostgreSQL landing: every type's edge values exact,
zero and invalid dates routed to their companion column, masks applied at the source, ranges
resumed after an interrupted load, all workers at one consistent point."""

from __future__ import annotations

import hashlib

import psycopg
import pytest

from harness import load
from harness.core.config import load_config
from harness.core.connections import Database
from tests.integration.mysql.conftest import fetch, run_sql

pytestmark = pytest.mark.integration

EDGE_TABLE = """
create table edge (
    id bigint unsigned primary key,
    u64 bigint unsigned, i64 bigint, u32 int unsigned, i8 tinyint, u8 tinyint unsigned, flag tinyint(1),
    u16 smallint unsigned, m24 mediumint, m24u mediumint unsigned,
    dec65 decimal(65,30), money decimal(12,2) unsigned,
    f32 float, f64 double,
    b10 bit(10), b64 bit(64),
    d date, dt datetime(6), ts timestamp(3) null default null, tm time(6), yr year,
    ch char(5), vc varchar(20), tx text, bin varbinary(8), blb blob,
    e enum('small', 'large'), s set('red', 'green', 'blue'),
    j json
) engine=InnoDB default charset=utf8mb4;
insert into edge values
 (1, 18446744073709551615, -9223372036854775808, 4294967295, -128, 255, 1, 65535, -8388608, 16777215,
  '-99999999999999999999999999999999999.999999999999999999999999999999', 9999999999.99,
  3.40282e38, 1.7976931348623157e308, b'1010101010',
  b'1111111111111111111111111111111111111111111111111111111111111111',
  '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '838:59:59.000000', 0,
  'ab', 'x\\ty\\nz\\\\', 'emoji 😀 𝄞', x'00ff7f0a', x'', '', '', '{"b": 1, "a": [1.0, "é"]}'),
 (2, 0, 9223372036854775807, 0, 127, 0, 2, 0, 8388607, 0,
  '0.000000000000000000000000000001', 0.00,
  -1.17549e-38, 0.1e0 + 0.2e0, b'0', b'0', '2024-00-15', '2024-02-30 10:11:12.5', '2038-01-19 03:14:07.999',
  '-838:59:59.999999', 2155, '  a', 'trailing  ', '', null, null, 'small', 'red,blue', 'null'),
 (3, null, null, null, null, null, null, null, null, null, null, null, 16777217, -0.0e0, null, null,
  '0001-01-01', '9999-12-31 23:59:59.999999', '1970-01-01 00:00:01', '25:00:00', 1901, null, null, null, null,
  null, 'large', 'green', '[]')
"""

CONFIG = """
source: {engine: mysql, schema: %(db)s}
target: {database: unused}
tables:
  edge: {}
  people: {masks: {card: last4, secret: hash, note: null}}
"""

PEOPLE = """
create table people (id int primary key, name varchar(40) character set latin1, card varchar(25), secret text,
                     note text) engine=InnoDB;
insert into people
    select seq, concat('person ', seq, ' é'), concat('4111-1111-1111-', lpad(seq, 4, '0')), concat('s', seq), 'x'
    from seq_1_to_3000
"""


def _project(tmp_path, monkeypatch, mysql_url, db, migration):
    (tmp_path / "migration.yml").write_text(CONFIG % {"db": db})
    monkeypatch.setenv("MIGRATE_SOURCE_URL", mysql_url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    config = load_config(tmp_path)
    return (
        config,
        Database("source", mysql_url, "MIGRATE_SOURCE_URL", False),
        Database("target", migration.target_url, "MIGRATE_TARGET_URL", False),
    )


@pytest.fixture
def mysql_project(tmp_path, monkeypatch, mysql_database, migration):
    url, db = mysql_database
    run_sql(url, db, EDGE_TABLE, sql_mode="ALLOW_INVALID_DATES")
    run_sql(url, db, PEOPLE)
    return (*_project(tmp_path, monkeypatch, url, db, migration), url, db)


def landing_texts(target_url: str, query: str) -> list[tuple]:
    with psycopg.connect(target_url) as conn:
        conn.execute("set timezone = 'UTC'; set datestyle = 'ISO, YMD'; set intervalstyle = 'postgres'")
        conn.execute("set extra_float_digits = 3; set bytea_output = 'hex'")
        return conn.execute(query).fetchall()


COLUMNS = (
    "u64, i64, u32, i8, u8, flag, u16, m24, m24u, dec65, money, f32, f64, b10, b64, d, _mysql_raw_d, dt, "
    "_mysql_raw_dt, ts, _mysql_raw_ts, tm, yr, ch, vc, tx, bin, blb, e, s, j"
)

EXPECTED = {
    1: (
        "18446744073709551615",
        "-9223372036854775808",
        "4294967295",
        "-128",
        "255",
        "1",
        "65535",
        "-8388608",
        "16777215",
        "-99999999999999999999999999999999999.999999999999999999999999999999",
        "9999999999.99",
        "3.40282e+38",
        "1.7976931348623157e+308",
        "1010101010",
        "1" * 64,
        None,
        "0000-00-00",
        None,
        "0000-00-00 00:00:00.000000",
        None,
        "0000-00-00 00:00:00.000",
        "838:59:59",
        "0",
        "ab",
        "x\ty\nz\\",
        "emoji 😀 𝄞",
        "\\x00ff7f0a",
        "\\x",
        "",
        "{}",
        '{"b": 1, "a": [1.0, "é"]}',
    ),
    2: (
        "0",
        "9223372036854775807",
        "0",
        "127",
        "0",
        "2",
        "0",
        "8388607",
        "0",
        "0.000000000000000000000000000001",
        "0.00",
        "-1.17549e-38",
        "0.30000000000000004",
        "0000000000",
        "0" * 64,
        None,
        "2024-00-15",
        None,
        "2024-02-30 10:11:12.500000",
        "2038-01-19 03:14:07.999+00",
        None,
        "-838:59:59.999999",
        "2155",
        "  a",
        "trailing  ",
        "",
        None,
        None,
        "small",
        "{red,blue}",
        "null",
    ),
    3: (
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        "1.6777216e+07",
        "0",
        None,
        None,
        "0001-01-01",
        None,
        "9999-12-31 23:59:59.999999",
        None,
        "1970-01-01 00:00:01+00",
        None,
        "25:00:00",
        "1901",
        None,
        None,
        None,
        None,
        None,
        "large",
        "{green}",
        "[]",
    ),
}


def test_load_copies_every_edge_value_exactly(mysql_project):
    config, source, target, url, db = mysql_project
    result = load.load(config, source, target, jobs=2, range_rows=1000)
    assert result.tables["edge"].rows == 3 and result.tables["people"].rows == 3000
    rows = landing_texts(
        target.url, f"select id, {', '.join(c + '::text' for c in COLUMNS.split(', '))} from landing.edge order by id"
    )
    got = {int(row[0]): row[1:] for row in rows}
    for key, expected in EXPECTED.items():
        for name, want, have in zip(COLUMNS.split(", "), expected, got[key]):
            assert have == want, f"row {key} column {name}: {have!r} != {want!r}"


def test_load_lands_each_type_as_its_mapped_type(mysql_project):
    config, source, target, *_ = mysql_project
    load.load(config, source, target)
    types = dict(
        landing_texts(
            target.url,
            "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
            "where a.attrelid = 'landing.edge'::regclass and a.attnum > 0",
        )
    )
    assert types["id"] == types["u64"] == "numeric(20,0)"
    assert (types["u32"], types["i8"], types["u16"], types["m24u"]) == ("bigint", "smallint", "integer", "integer")
    assert (types["dec65"], types["f32"], types["f64"]) == ("numeric(65,30)", "real", "double precision")
    assert (types["b10"], types["d"], types["dt"]) == ("bit varying(10)", "date", "timestamp(6) without time zone")
    assert (types["ts"], types["tm"], types["yr"]) == ("timestamp(3) with time zone", "interval", "smallint")
    assert (types["ch"], types["bin"], types["e"], types["s"], types["j"]) == (
        "character varying(5)",
        "bytea",
        "text",
        "text[]",
        "json",
    )


def test_load_masks_at_the_source_and_reads_latin1_as_text(mysql_project):
    config, source, target, url, db = mysql_project
    load.load(config, source, target, jobs=2, range_rows=700)
    rows = landing_texts(target.url, "select id, name, card, secret, note from landing.people order by id")
    assert len(rows) == 3000
    # card keeps its last four digits, secret its md5, note nothing: the source never sent the rest
    assert rows[41] == (42, "person 42 é", "0042", hashlib.md5(b"s42").hexdigest(), None)


def test_interrupted_load_resumes_with_the_ranges_left(mysql_project, monkeypatch):
    config, source, target, url, db = mysql_project
    from harness.core import interrupts

    calls = {"n": 0}
    original = interrupts.interrupt_here_if_asked

    def stop_after_two(point):
        if point == "load:range":
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("killed")
        return original(point)

    monkeypatch.setattr(interrupts, "interrupt_here_if_asked", stop_after_two)
    with pytest.raises(RuntimeError):
        load.load(config, source, target, jobs=1, range_rows=500)
    monkeypatch.setattr(interrupts, "interrupt_here_if_asked", original)
    result = load.load(config, source, target, jobs=2, range_rows=500)
    assert result.resumed
    assert sum(t.copied_now for t in result.tables.values()) < sum(t.ranges for t in result.tables.values())
    (count,) = landing_texts(target.url, "select count(*) from landing.people")[0]
    assert count == 3000
    source_ids = [r[0] for r in fetch(url, db, "select id from people order by id")]
    assert [r[0] for r in landing_texts(target.url, "select id from landing.people order by id")] == source_ids


def test_migrate_load_from_mariadb_end_to_end(mysql_project, monkeypatch):
    from typer.testing import CliRunner

    from harness.cli import app

    config, source, target, url, db = mysql_project
    monkeypatch.chdir(config.project_dir)
    result = CliRunner().invoke(app, ["load", "--no-build", "--jobs", "2", "--range-rows", "1000"])
    assert result.exit_code == 0, result.output
    assert "loaded 3,003 rows" in result.output
    assert landing_texts(target.url, "select count(*) from landing.people")[0] == (3000,)


def test_unsupported_capture_method_for_mysql_is_one_line(tmp_path, monkeypatch):
    from harness.core.errors import ConfigError

    (tmp_path / "migration.yml").write_text(
        "source: {engine: mysql, schema: s}\ncapture: {method: timestamp, column: t}\ntables: {t: {}}\n"
    )
    with pytest.raises(
        ConfigError,
        match="capture.method 'timestamp' does not work with source.engine 'mysql'; use 'binlog' or 'trigger'",
    ):
        load_config(tmp_path)


def test_trigger_capture_is_accepted_for_mysql(tmp_path):
    (tmp_path / "migration.yml").write_text(
        "source: {engine: mysql, schema: s}\ncapture: {method: trigger}\ntables: {t: {}}\n"
    )
    assert load_config(tmp_path).capture.method == "trigger"


def test_text_holding_a_nul_character_stops_the_load_with_one_line(mysql_project):
    from harness.core.errors import HarnessError

    config, source, target, url, db = mysql_project
    run_sql(url, db, "update people set secret = concat('a', char(0), 'b') where id = 7")
    config.tables[1].masks.pop("secret", None)  # unmasked, so the NUL travels
    with pytest.raises(HarnessError, match="people: column secret holds a NUL character"):
        load.load(config, source, target, jobs=1)
