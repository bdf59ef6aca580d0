"""Sync lands every value exactly as the source holds it, whatever the writing session had set.

Each case writes at the source from a session with odd settings, syncs, and compares source and
landing value by value in the types' binary send form (not through a text cast, which would
normalise). The first three are the defects issue 16 found in the JSON row images."""

from __future__ import annotations

import psycopg
import pytest

from harness import load, sync
from harness.engines.postgres import capture
from harness.target import landing
from tests.integration.conftest import ODD_SETTINGS, binary_rows, odd_monetary_locale, project, rows

pytestmark = pytest.mark.integration

SCHEMA = """
create schema "Exact";
create table "Exact"."Val" (
    id integer primary key, f8 double precision, f4 real, jb jsonb, js json, n numeric, iv interval,
    tz timestamptz, ts timestamp, by bytea, arr integer[], words text[], "odd ""name"" col" text, mon money
);
insert into "Exact"."Val" (id, f8, jb) values (1, 1, '{}'), (2, 2, '[]');
"""

CONFIG = """
source: {schema: Exact, database: unused}
target: {database: unused}
tables:
  Val: {}
"""

COLUMNS = 'id, f8, f4, jb, js, n, iv, tz, ts, by, arr, words, "odd ""name"" col", mon'


@pytest.fixture
def exact(tmp_path, migration, monkeypatch):
    config, source, target = project(tmp_path, migration, monkeypatch, CONFIG, SCHEMA)
    load.load(config, source, target)
    return config, source, target, migration


def write_as(url: str, settings: dict[str, str], *statements: str) -> None:
    """Run statements in a session of the legacy application's, with its own settings."""
    with psycopg.connect(url, autocommit=True) as conn:
        for name, value in settings.items():
            conn.execute("select set_config(%s, %s, false)", (name, value))
        for statement in statements:
            conn.execute(statement)


def synced_exactly(exact) -> None:
    config, source, target, migration = exact
    sync.sync_once(config, source, target)
    landed = binary_rows(
        migration.target_url, f'select {COLUMNS} from landing."Val" where not _migrate_deleted order by id'
    )
    assert landed == binary_rows(migration.source_url, f'select {COLUMNS} from "Exact"."Val" order by id')


def test_sync_keeps_every_digit_of_a_float_written_with_extra_float_digits_0(exact):
    write_as(
        exact[3].source_url,
        {"extra_float_digits": "0"},
        'update "Exact"."Val" set f8 = 0.1::float8 + 0.2::float8, f4 = 1::real / 3 where id = 1',
        """insert into "Exact"."Val" (id, f8, f4)
           values (3, 4.9406564584124654e-324, 1.4e-45), (4, pi(), '3.4028235e38')""",
    )
    synced_exactly(exact)


def test_sync_keeps_float_minus_zero(exact):
    write_as(exact[3].source_url, {}, """update "Exact"."Val" set f8 = '-0', f4 = '-0' where id = 1""")
    synced_exactly(exact)


def test_sync_keeps_jsonb_null_apart_from_sql_null(exact):
    write_as(
        exact[3].source_url,
        {},
        """update "Exact"."Val" set jb = 'null', js = 'null' where id = 1""",
        """insert into "Exact"."Val" (id, jb, js)
           values (3, null, null), (4, '"null"', '"a string"'), (5, '{"a": null}', '[null]')""",
    )
    synced_exactly(exact)
    with psycopg.connect(exact[3].target_url) as conn:
        assert conn.execute(
            "select jb is null, jb = 'null'::jsonb from landing.\"Val\" where id in (1, 3) order by id"
        ).fetchall() == [(False, True), (True, None)]


@pytest.mark.parametrize(
    "assignment",
    [
        pytest.param("n = 'NaN'", id="numeric NaN"),
        pytest.param("n = 1.10", id="numeric keeps its scale"),
        pytest.param("n = 12345678901234567890123456789012345678901234.567890000", id="numeric of 53 digits"),
        pytest.param("""js = '{"b": 1, "a": 2, "a": 3}'""", id="json keeps key order and duplicate keys"),
        pytest.param("""js = '  { "spaced" :  [1, 2] } '""", id="json keeps its blanks"),
        pytest.param("""jb = '"a JSON string"'""", id="jsonb string"),
        pytest.param("""jb = '{"n": null, "a": [null, {"b": null}]}'""", id="jsonb nested nulls"),
        pytest.param("iv = '1 mon 2 days -03:04:05.000006'", id="interval months days and time apart"),
        pytest.param("iv = '-1 year -2 mons +3 days'", id="interval mixed signs"),
        pytest.param("tz = '2000-06-01 12:34:56.789012+05:45'", id="timestamptz microseconds"),
        pytest.param("tz = 'infinity', ts = '-infinity'", id="infinity"),
        pytest.param("tz = '0044-03-15 12:00:00+00 BC', ts = '4713-01-01 00:00:00 BC'", id="BC"),
        pytest.param("by = decode('00ff5c27226e', 'hex')", id="bytea"),
        pytest.param("arr = '[0:2]={1,NULL,3}'", id="array lower bound and NULL element"),
        pytest.param("arr = '{{1,2},{3,4}}'", id="array two dimensions"),
        pytest.param("""words = array['NULL', null, '', 'a,b', 'back\\slash', '"quoted"']""", id="array of texts"),
        pytest.param("f8 = 'NaN', f4 = '-Infinity'", id="float NaN and infinity"),
        pytest.param("f8 = 1.7976931348623157e308", id="float max"),
        pytest.param("mon = '-92233720368547758.08'", id="money"),
        pytest.param(
            '"odd ""name"" col" = E\'tab\\there, new\\nline, \\u00e9, \\U0001F600\'', id="odd column name and text"
        ),
    ],
)
def test_sync_is_exact_whatever_the_writing_session_set(exact, assignment):
    write_as(
        exact[3].source_url,
        ODD_SETTINGS,
        f'update "Exact"."Val" set {assignment} where id = 1',
        'insert into "Exact"."Val" (id) values (3)',
        f'update "Exact"."Val" set {assignment} where id = 3',
    )
    synced_exactly(exact)


def test_money_written_under_another_lc_monetary_lands_as_the_same_amount(exact):
    locale = odd_monetary_locale(exact[3].source_url)
    if locale is None:
        pytest.skip("the server takes no lc_monetary but C: no other locale to write money under")
    write_as(
        exact[3].source_url,
        {**ODD_SETTINGS, "lc_monetary": locale},
        'update "Exact"."Val" set mon = 1234567.89::numeric::money where id = 1',
        'insert into "Exact"."Val" (id, mon) values (3, \'-92233720368547758.08\'::numeric::money)',
    )
    synced_exactly(exact)


def test_columns_added_at_the_source_are_carried_exactly(exact):
    """Added after capture was installed: the images take them from the catalog, as exactly."""
    config, source, target, migration = exact
    write_as(
        migration.source_url,
        ODD_SETTINGS,
        'alter table "Exact"."Val" add column extra double precision, add column extra_json json',
        """update "Exact"."Val" set extra = '-0', extra_json = '{"b": 1, "a": 2, "a": 3}',
           f8 = 0.1::float8 + 0.2::float8 where id = 1""",
        """insert into "Exact"."Val" (id, extra, extra_json) values (3, 4.9406564584124654e-324, 'null')""",
    )
    sync.sync_once(config, source, target)
    query = f"select {COLUMNS}, extra, extra_json from {{}} order by id"
    assert binary_rows(migration.target_url, query.format('landing."Val" where not _migrate_deleted')) == binary_rows(
        migration.source_url, query.format('"Exact"."Val"')
    )


def test_json_images_of_an_earlier_trigger_version_are_still_applied(exact):
    """A change log written by the previous trigger (JSON images, no image_format column) may be
    unapplied when the kit is upgraded: sync applies it as that version did, then the text images
    of the new trigger for the same keys in the same batch, the last one winning."""
    config, _, _, migration = exact
    earlier_images = """insert into "_migrate".changes (table_schema, table_name, op, old_key, new_row)
                        select 'Exact', 'Val', %s, case when %s <> 'I' then jsonb_build_object('id', v.id) end,
                               to_jsonb(v)
                        from "Exact"."Val" v where id = %s"""
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute('alter table "_migrate".changes drop column image_format')
        conn.execute('alter table "Exact"."Val" disable trigger "_migrate_capture"')
        conn.execute(
            """update "Exact"."Val" set n = 2.50, words = '{a,"b c",NULL}', tz = '2001-02-03 04:05:06+07'
               where id = 1"""
        )
        conn.execute(earlier_images, ("U", "U", 1))
        conn.execute("""insert into "Exact"."Val" (id, iv, arr) values (3, '1 mon 2 days', '{1,2}')""")
        conn.execute(earlier_images, ("I", "I", 3))
        conn.execute(
            """insert into "_migrate".changes (table_schema, table_name, op, old_key)
               values ('Exact', 'Val', 'D', '{"id": 2}')"""
        )
        conn.execute("""delete from "Exact"."Val" where id = 2""")
    synced_exactly(exact)

    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute("""update "Exact"."Val" set n = 3.10 where id = 1""")
        conn.execute(earlier_images, ("U", "U", 1))
        conn.execute("""update "Exact"."Val" set id = 4 where id = 3""")
        conn.execute("""insert into "_migrate".changes (table_schema, table_name, op, old_key, new_row)
                        select 'Exact', 'Val', 'U', '{"id": 3}', to_jsonb(v) from "Exact"."Val" v where id = 4""")
        capture.install(conn, "Exact", [landing.describe(conn, config, t) for t in config.tables])  # the kit upgraded
        conn.execute('alter table "Exact"."Val" enable trigger "_migrate_capture"')
        conn.execute("""update "Exact"."Val" set f8 = '-0', n = 3.100 where id = 1""")
        conn.execute("""update "Exact"."Val" set id = 5 where id = 4""")
    assert rows(
        migration.source_url,
        'select count(*) filter (where image_format is null), count(image_format) from "_migrate".changes',
    ) == [(2, 2)]
    synced_exactly(exact)


def test_a_column_added_at_the_source_in_a_type_of_its_own_is_carried(exact):
    """A column of an enum made at the source after the load: sync makes the type in the target first."""
    config, source, target, migration = exact
    write_as(
        migration.source_url,
        ODD_SETTINGS,
        """create type "Exact".mood as enum ('sad', 'happy ☺')""",
        'alter table "Exact"."Val" add column feeling "Exact".mood',
        """update "Exact"."Val" set feeling = 'happy ☺' where id = 1""",
    )
    sync.sync_once(config, source, target)
    query = f"select {COLUMNS}, feeling::text from {{}} order by id"
    assert binary_rows(migration.target_url, query.format('landing."Val" where not _migrate_deleted')) == binary_rows(
        migration.source_url, query.format('"Exact"."Val"')
    )
