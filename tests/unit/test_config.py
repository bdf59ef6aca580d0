"""migration.yml is checked strictly: every mistake is one clear ConfigError."""
from pathlib import Path

import pytest

from harness.config import load_config
from harness.errors import ConfigError

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
    ],
)
def test_mistakes_are_named(tmp_path, text, message):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text))
    assert message in str(raised.value)


def test_missing_file_says_where_to_run(tmp_path):
    with pytest.raises(ConfigError, match="run migrate from the project folder"):
        load_config(tmp_path)


def test_unknown_table_lookup_is_named(tmp_path):
    config = load_config(write(tmp_path, VALID))
    with pytest.raises(ConfigError, match="'ORDERS' is not listed"):
        config.table("ORDERS")
