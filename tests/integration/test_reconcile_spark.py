"""The sample level on Spark (reconcile.spark) gives the verdicts pandas gives: the same sample, with
differences seeded, compared on both backends. Spark runs in local[2]; these tests need pyspark and
Java (`make spark`) and a PostgreSQL reached over TCP (MIGRATE_TEST_ADMIN_URL), since Spark's JDBC
source cannot use the embedded server's Unix socket."""

from __future__ import annotations

import json

import pytest

from harness import load, reconcile
from harness.core.config import load_config
from harness.core.errors import ConfigError
from harness.reconcile import spark
from tests.integration.conftest import CONFIG
from tests.integration.test_reconcile import APP, execute, manifest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

if spark.missing():
    pytest.skip(f"Spark comparison not tested: {spark.missing()}", allow_module_level=True)

SPARK = "  spark: {master: 'local[2]', partitions: 3, driver_memory: 1g}\n"

# One app row joining two landing rows (ambiguous), as the source_join below makes it for legacy_id 7.
AMBIGUOUS_JOIN = 'client.legacy_id = "Client"."Id" or (client.legacy_id = 7 and "Client"."Id" = 8)'

SEEDED = (
    "update app.client set name = 'WRONG' where legacy_id in (42, 4242)",
    "update app.client set card_last4 = null where legacy_id = 3",  # the expected value is not null
    "insert into app.client values (999999, 999999, 'NOBODY', null)",  # no landing row
)


@pytest.fixture
def seeded(shop):
    config, source, target, migration, tmp_path = shop
    try:
        spark.jdbc_url(target)
    except ConfigError:
        pytest.skip("Spark comparison not tested: the test server is on a Unix socket (set MIGRATE_TEST_ADMIN_URL)")
    load.load(config, source, target, range_rows=2000)
    execute(migration.target_url, APP, *SEEDED)
    (tmp_path / "target").mkdir()
    document = manifest('upper("Client"."Name")')
    document["nodes"]["model.shop.client"]["meta"]["source_join"] = AMBIGUOUS_JOIN
    (tmp_path / "target" / "manifest.json").write_text(json.dumps(document))
    return shop


def sample_check(tmp_path, source, target, reconcile_yaml: str, **options):
    (tmp_path / "migration.yml").write_text(CONFIG + "reconcile:\n" + reconcile_yaml)
    result = reconcile.reconcile(load_config(tmp_path), source, target, ["sample"], **options)
    (level,) = result.levels
    (check,) = level.checks
    return check, level.notes


def verdict(check) -> tuple:
    data = {k: v for k, v in check.data.items() if k != "report"}
    return check.verdict, check.source, check.target, check.detail, data


def test_spark_and_pandas_give_the_same_verdicts_on_the_same_sample_with_differences_seeded(seeded):
    _, source, target, _, tmp_path = seeded
    on_pandas, _ = sample_check(tmp_path, source, target, "  sample_size: 6000\n")
    on_spark, notes = sample_check(tmp_path, source, target, "  sample_size: 6000\n" + SPARK)
    assert on_spark.data, on_spark.detail  # compared, not refused
    assert verdict(on_spark) == verdict(on_pandas)
    assert on_spark.verdict == "failed"
    assert on_spark.data["mismatched"] == {"name": 2, "card_last4": 1}
    assert (on_spark.data["only_in_app"], on_spark.data["ambiguous"]) == (1, 1)
    assert any("compared on Spark (reconcile.spark.master local[2])" in note for note in notes)
    report = (tmp_path / on_spark.data["report"]).read_text()
    assert "Number of rows with some compared columns unequal: 3" in report

    # A random sample: the same keys are drawn for both backends (the seed), so the same verdicts.
    on_pandas, _ = sample_check(tmp_path, source, target, "  sample_size: 900\n", sample_seed=11)
    on_spark, _ = sample_check(tmp_path, source, target, "  sample_size: 900\n" + SPARK, sample_seed=11)
    assert verdict(on_spark) == verdict(on_pandas)
    assert 700 <= int(on_spark.source.split()[0]) <= 900


def test_full_compares_the_whole_table_on_spark_whatever_the_sample_size(seeded):
    _, source, target, _, tmp_path = seeded
    check, notes = sample_check(tmp_path, source, target, "  sample_size: 10\n" + SPARK, full=["app.client"])
    assert check.source == "5,001 of 5,001 rows (Client)"
    assert check.data["mismatched"] == {"name": 2, "card_last4": 1}
    assert any("--full: the whole of the 5,001 rows of app.client is compared" in note for note in notes)


def test_a_failing_expected_sql_is_named_on_spark_and_the_other_columns_compared(seeded):
    _, source, target, migration, tmp_path = seeded
    execute(migration.target_url, "update app.client set name = upper(name)")
    document = manifest('upper("Client"."NoSuchColumn")')
    (tmp_path / "target" / "manifest.json").write_text(json.dumps(document))
    check, notes = sample_check(tmp_path, source, target, "  sample_size: 6000\n" + SPARK)
    assert check.data["compared"] == ["client_id", "card_last4"]
    assert check.data["mismatched"] == {"card_last4": 1}
    assert any("expected_sql of app.client.name fails" in n and "NoSuchColumn" in n for n in notes)
