"""Databases the harness creates carry the source's encoding and locale; landing columns keep their
collations; text keys hash, match and sort the same on both sides whatever collation they have.

The ICU cases need a server built with ICU (the machine's PostgreSQL 15); the embedded
PostgreSQL 16 has none, and runs the others."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from harness import backup, load, sync
from harness.core import connections
from harness.core.config import load_config
from harness.core.connections import Database
from harness.core.errors import ConfigError
from harness.demo import ledger
from harness.reconcile import checksums
from harness.target import provision
from tests.conftest import assert_one_clear_line, run_migrate
from tests.integration.conftest import rows

pytestmark = pytest.mark.integration

# Words whose order differs between collations: case, accents, punctuation, digits.
WORDS = ["a", "B", "é", "_x", "Zebra", "zeta", "Ä", "10", "9", "Émile", "emile", "-", "A b", "ab"]
CONFIG = """
source: {{schema: Shop, database: unused}}
target: {{database: {target}{options}}}
tables:
  Word: {{}}
{more}"""


@pytest.fixture
def databases(admin_url):
    """`create(prefix, options)` makes a database with CREATE DATABASE options; `name(prefix)` names
    one for the harness to create. Both are dropped afterwards."""
    made: list[str] = []

    class Databases:
        def name(self, prefix: str) -> tuple[str, str]:
            name = f"{prefix}_{uuid.uuid4().hex[:10]}"
            made.append(name)
            return name, connections.with_database(admin_url, name)

        def create(self, prefix: str, options: str) -> tuple[str, str]:
            name, url = self.name(prefix)
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'create database "{name}" template template0 {options}')
            return name, url

    yield Databases()
    for name in made:
        connections.drop_database(admin_url, name)


def skip_without_icu(admin_url: str) -> None:
    with psycopg.connect(admin_url) as conn:
        try:
            conn.execute("create collation pg_temp.icu_probe (provider = icu, locale = 'und')")
        except psycopg.errors.FeatureNotSupported:
            pytest.skip("this PostgreSQL is built without ICU")
        finally:
            conn.rollback()


@pytest.fixture
def icu(admin_url):
    skip_without_icu(admin_url)


def locale_of(url: str) -> tuple:
    return rows(
        url,
        "select pg_encoding_to_char(encoding), datcollate, datctype, datlocprovider from pg_database "
        "where datname = current_database()",
    )[0]


def migration_of(
    tmp_path, monkeypatch, source_url: str, target_url: str, target_name: str, options: str = "", more: str = ""
):
    (tmp_path / "migration.yml").write_text(CONFIG.format(target=target_name, options=options, more=more))
    monkeypatch.setenv("MIGRATE_SOURCE_URL", source_url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", target_url)
    monkeypatch.setenv("MIGRATE_PROJECT_DIR", str(tmp_path))
    config = load_config(tmp_path)
    return (
        config,
        Database("source", source_url, "MIGRATE_SOURCE_URL", False),
        Database("target", target_url, "MIGRATE_TARGET_URL", False),
    )


def words_table(url: str, key_collation: str, other_collation: str = '"C"') -> None:
    """Shop.Word: a text key under `key_collation`, a few thousand words mixing case and accents."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute('create schema "Shop"')
        conn.execute(
            f'create table "Shop"."Word" (word text collate {key_collation} primary key, '
            f"spelled text collate {key_collation}, note text collate {other_collation}, n integer, "
            "changed_at timestamp not null default '2020-01-01')"
        )
        conn.execute(
            'insert into "Shop"."Word" select w, w, w, i from unnest(%s::text[]) with ordinality as t(w, i)', (WORDS,)
        )
        conn.execute(
            """insert into "Shop"."Word" select w, upper(w), w, i from (
                   select i, case i % 4 when 0 then 'w' when 1 then 'W' when 2 then 'é' else '_' end || md5(i::text)
                             as w
                   from generate_series(1, 3000) i) s"""
        )


def column_collations(url: str, schema: str) -> dict[str, str | None]:
    return dict(
        rows(
            url,
            f"""select a.attname, case when a.attcollation <> t.typcollation then c.collname end
                              from pg_attribute a join pg_type t on t.oid = a.atttypid
                              left join pg_collation c on c.oid = a.attcollation
                              where a.attrelid = '"{schema}"."Word"'::regclass and a.attnum > 0
                                and a.attname not like '\\_migrate\\_%'""",
        )
    )


def compare_in_segments(config, source, target, monkeypatch) -> checksums.TableComparison:
    monkeypatch.setattr(checksums, "SEGMENT_ROWS", 100)  # a few dozen hash segments for 3,000 rows
    (result,) = checksums.compare(config, source, target)
    assert result.segments > 16
    return result


# --- the databases the harness creates -------------------------------------------------------------


def test_provision_creates_the_target_with_the_source_encoding_and_locale(databases, tmp_path, monkeypatch):
    _, source_url = databases.create("t_src", "encoding 'LATIN1' locale 'C'")  # the server's default is UTF8, C.UTF-8
    target_name, target_url = databases.name("t_dst")
    config, source, target = migration_of(tmp_path, monkeypatch, source_url, target_url, target_name)
    provision.provision(config, source, target)
    assert locale_of(target_url) == ("LATIN1", "C", "C", "c")


def test_provision_takes_the_source_icu_locale(databases, tmp_path, monkeypatch, icu):
    _, source_url = databases.create("t_src", "locale_provider icu icu_locale 'de' locale 'C.UTF-8'")
    target_name, target_url = databases.name("t_dst")
    config, source, target = migration_of(tmp_path, monkeypatch, source_url, target_url, target_name)
    provision.provision(config, source, target)
    assert locale_of(target_url) == ("UTF8", "C.UTF-8", "C.UTF-8", "i")
    assert rows(target_url, "select daticulocale from pg_database where datname = current_database()") == [("de",)]


def test_database_options_in_migration_yml_override_the_source(databases, tmp_path, monkeypatch):
    _, source_url = databases.create("t_src", "encoding 'LATIN1' locale 'C'")
    target_name, target_url = databases.name("t_dst")
    options = ", database_options: {encoding: UTF8, lc_collate: C.UTF-8}"
    config, source, target = migration_of(tmp_path, monkeypatch, source_url, target_url, target_name, options)
    provision.provision(config, source, target)
    assert locale_of(target_url) == ("UTF8", "C.UTF-8", "C", "c")  # ctype still the source's


def test_a_database_option_the_server_refuses_is_one_clear_line(databases, tmp_path, monkeypatch):
    _, source_url = databases.create("t_src", "locale 'C'")
    target_name, target_url = databases.name("t_dst")
    migration_of(
        tmp_path, monkeypatch, source_url, target_url, target_name, ", database_options: {lc_collate: xx_NOWHERE.UTF-8}"
    )
    result = run_migrate("provision", expect=2)
    assert_one_clear_line(
        result, f"cannot create database {target_name!r}", "xx_NOWHERE.UTF-8", "set target.database_options"
    )


def test_a_restore_recreates_the_encoding_of_the_backed_up_database(databases, tmp_path, monkeypatch):
    """A LATIN1 source restored into the server's default UTF8 would hold other bytes, and its proof would fail."""
    _, source_url = databases.create("t_src", "encoding 'LATIN1' locale 'C'")
    target_name, target_url = databases.name("t_dst")
    config, source, target = migration_of(tmp_path, monkeypatch, source_url, target_url, target_name)
    words_table(source_url, '"C"')
    backup.backup(config, source, target, "source", tmp_path / "backups")
    into, restored_url = databases.name("t_restored")
    result = backup.restore(config, source, target, into, allow_source_copy=True)
    assert result.by_content and not result.differences
    assert locale_of(restored_url) == ("LATIN1", "C", "C", "c")


def test_a_source_loads_syncs_and_compares_into_a_target_of_another_encoding(databases, tmp_path, monkeypatch):
    """psql wrote the copy in the source's encoding and the target read it in its own: é became two wrong characters."""
    _, source_url = databases.create("t_src", "encoding 'LATIN1' locale 'C'")
    target_name, target_url = databases.name("t_dst")
    config, source, target = migration_of(
        tmp_path,
        monkeypatch,
        source_url,
        target_url,
        target_name,
        ", database_options: {encoding: UTF8, lc_collate: C.UTF-8, lc_ctype: C.UTF-8}",
    )
    words_table(source_url, '"C"')
    load.load(config, source, target, jobs=2)
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute("""update "Shop"."Word" set spelled = 'Ä é' where word = 'a'""")
    sync.apply_until_caught_up(config, source, target)
    assert rows(target_url, """select word, spelled from landing."Word" where word in ('é', 'a') order by n""") == [
        ("a", "Ä é"),
        ("é", "é"),
    ]
    assert compare_in_segments(config, source, target, monkeypatch).matches


# --- landing columns and text keys ---------------------------------------------------------------


def test_text_keys_load_and_compare_in_segments_with_their_collations_kept(databases, tmp_path, monkeypatch):
    _, source_url = databases.create("t_src", "")
    target_name, target_url = databases.name("t_dst")
    config, source, target = migration_of(tmp_path, monkeypatch, source_url, target_url, target_name)
    words_table(source_url, '"C"', '"POSIX"')
    load.load(config, source, target, jobs=4)
    assert (
        column_collations(target_url, "landing")
        == column_collations(source_url, "Shop")
        == {"word": "C", "spelled": "C", "note": "POSIX", "n": None, "changed_at": None}
    )
    assert compare_in_segments(config, source, target, monkeypatch).matches


def test_a_target_that_sorts_otherwise_still_compares_equal(databases, tmp_path, monkeypatch, icu):
    """The target database's default collation (ICU English) orders the text key otherwise than the
    source's (bytes): segments, checksums and ordered digests must not care."""
    _, source_url = databases.create("t_src", "locale 'C.UTF-8'")
    target_name, target_url = databases.name("t_dst")
    config, source, target = migration_of(
        tmp_path,
        monkeypatch,
        source_url,
        target_url,
        target_name,
        ", database_options: {locale_provider: icu, icu_locale: en}",
    )
    words_table(source_url, '"default"', '"default"')
    load.load(config, source, target, jobs=4)
    ordered = 'select array_agg(word order by word) from {}."Word"'
    assert rows(source_url, ordered.format('"Shop"')) != rows(target_url, ordered.format("landing"))
    assert compare_in_segments(config, source, target, monkeypatch).matches
    with psycopg.connect(source_url) as src, psycopg.connect(target_url) as dst:
        assert ledger.content_digest(src, "Shop", "Word", ["word"]) == ledger.content_digest(
            dst, "landing", "Word", ["word"]
        )


def test_a_table_with_columns_in_two_collations_is_compared(databases, tmp_path, monkeypatch):
    """Its row text joined texts of two collations, which PostgreSQL cannot hash without being told which."""
    _, source_url = databases.create("t_src", "")
    target_name, target_url = databases.name("t_dst")
    config, source, target = migration_of(tmp_path, monkeypatch, source_url, target_url, target_name)
    words_table(source_url, '"POSIX"', '"C"')
    load.load(config, source, target)
    with psycopg.connect(target_url, autocommit=True) as conn:
        conn.execute("""update landing."Word" set note = 'Zebras' where word = 'Zebra'""")
    (result,) = checksums.compare(config, source, target)
    assert [(d.kind, d.key, d.columns) for d in result.differences] == [("changed", ("Zebra",), ("note",))]


def test_a_case_insensitive_text_key_loads_and_compares_equal(databases, tmp_path, monkeypatch, icu):
    """Its hashes were the ICU sort key's on the source and the bytes' in landing: every row a false difference."""
    _, source_url = databases.create("t_src", "")
    target_name, target_url = databases.name("t_dst")
    config, source, target = migration_of(tmp_path, monkeypatch, source_url, target_url, target_name)
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute(
            "create collation public.nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
        )
    words_table(source_url, "public.nocase", '"de-x-icu"')
    load.load(config, source, target, jobs=4)
    assert column_collations(target_url, "landing") == {
        "word": "nocase",
        "spelled": "nocase",
        "note": "de-x-icu",
        "n": None,
        "changed_at": None,
    }
    result = compare_in_segments(config, source, target, monkeypatch)
    assert result.matches, result.differences[:3]
    with psycopg.connect(source_url) as src, psycopg.connect(target_url) as dst:
        assert ledger.content_digest(src, "Shop", "Word", ["word"]) == ledger.content_digest(
            dst, "landing", "Word", ["word"]
        )


def test_a_change_of_case_is_found_under_a_case_insensitive_collation(databases, tmp_path, monkeypatch, icu):
    """A hash under the column's own collation would call 'Zebra' and 'ZEBRA' the same."""
    _, source_url = databases.create("t_src", "")
    target_name, target_url = databases.name("t_dst")
    config, source, target = migration_of(tmp_path, monkeypatch, source_url, target_url, target_name)
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute(
            "create collation public.nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
        )
    words_table(source_url, "public.nocase")
    load.load(config, source, target)
    with psycopg.connect(target_url, autocommit=True) as conn:
        conn.execute("""update landing."Word" set spelled = 'ZEBRA' where word = 'Zebra'""")
    result = compare_in_segments(config, source, target, monkeypatch)
    assert [(d.kind, d.key, d.columns) for d in result.differences] == [("changed", ("Zebra",), ("spelled",))]


def test_a_case_only_key_change_syncs_under_a_case_insensitive_key(databases, tmp_path, monkeypatch, icu):
    """The new key conflicts with the old one in landing's key, and the old key's tombstone must not hit it."""
    _, source_url = databases.create("t_src", "")
    target_name, target_url = databases.name("t_dst")
    config, source, target = migration_of(tmp_path, monkeypatch, source_url, target_url, target_name)
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute(
            "create collation public.nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
        )
    words_table(source_url, "public.nocase")
    load.load(config, source, target)
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute("""update "Shop"."Word" set word = 'ZEBRA', n = -1 where word = 'Zebra'""")
        conn.execute("""delete from "Shop"."Word" where word = 'emile'""")
        conn.execute("""insert into "Shop"."Word" (word, n) values ('EMILE', -2)""")
    sync.apply_until_caught_up(config, source, target)
    assert rows(
        target_url,
        """select word, n from landing."Word" where lower(word) in ('zebra', 'emile') and not _migrate_deleted
           order by n""",
    ) == [("EMILE", -2), ("ZEBRA", -1)]
    assert compare_in_segments(config, source, target, monkeypatch).matches


@pytest.mark.parametrize("collation", ['"C"', "public.nocase"])
def test_timestamp_sync_follows_changes_of_case_and_deletes_of_a_collated_key(
    databases, tmp_path, monkeypatch, admin_url, collation
):
    if collation == "public.nocase":
        skip_without_icu(admin_url)
    _, source_url = databases.create("t_src", "")
    target_name, target_url = databases.name("t_dst")
    config, source, target = migration_of(
        tmp_path,
        monkeypatch,
        source_url,
        target_url,
        target_name,
        more="capture: {method: timestamp, column: changed_at}",
    )
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute(
            "create collation public.nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
            if collation == "public.nocase"
            else "select 1"
        )
    words_table(source_url, collation)
    load.load(config, source, target)
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute("""update "Shop"."Word" set word = 'ZEBRA', changed_at = '2021-01-01' where word = 'Zebra'""")
        conn.execute("""update "Shop"."Word" set spelled = 'A B', changed_at = '2021-01-01' where word = 'A b'""")
        conn.execute("""delete from "Shop"."Word" where word = 'emile'""")
    sync.apply(config, source, target, detect_deletes=True)
    assert compare_in_segments(config, source, target, monkeypatch).matches


def test_a_collation_the_target_lacks_is_one_clear_line(databases, tmp_path, monkeypatch, icu):
    _, source_url = databases.create("t_src", "")
    target_name, target_url = databases.create("t_dst", "")
    config, source, target = migration_of(tmp_path, monkeypatch, source_url, target_url, target_name)
    words_table(source_url, '"C"', '"sv-x-icu"')
    with psycopg.connect(target_url, autocommit=True) as conn:
        conn.execute('drop collation pg_catalog."sv-x-icu"')  # as on a server whose ICU has no Swedish
    with pytest.raises(
        ConfigError,
        match=r'column note of "Shop"."Word" has collation pg_catalog."sv-x-icu", '
        r"which the target server does not have",
    ):
        load.load(config, source, target)


def test_a_collation_made_in_the_source_is_made_in_landing(databases, tmp_path, monkeypatch):
    _, source_url = databases.create("t_src", "")
    target_name, target_url = databases.name("t_dst")
    config, source, target = migration_of(tmp_path, monkeypatch, source_url, target_url, target_name)
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute("""create collation public."Bytes" (provider = libc, locale = 'C')""")
    words_table(source_url, 'public."Bytes"')
    load.load(config, source, target)
    assert rows(
        target_url,
        """select n.nspname, c.collprovider, c.collcollate
                               from pg_collation c join pg_namespace n on n.oid = c.collnamespace
                               where c.collname = 'Bytes'""",
    ) == [("landing", "c", "C")]
    assert column_collations(target_url, "landing")["word"] == "Bytes"
    assert checksums.compare(config, source, target)[0].matches
    load.load(config, source, target)  # a new load finds the collation it made, and takes it
    assert checksums.compare(config, source, target)[0].matches


# --- assess ----------------------------------------------------------------------------------------


def test_assess_reports_another_encoding_and_locale_in_the_target(databases, tmp_path, monkeypatch):
    _, source_url = databases.create("t_src", "encoding 'LATIN1' locale 'C'")
    target_name, target_url = databases.create("t_dst", "encoding 'UTF8' locale 'C.UTF-8'")
    migration_of(tmp_path, monkeypatch, source_url, target_url, target_name)
    words_table(source_url, '"C"')
    result = run_migrate("assess")
    report = json.loads((tmp_path / "reports" / "assessment" / "latest" / "assessment.json").read_text())
    markdown = (tmp_path / "reports" / "assessment" / "latest" / "assessment.md").read_text()
    settings = [f["message"] for f in report["findings"] if f["area"] == "settings"]
    assert any("encoded LATIN1, the target UTF8" in m for m in settings), settings
    assert any("lc_collate C on the source, C.UTF-8 on the target" in m for m in settings), settings
    assert "encoded LATIN1, the target UTF8" in result.stdout and "encoded LATIN1, the target UTF8" in markdown
    assert report["target"]["locale"]["encoding"] == "UTF8" and report["source"]["locale"]["lc_collate"] == "C"
