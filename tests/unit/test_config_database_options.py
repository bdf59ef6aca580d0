"""target.database_options: CREATE DATABASE's encoding and locale options, each over the source's."""

from pathlib import Path

import pytest

from harness.core.config import load_config
from harness.core.errors import ConfigError
from harness.engines.postgres import DatabaseOptions, create_database_sql

BASE = """
source: {{schema: oms, database: legacy}}
target: {{database: commerce{options}}}
tables:
  CUSTOMER: {{key: [CUST_ID]}}
"""


def config_with(tmp_path: Path, options: str):
    (tmp_path / "migration.yml").write_text(BASE.format(options=options))
    return load_config(tmp_path)


def test_without_options_the_source_decides(tmp_path):
    assert config_with(tmp_path, "").target_database_options == DatabaseOptions()


def test_options_are_read_by_their_create_database_names(tmp_path):
    config = config_with(tmp_path, ", database_options: {encoding: UTF8, locale_provider: icu, icu_locale: en-US}")
    assert config.target_database_options == DatabaseOptions(encoding="UTF8", locale_provider="icu", icu_locale="en-US")


@pytest.mark.parametrize(
    "options, message",
    [
        (", database_options: {collation: C}", "unknown key(s) collation under target.database_options"),
        (
            ", database_options: {locale_provider: glibc}",
            "locale_provider 'glibc' is unknown; use one of libc, icu, builtin",
        ),
        (", database_options: {encoding: 8}", "target.database_options.encoding must be a name"),
        (", database_options: [UTF8]", "target.database_options must be a mapping"),
    ],
)
def test_a_wrong_option_is_one_clear_error(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_with(tmp_path, options)


def test_an_option_takes_the_place_of_the_source_s():
    source = DatabaseOptions("LATIN1", "de_DE", "de_DE", "libc")
    assert source.overridden_by(DatabaseOptions(encoding="UTF8", lc_collate="C")) == DatabaseOptions(
        "UTF8", "C", "de_DE", "libc"
    )


def test_another_provider_drops_the_source_s_icu_locale():
    source = DatabaseOptions("UTF8", "C.UTF-8", "C.UTF-8", "icu", icu_locale="de")
    assert source.overridden_by(DatabaseOptions(locale_provider="libc")).icu_locale is None
    assert source.overridden_by(DatabaseOptions(encoding="UTF8")).icu_locale == "de"


def test_create_database_names_template0_and_drops_the_provider_before_15():
    options = DatabaseOptions("LATIN1", "C", "C", "libc")
    assert create_database_sql("t", options, 150004).as_string(None) == (
        "create database \"t\" template template0 encoding 'LATIN1' lc_collate 'C' lc_ctype 'C' locale_provider 'libc'"
    )
    assert "locale_provider" not in create_database_sql("t", options, 140010).as_string(None)
    assert create_database_sql("t", DatabaseOptions(), 160000).as_string(None) == 'create database "t"'
