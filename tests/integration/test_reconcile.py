"""Reconciliation on a schema the harness has never seen: exact copies pass, every kind of
difference is located with its key and column, masks and live writes raise no false alarm."""

from __future__ import annotations

import json
import random
import threading
import time

import psycopg
import pytest

from harness import load, reconcile, sync
from harness.core.config import load_config
from harness.reconcile import checksums
from tests.conftest import run_migrate
from tests.integration.conftest import CONFIG, rows

pytestmark = pytest.mark.integration


@pytest.fixture
def loaded(shop):
    config, source, target, migration, tmp_path = shop
    load.load(config, source, target, range_rows=2000)
    return shop


def execute(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def by_table(results: list[checksums.TableComparison]) -> dict[str, checksums.TableComparison]:
    return {r.table: r for r in results}


@pytest.mark.parametrize("mask", ["last4", "hash", "null"])
def test_identical_tables_pass_with_masked_column_compared_through_its_mask(shop, mask):
    config, source, target, _, tmp_path = shop
    (tmp_path / "migration.yml").write_text(
        CONFIG.replace("Card: last4", f"Card: '{mask}'")
    )  # quoted: YAML reads null as None
    config = load_config(tmp_path)
    load.load(config, source, target, range_rows=2000)
    results = by_table(checksums.compare(config, source, target))
    assert all(r.matches for r in results.values()), results
    assert results["Client"].source_rows == results["Client"].landing_rows == 5000


def test_changed_missing_and_extra_rows_in_landing_are_located_with_key_and_column(loaded):
    config, source, target, migration, _ = loaded
    execute(
        migration.target_url,
        """update landing."Client" set "Name" = 'renamed in landing' where "Id" = 77""",
        """update landing."Client" set "Card" = '9999' where "Id" = 3""",
        """delete from landing."Basket" where "ClientId" = 5 and "Line" = 2""",
        """insert into landing."Tag" ("Code", "Label") values ('zz', 'only in landing')""",
        """update landing."Tag" set "_migrate_deleted" = true where "Code" = 'a'""",
    )
    results = by_table(checksums.compare(config, source, target))
    assert results["Client"].differences == [
        checksums.RowDifference("changed", ("3",), ("Card",)),
        checksums.RowDifference("changed", ("77",), ("Name",)),
    ]
    assert results["Basket"].differences == [checksums.RowDifference("missing", ("5", "2"))]
    assert results["Tag"].differences == [
        checksums.RowDifference("missing", ("a",)),
        checksums.RowDifference("extra", ("zz",)),
    ]


def test_rows_are_located_through_sub_buckets_in_key_ranges_and_hash_buckets(loaded, monkeypatch):
    config, source, target, migration, tmp_path = loaded
    execute(
        migration.source_url,
        """create table "Shop"."Word" ("W" text primary key, "N" numeric(10, 2), "F" real, "T" timestamptz, "J" json,
                                       "B" bytea, "I" interval, "Flag" boolean, "P" point)""",
        """insert into "Shop"."Word" select 'w' || i, i / 3.0, i / 7.0,
                  timestamptz '2020-03-08 01:30-05' + i * interval '1 min', json_build_object('i', i, 'a', 'x'),
                  decode(md5(i::text), 'hex'), i * interval '1 second', i % 2 = 0, point(i, -i)
           from generate_series(1, 5000) i""",
    )
    (tmp_path / "migration.yml").write_text(CONFIG.replace("  Tag: {}\n", "  Tag: {}\n  Word: {}\n"))
    config = load_config(tmp_path)
    load.load(config, source, target, range_rows=2000)
    # The same JSON object with its keys in another order: json keeps its text, so it is a difference.
    execute(
        migration.target_url,
        """update landing."Word" set "J" = '{"a": "x",   "i": 11}' where "W" = 'w11'""",
        """update landing."Client" set "Name" = 'changed' where "Id" in (17, 2500, 4999)""",
        """delete from landing."Client" where "Id" = 1234""",
        """update landing."Word" set "Flag" = not "Flag" where "W" in ('w1', 'w4000')""",
        """update landing."Word" set "F" = "F" + 0.5 where "W" = 'w77'""",
    )
    monkeypatch.setattr(checksums, "SEGMENT_ROWS", 1000)
    monkeypatch.setattr(checksums, "FETCH_ROWS", 50)
    results = by_table(checksums.compare(config, source, target))
    assert [(d.kind, d.key, d.columns) for d in results["Client"].differences] == [
        ("changed", ("17",), ("Name",)),
        ("missing", ("1234",), ()),
        ("changed", ("2500",), ("Name",)),
        ("changed", ("4999",), ("Name",)),
    ]
    assert results["Word"].segments == 8, "a text key is cut into hash buckets"
    assert [(d.key, d.columns) for d in results["Word"].differences] == [
        (("w1",), ("Flag",)),
        (("w11",), ("J",)),
        (("w4000",), ("Flag",)),
        (("w77",), ("F",)),
    ]
    assert any("P has type point" in note for note in results["Word"].notes), "an unknown type is named"


def test_sync_once_up_to_an_exported_snapshot_applies_exactly_what_it_sees(loaded):
    config, source, target, migration, _ = loaded
    execute(migration.source_url, """update "Shop"."Client" set "Name" = 'before the snapshot' where "Id" = 1""")
    holder = psycopg.connect(migration.source_url)
    try:
        holder.execute("set transaction isolation level repeatable read, read only")
        (snapshot_id,) = holder.execute("select pg_export_snapshot()").fetchone()
        execute(migration.source_url, """update "Shop"."Client" set "Name" = 'after the snapshot' where "Id" = 2""")
        batch = sync.sync_once(config, source, target, snapshot_id=snapshot_id)
    finally:
        holder.close()
    assert batch.changes == 1
    assert rows(
        migration.target_url, """select "Id", "Name" from landing."Client" where "Id" in (1, 2) order by 1"""
    ) == [(1, "before the snapshot"), (2, "client 2")]
    assert sync.sync_once(config, source, target).changes == 1, "the later change comes with the next batch"
    assert rows(migration.target_url, """select "Name" from landing."Client" where "Id" = 2""") == [
        ("after the snapshot",)
    ]


def test_a_sync_batch_waits_while_sync_is_paused_and_stamps_its_rows_after(loaded):
    config, source, target, migration, _ = loaded
    execute(migration.source_url, """update "Shop"."Client" set "Name" = 'waiting' where "Id" = 1""")
    done = threading.Event()
    with sync.paused(config, target) as pause:
        worker = threading.Thread(target=lambda: (sync.sync_once(config, source, target), done.set()))
        worker.start()
        time.sleep(0.5)
        assert not done.is_set(), "a batch must not apply while sync is paused"
        (released_at,) = pause.conn.execute("select clock_timestamp()").fetchone()
    worker.join(timeout=30)
    assert done.is_set()
    ((name, synced_at),) = rows(
        migration.target_url, """select "Name", "_migrate_synced_at" from landing."Client" where "Id" = 1"""
    )
    assert name == "waiting"
    assert synced_at > released_at, (
        "rows a waiting batch brings are stamped after the pause, never inside a reconciled period"
    )


def test_reconcile_under_concurrent_writes_reports_no_false_mismatch(loaded):
    config, source, target, migration, _ = loaded
    stop = threading.Event()
    written = []

    def legacy_application() -> None:
        rng = random.Random(7)
        next_id = 100_000
        with psycopg.connect(migration.source_url) as conn:
            while not stop.is_set():
                next_id += 1
                conn.execute(
                    """insert into "Shop"."Client" values (%s, 'live', '4111 1111 1111 1111', now())""", (next_id,)
                )
                conn.execute(
                    """update "Shop"."Client" set "Name" = 'edited ' || %s where "Id" = %s""",
                    (next_id, rng.randint(1, 5000)),
                )
                conn.execute(
                    """delete from "Shop"."Basket" where "ClientId" = %s and "Line" = %s""",
                    (rng.randint(1, 2000), rng.randint(1, 3)),
                )
                time.sleep(rng.random() * 0.02)  # a transaction held open while others commit
                conn.commit()
                written.append(next_id)

    writer = threading.Thread(target=legacy_application)
    writer.start()
    try:
        time.sleep(0.3)
        outcomes = [reconcile.reconcile(config, source, target, ["counts", "checksums"]) for _ in range(3)]
    finally:
        stop.set()
        writer.join()
    assert len(written) > 20, "the source must have been written during the comparisons"
    for outcome in outcomes:
        failed = [
            (level.level, c.name, c.detail) for level in outcome.levels for c in level.checks if c.verdict == "failed"
        ]
        assert outcome.passed, failed
    assert sum(o.point.changes_applied for o in outcomes) > 0, "landing was brought to each snapshot by sync"


def test_disposition_accounting_checks_every_table_exactly(loaded):
    config, source, target, migration, _ = loaded
    execute(
        migration.target_url,
        "create schema if not exists quarantine",
        "create table quarantine.dispositions (source_table text, source_rows bigint, migrated bigint, merged bigint, "
        "quarantined bigint)",
        "insert into quarantine.dispositions "
        "values ('Client', 5000, 4900, 60, 40), ('Basket', 6000, 5990, 0, 9), ('Tag', 2, 2, 0, 0)",
    )
    result = reconcile.reconcile(config, source, target, ["counts"])
    checks = {c.name: c for c in result.levels[0].checks}
    assert checks["Client: rows = migrated + merged + quarantined"].verdict == "passed"
    assert checks["Basket: rows = migrated + merged + quarantined"].verdict == "failed"
    assert checks["Basket: rows = migrated + merged + quarantined"].detail == "+1 rows unaccounted for"
    assert checks["Tag: dispositions cover landing"].verdict == "passed"
    assert not result.passed


def test_cli_levels_from_migration_yml_exit_codes_reports_and_stored_verdicts(loaded):
    _, _, _, migration, tmp_path = loaded
    (tmp_path / "migration.yml").write_text(
        CONFIG
        + """
reconcile:
  rules:
    - name: baskets per client bucket
      source_sql: select "ClientId" % 3, sum("Price") from "Shop"."Basket" group by 1
      target_sql: select "ClientId" % 3, sum("Price") from landing."Basket" where not _migrate_deleted group by 1
  performance_queries:
    - name: client by key
      sql: 'select * from landing."Client" where "Id" = 42'
      p95_ms: 500
      runs: 5
      require_index: true
  smoke:
    - {name: clients landed, sql: 'select count(*) from landing."Client"', expect: 5000}
    - {name: tags, sql: 'select * from landing."Tag"', expect: {rows: 2}}
    - {name: a command, command: [python3, -c, "print('ok')"], expect: {exit_code: 0, contains: ok}}
"""
    )
    env = {**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path)}
    passed = run_migrate("reconcile", "--level", "counts,checksums,rules,performance,smoke", env=env)
    assert "reconciliation passed" in passed.stdout
    report = json.loads((tmp_path / "reports" / "reconciliation" / "latest" / "reconciliation.json").read_text())
    assert [level["verdict"] for level in report["levels"]] == ["passed"] * 5
    html = (tmp_path / "reports" / "reconciliation" / "latest" / "reconciliation.html").read_text()
    assert html.index("<table>") < html.index("<h2>"), "the status table comes before the details"

    (tmp_path / "migration.yml").write_text(
        (tmp_path / "migration.yml")
        .read_text()
        .replace("p95_ms: 500", "p95_ms: 0.0001")
        .replace("expect: 5000", "expect: 4999")
    )
    failed = run_migrate("reconcile", "--level", "performance,smoke", env=env, expect=1)
    assert "client by key — p95" in failed.stderr and "exceeds the limit" in failed.stderr
    assert "reconciliation failed at level(s) performance, smoke" in failed.stderr
    stored = rows(
        migration.target_url,
        """
        select r.status, v.level, v.check_name, v.verdict, v.target_value from migrate_control.reconcile_runs r
        join migrate_control.reconcile_verdicts v using (reconcile_id)
        where r.reconcile_id = (select max(reconcile_id) from migrate_control.reconcile_runs) and v.verdict = 'failed'
        order by 2, 3""",
    )
    assert stored == [
        ("failed", "performance", "client by key", "failed", stored[0][4]),
        ("failed", "smoke", "clients landed", "failed", "5000"),
    ]
    run_migrate("reconcile", "--level", "sizes", env=env, expect=2)


def test_table_without_key_gets_a_clear_line_and_the_others_are_still_compared(loaded):
    config, source, target, migration, tmp_path = loaded
    execute(migration.source_url, """create table "Shop"."Log" ("At" timestamp, "Msg" text)""")
    (tmp_path / "migration.yml").write_text(CONFIG.replace("  Tag: {}\n", "  Tag: {}\n  Log: {}\n"))
    env = {**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path)}
    result = run_migrate("reconcile", "--level", "checksums", env=env, expect=1)
    assert (
        'checksums: Log: source = landing — table "Shop"."Log" has no primary key: name one under tables.Log.key'
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    report = json.loads((tmp_path / "reports" / "reconciliation" / "latest" / "reconciliation.json").read_text())
    verdicts = {c["name"]: c["verdict"] for c in report["levels"][0]["checks"]}
    assert verdicts == {
        "Client: source = landing": "passed",
        "Basket: source = landing": "passed",
        "Tag: source = landing": "passed",
        "Log: source = landing": "failed",
    }


APP = """
create schema if not exists app;
create table app.client (client_id bigint primary key, legacy_id integer not null, name text, card_last4 char(4));
insert into app.client select "Id" + 1000, "Id", upper("Name"), "Card" from landing."Client";
"""


def manifest(expected_name: str) -> dict:
    """What `dbt parse` writes for an app model with mapping metadata, reduced to what the sample level reads."""
    return {
        "metadata": {"project_name": "shop"},
        "nodes": {
            "model.shop.client": {
                "resource_type": "model",
                "name": "client",
                "alias": "client",
                "schema": "app",
                "fqn": ["shop", "app", "client"],
                "path": "app/client.sql",
                "config": {"materialized": "table", "meta": {}},
                "meta": {"source_table": "Client", "source_join": 'client.legacy_id = "Client"."Id"'},
                "columns": {
                    "client_id": {
                        "name": "client_id",
                        "data_type": "bigint",
                        "meta": {"expected_sql": '"Client"."Id" + 1000'},
                    },
                    "name": {"name": "name", "data_type": "text", "meta": {"expected_sql": expected_name}},
                    "card_last4": {
                        "name": "card_last4",
                        "data_type": "char(4)",
                        "meta": {"expected_sql": '"Client"."Card"'},
                    },
                    "legacy_id": {"name": "legacy_id", "data_type": "integer", "meta": {"source": ["Client.Id"]}},
                },
            },
        },
    }


def test_sample_level_compares_app_rows_with_the_expected_values_of_the_mapping(loaded):
    config, source, target, migration, tmp_path = loaded
    execute(migration.target_url, APP, "update app.client set name = 'WRONG' where legacy_id = 42")
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "manifest.json").write_text(json.dumps(manifest('upper("Client"."Name")')))
    (tmp_path / "migration.yml").write_text(CONFIG + "reconcile: {sample_size: 6000}\n")
    config = load_config(tmp_path)
    result = reconcile.reconcile(config, source, target, ["sample"])
    (check,) = result.levels[0].checks
    assert check.verdict == "failed"
    assert check.data["mismatched"] == {"name": 1}
    assert check.source == "5,000 of 5,000 rows (Client)"
    assert any("the whole table is compared" in note for note in result.levels[0].notes)
    assert "Number of rows with some compared columns unequal: 1" in (tmp_path / check.data["report"]).read_text()

    execute(migration.target_url, "update app.client set name = upper('client 42') where legacy_id = 42")
    (tmp_path / "migration.yml").write_text(CONFIG + "reconcile: {sample_size: 300}\n")
    result = reconcile.reconcile(load_config(tmp_path), source, target, ["sample"], sample_seed=3)
    (check,) = result.levels[0].checks
    assert check.verdict == "passed" and 200 <= int(check.source.split()[0]) <= 300, check


def test_sample_level_names_a_failing_expected_sql_and_compares_the_rest(loaded):
    config, source, target, migration, tmp_path = loaded
    execute(migration.target_url, APP)
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "manifest.json").write_text(json.dumps(manifest('upper("Client"."NoSuchColumn")')))
    result = reconcile.reconcile(config, source, target, ["sample"])
    (check,) = result.levels[0].checks
    assert check.verdict == "passed" and check.data["compared"] == ["client_id", "card_last4"]
    assert any(
        "expected_sql of app.client.name fails" in note and "NoSuchColumn" in note for note in result.levels[0].notes
    )
