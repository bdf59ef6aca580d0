"""migration.yml is checked strictly: every mistake is one clear ConfigError."""

from pathlib import Path

import pytest

from harness.core.config import load_config
from harness.core.errors import ConfigError

VALID = """
source: {schema: oms, database: legacy}
target: {database: commerce}
tables:
  CUSTOMER: {key: [CUST_ID]}
  PAYMENT: {masks: {CARD_NO: last4}}
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "migration.yml").write_text(text)
    return tmp_path


def test_valid_file_loads_into_typed_config(tmp_path, monkeypatch):
    monkeypatch.delenv("MIGRATE_SOURCE_URL", raising=False)
    monkeypatch.delenv("MIGRATE_TARGET_URL", raising=False)
    config = load_config(write(tmp_path, VALID))
    assert config.source_schema == "oms"
    assert config.table("CUSTOMER").key == ("CUST_ID",)
    assert config.table("PAYMENT").masks == {"CARD_NO": "last4"}
    assert config.strategy == "parallel_run"
    assert config.source.url is None
    assert config.downtime_limit_minutes is None


def test_downtime_limit_is_read_in_minutes(tmp_path):
    config = load_config(write(tmp_path, VALID + "downtime_limit_minutes: 45\n"))
    assert config.downtime_limit_minutes == 45.0


def test_environment_url_wins_over_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MIGRATE_SOURCE_URL", "postgresql://u@h/db")
    config = load_config(write(tmp_path, VALID))
    assert config.source.url == "postgresql://u@h/db"
    assert config.source.url_setting == "MIGRATE_SOURCE_URL"


@pytest.mark.parametrize(
    "text, message",
    [
        (VALID + "strategy: big_bnag\n", "strategy 'big_bnag' is unknown"),
        (VALID + "tabels: {}\n", "unknown key(s) tabels"),
        (VALID.replace("schema: oms, ", ""), "source.schema is missing"),
        (VALID.replace("last4", "blur"), "mask 'blur' on PAYMENT.CARD_NO is unknown"),
        (VALID.replace("key: [CUST_ID]", "kee: [CUST_ID]"), "unknown key(s) kee under table CUSTOMER"),
        ("source: [unclosed\n", "is not valid YAML at line"),
        ("source: {schema: oms}\ntables: {}\n", "'tables' must list at least one source table"),
        (
            VALID + "downtime_limit_minutes: soon\n",
            "downtime_limit_minutes must be a positive number of minutes, not 'soon'",
        ),
        (VALID + "downtime_limit_minutes: 0\n", "downtime_limit_minutes must be a positive number"),
        (VALID + "downtime_limit_minutes: yes\n", "downtime_limit_minutes must be a positive number"),
    ],
)
def test_mistakes_are_named(tmp_path, text, message):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text))
    assert message in str(raised.value)


LONG = "C" * 64  # one byte more than PostgreSQL holds


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("schema: oms", "schema: " + LONG, "source.schema: the name 'CCCC"),
        ("schema: oms", "schema: 'oms\"; drop table x; --'", "source.schema: the name 'oms\"; drop"),
        (
            "target: {database: commerce}",
            "target: {database: commerce, landing_schema: " + LONG + "}",
            "target.landing_schema",
        ),
        (
            "target: {database: commerce}",
            'target: {database: commerce, control_schema: "ctl\\tschema"}',
            "target.control_schema",
        ),
        ("CUSTOMER: {key", LONG + ": {key", "tables." + LONG + ": the name"),
        ("CUST_ID", "CUST;ID", "tables.CUSTOMER.key: the name 'CUST;ID'"),
        ("CARD_NO", '"CARD\\nNO"', "tables.PAYMENT.masks: the name 'CARD\\nNO'"),
        ("database: legacy", "database: " + LONG, "source.database"),
    ],
)
def test_identifiers_postgresql_cannot_hold_are_refused_with_their_key(tmp_path, old, new, message):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, VALID.replace(old, new)))
    assert message in str(raised.value)
    assert "63 bytes" in str(raised.value) or "characters" in str(raised.value)


def test_a_source_table_name_over_63_bytes_is_refused_with_the_fix_for_a_name_mysql_holds(tmp_path):
    name = "t" * 63 + "1"  # MySQL holds 64 characters: the name is spelt right, PostgreSQL cannot hold it
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, VALID.replace("CUSTOMER", name)))
    assert "64 bytes" in str(raised.value) and "rename it in the source" in str(raised.value)
    assert "spells it" not in str(raised.value)


def test_names_up_to_63_bytes_with_any_letters_are_accepted(tmp_path):
    name = "é" * 31 + "x"  # 63 bytes in UTF-8
    config = load_config(
        write(tmp_path, VALID.replace("CUSTOMER", name).replace("schema: oms", "schema: Ünïcode Schema"))
    )
    assert config.table(name).key == ("CUST_ID",)


def test_missing_file_says_where_to_run(tmp_path):
    with pytest.raises(ConfigError, match="run migrate from the project folder"):
        load_config(tmp_path)


def test_unknown_table_lookup_is_named(tmp_path):
    config = load_config(write(tmp_path, VALID))
    with pytest.raises(ConfigError, match="'ORDERS' is not listed"):
        config.table("ORDERS")


RECONCILE = (
    VALID
    + """
reconcile:
  sample_size: 250
  rules:
    - name: payments per currency
      source_sql: select 1, 2
      target_sql: select 1, 2
      tolerance: 0.5
  performance_queries:
    - {name: customer by email, sql: select 1, p95_ms: 20}
  smoke:
    - {name: customers, sql: select count(*) from app.customer, expect: {min_rows: 1}}
    - {name: answer, sql: select 42, expect: 42}
    - {name: app health, command: curl -fsS http://localhost:8080/health, expect: {contains: ok}}
"""
)


def test_reconcile_section_loads_with_defaults(tmp_path):
    config = load_config(write(tmp_path, RECONCILE))
    section = config.reconcile
    assert section.sample_size == 250
    assert section.rules[0].tolerance == 0.5
    assert (section.performance_queries[0].runs, section.performance_queries[0].require_index) == (20, False)
    customers, answer, health = section.smoke
    assert (customers.expect.kind, customers.expect.value) == ("min_rows", 1)
    assert (answer.expect.kind, answer.expect.value) == ("value", 42)
    assert health.command == ("curl", "-fsS", "http://localhost:8080/health")
    assert (health.expect.kind, health.expect.value, health.expect.contains) == ("exit_code", 0, "ok")
    assert load_config(write(tmp_path, VALID)).reconcile.sample_size == 1000


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("sample_size: 250", "sample_size: 0", "reconcile.sample_size must be a whole number of rows ≥ 1"),
        ("sample_size: 250", "sample_sise: 250", "unknown key(s) sample_sise under 'reconcile'"),
        (
            "tolerance: 0.5",
            "tolerance: -1",
            "reconcile.rules[0] (payments per currency): tolerance must be a number ≥ 0",
        ),
        ("      target_sql: select 1, 2\n", "", "reconcile.rules[0] needs target_sql"),
        ("p95_ms: 20}", "p95_ms: fast}", "p95_ms must be a positive number of milliseconds"),
        ("p95_ms: 20}", "p95_ms: 20, runs: 0}", "runs must be a whole number ≥ 1"),
        ("p95_ms: 20}", "p95_ms: 20, repeat: 3}", "unknown key(s) repeat under reconcile.performance_queries[0]"),
        ("expect: 42}", "}", "reconcile.smoke[1] (answer) needs expect"),
        ("expect: {min_rows: 1}", "expect: {min_rows: 1, rows: 2}", "expect takes one of value, rows, min_rows"),
        ("command: curl", "sql: select 1, command: curl", "needs exactly one of sql or command"),
        ("name: answer", "name: customers", "the name 'customers' is used twice under reconcile.smoke"),
    ],
)
def test_reconcile_mistakes_are_named(tmp_path, old, new, message):
    assert old in RECONCILE
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, RECONCILE.replace(old, new)))
    assert message in str(raised.value)
