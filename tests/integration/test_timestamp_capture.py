"""Timestamp capture for sources that forbid triggers: what it sees, and its blind spots."""

from __future__ import annotations

import psycopg
import pytest

from harness import load
from harness.core.config import load_config
from harness.core.errors import ConfigError
from harness.engines.postgres import timestamp_capture
from tests.integration.conftest import binary_rows, rows

pytestmark = pytest.mark.integration

CONFIG = """
source: {schema: Shop}
tables:
  Client: {masks: {Card: last4}}
capture: {method: timestamp, column: Updated, overlap_seconds: 5}
"""


def test_timestamp_capture_applies_stamped_changes_and_reports_blind_spots(shop):
    _, source, target, migration, tmp_path = shop
    (tmp_path / "migration.yml").write_text(CONFIG)
    config = load_config(tmp_path)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute("""update "Shop"."Client" set "Updated" = null where "Id" <= 10""")
    load.load(config, source, target)
    assert rows(migration.source_url, "select count(*) from pg_namespace where nspname = '_migrate'") == [(0,)], (
        "no triggers"
    )
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(
            """update "Shop"."Client" set "Name" = 'stamped', "Updated" = timestamp '2030-01-01' where "Id" = 100"""
        )
        conn.execute("""insert into "Shop"."Client" values (6001, 'new', null, timestamp '2030-01-01 00:00:01')""")
        conn.execute("""update "Shop"."Client" set "Name" = 'unstamped' where "Id" = 5""")  # Updated stays NULL
        conn.execute("""delete from "Shop"."Client" where "Id" = 200""")
    batch = timestamp_capture.sync_once(config, source, target)
    assert batch.per_table == {"Client": 2}
    assert batch.null_stamped == {"Client": 10}
    landed = dict(
        rows(migration.target_url, """select "Id", "Name" from landing."Client" where "Id" in (5, 100, 6001)""")
    )
    assert landed == {5: "client 5", 100: "stamped", 6001: "new"}, "the unstamped edit is the documented blind spot"
    assert rows(migration.target_url, """select "_migrate_deleted" from landing."Client" where "Id" = 200""") == [
        (False,)
    ]

    again = timestamp_capture.sync_once(config, source, target, detect_deletes=True)
    assert again.per_table == {"Client": 0}, "the overlap re-reads rows but changes nothing that is equal"
    assert again.deletes_detected == {"Client": 1}
    assert rows(migration.target_url, """select "_migrate_deleted" from landing."Client" where "Id" = 200""") == [
        (True,)
    ]


def test_timestamp_capture_applies_a_change_that_equality_does_not_see(shop):
    """Two writes stamped alike (a stamp to the second): the second turned 0 into -0 and 1.1 into
    1.10, which SQL's `=` calls equal; the re-read row differs from landing's all the same."""
    _, source, target, migration, tmp_path = shop
    (tmp_path / "migration.yml").write_text(CONFIG)
    config = load_config(tmp_path)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute("""alter table "Shop"."Client" add column "Score" double precision, add column "Ratio" numeric""")
    load.load(config, source, target)
    for score, ratio in (("0", "1.1"), ("-0", "1.10")):
        with psycopg.connect(migration.source_url, autocommit=True) as conn:
            conn.execute(
                f"""update "Shop"."Client"
                    set "Score" = '{score}', "Ratio" = {ratio}, "Updated" = timestamp '2030-01-01' where "Id" = 7"""
            )
        assert timestamp_capture.sync_once(config, source, target).per_table == {"Client": 1}
    query = 'select "Score", "Ratio" from {} where "Id" = 7'
    assert binary_rows(migration.target_url, query.format('landing."Client"')) == binary_rows(
        migration.source_url, query.format('"Shop"."Client"')
    )


def test_timestamp_capture_needs_the_column_on_every_table(shop):
    _, source, target, _, tmp_path = shop
    (tmp_path / "migration.yml").write_text(
        CONFIG.replace("  Client: {masks: {Card: last4}}", "  Client: {}\n  Tag: {}")
    )
    with pytest.raises(ConfigError, match="capture.column 'Updated' is missing from Tag"):
        load.load(load_config(tmp_path), source, target)
