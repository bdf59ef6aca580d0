"""reconcile.spark and --full, checked before any Spark starts: one clear line for each mistake."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.core.config import DEFAULT_JDBC_DRIVER, load_config
from harness.core.connections import Database
from harness.core.errors import ConfigError
from harness.reconcile import samples, spark

VALID = """
source: {schema: oms, database: legacy}
target: {database: commerce}
tables:
  CUSTOMER: {key: [CUST_ID]}
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "migration.yml").write_text(text)
    return tmp_path


def test_without_a_spark_section_the_comparison_stays_on_pandas(tmp_path):
    assert load_config(write(tmp_path, VALID)).reconcile.spark is None


def test_spark_section_loads_with_defaults(tmp_path):
    config = load_config(write(tmp_path, VALID + "reconcile: {spark: {master: 'local[2]'}}\n"))
    settings = config.reconcile.spark
    assert (settings.master, settings.partitions, settings.driver_memory) == ("local[2]", 8, "1g")
    assert settings.jdbc_driver == DEFAULT_JDBC_DRIVER and settings.conf == {}
    config = load_config(
        write(
            tmp_path,
            VALID
            + "reconcile:\n  spark: {master: 'spark://h:7077', partitions: 64, driver_memory: 4g,"
            + " conf: {spark.executor.memory: 8g}}\n",
        )
    )
    assert config.reconcile.spark.conf == {"spark.executor.memory": "8g"}


@pytest.mark.parametrize(
    "spark_yaml, message",
    [
        ("{partitions: 4}", "reconcile.spark.master must name a Spark master"),
        ("{master: 'local[2]', partitions: 0}", "reconcile.spark.partitions must be a whole number ≥ 1"),
        ("{master: 'local[2]', driver_memory: lots}", "driver_memory must be a size such as 512m or 2g"),
        ("{master: 'local[2]', mastr: x}", "unknown key(s) mastr under 'spark'"),
        ("{master: 'local[2]', conf: {executor.memory: 2g}}", "reconcile.spark.conf must be a mapping of Spark"),
    ],
)
def test_spark_mistakes_are_one_clear_line(tmp_path, spark_yaml, message):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, VALID + f"reconcile: {{spark: {spark_yaml}}}\n"))
    assert message in str(raised.value)


def test_jdbc_url_carries_host_port_database_and_credentials():
    target = Database(
        "target", "host=db.example port=6432 dbname=Shop user=mig password=s3cret sslmode=require", "", False
    )
    url, properties = spark.jdbc_url(target)
    assert url == "jdbc:postgresql://db.example:6432/Shop"
    assert properties == {"driver": "org.postgresql.Driver", "user": "mig", "password": "s3cret", "sslmode": "require"}
    url, _ = spark.jdbc_url(Database("target", "postgresql://a,b:5433/x", "", False))
    assert url == "jdbc:postgresql://a:5432,b:5433/x"


def test_a_target_on_a_unix_socket_is_refused_with_the_setting_to_change():
    target = Database("target", "host=/tmp/sock dbname=target", "MIGRATE_TARGET_URL", True)
    with pytest.raises(ConfigError) as raised:
        spark.jdbc_url(target)
    assert "needs a TCP host" in str(raised.value) and "set MIGRATE_TARGET_URL" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_full_names_a_model_by_name_table_or_relation_and_refuses_others():
    models = [
        SimpleNamespace(model=SimpleNamespace(name="customers"), schema="app", table="customer"),
        SimpleNamespace(model=SimpleNamespace(name="orders"), schema="app", table="orders"),
    ]
    assert samples._full_models(models, ["app.customer", "orders"]) == {"customers", "orders"}
    assert samples._full_models(models, ["customers"]) == {"customers"}
    with pytest.raises(ConfigError, match=r"--full payments: no compared model .* app\.customer, app\.orders"):
        samples._full_models(models, ["payments"])


def test_full_without_the_sample_level_is_a_usage_error_before_any_connection():
    from harness import reconcile

    with pytest.raises(ConfigError, match="--full compares whole tables at the sample level: add sample to --level"):
        reconcile.reconcile(None, None, None, ["counts", "checksums"], full=["app.customer"])
