"""The MySQL type mapping: each type's landing type, values PostgreSQL has no form for routed to
the companion column, and docs/mysql.md showing the mapping as the code has it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.engines.mysql import types

DOCS = Path(__file__).resolve().parents[2] / "docs" / "mysql.md"


@pytest.mark.parametrize(
    ("data_type", "column_type", "options", "expected"),
    [
        ("bigint", "bigint(20) unsigned", {}, "numeric(20,0)"),
        ("int", "int(10) unsigned", {}, "bigint"),
        ("smallint", "smallint(5) unsigned", {}, "integer"),
        ("tinyint", "tinyint(1)", {}, "smallint"),
        ("decimal", "decimal(65,30)", {"precision": 65, "scale": 30}, "numeric(65,30)"),
        ("float", "float", {}, "real"),
        ("bit", "bit(10)", {"precision": 10}, "bit varying(10)"),
        ("timestamp", "timestamp(3)", {"fsp": 3}, "timestamp(3) with time zone"),
        ("time", "time", {}, "interval"),
        ("year", "year(4)", {}, "smallint"),
        ("set", "set('a','b')", {}, "text[]"),
        ("longtext", "longtext", {"json_checked": True}, "json"),
        ("varbinary", "varbinary(8)", {}, "bytea"),
    ],
)
def test_each_mysql_type_lands_in_the_type_that_holds_its_values(data_type, column_type, options, expected):
    assert types.landing_type(data_type, column_type, **options)[0] == expected


@pytest.mark.parametrize("text", ["0000-00-00", "2024-00-15", "2024-02-30", "0000-01-01 00:00:00", "2023-02-29"])
def test_a_date_postgresql_lacks_lands_null_beside_its_text(text):
    column = types.MysqlColumn("d", "date", False, kind="date")
    assert types.landing_text(column, text) == (None, text)


def test_a_real_date_lands_as_itself_and_a_timestamp_in_utc():
    assert types.landing_text(types.MysqlColumn("d", "date", False, kind="date"), "2024-02-29") == ("2024-02-29", None)
    stamp = types.MysqlColumn("t", "timestamptz", False, kind="timestamp")
    assert types.landing_text(stamp, "2024-03-01 10:00:00.5") == ("2024-03-01 10:00:00.5+00", None)


def test_nul_in_text_is_refused_not_dropped():
    with pytest.raises(types.NotRepresentable):
        types.landing_text(types.MysqlColumn("c", "text", False), "a\x00b")


def test_docs_show_the_mapping_the_code_has():
    text = DOCS.read_text()
    for mapping in types.MAPPINGS:
        assert f"| {mapping.mysql} | {mapping.landing} | {mapping.note} |" in text
