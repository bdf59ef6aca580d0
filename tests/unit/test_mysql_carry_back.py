"""The MySQL carry-back's reading of PostgreSQL's COPY text and its conversions of landing text
back to the legacy value (harness/engines/mysql/carry_back.py); the writes themselves are tested
on MariaDB in tests/integration/mysql/test_carry_back.py."""

from __future__ import annotations

import pytest

from harness.engines.mysql import carry_back
from harness.engines.mysql.types import MysqlColumn


@pytest.mark.parametrize(
    ("field", "text"),
    [
        (b"plain", "plain"),
        (b"\\N", None),
        (b"\\\\N", "\\N"),  # a backslash then N: text, not null
        (b"a\\tb\\nc\\rd\\\\e", "a\tb\nc\rd\\e"),
        (b"\\b\\f\\v", "\b\f\v"),
        (b"\\101\\7\\0101", "A\x07\x081"),  # octal: one to three digits
        (b"\\303\\251", "é"),  # octal bytes of one UTF-8 character
        (b"\\x41\\x4", "A\x04"),  # hex: one or two digits
        (b"\\xg\\q", "xgq"),  # any other character stands for itself
        ("é😀".encode(), "é😀"),
    ],
)
def test_copy_field_undoes_every_escape(field, text):
    assert carry_back.copy_field(field) == text


def test_copy_rows_joins_lines_split_across_blocks():
    text = b"1\ta\\tb\t\\N\n2\t\\\\\t\\303\\251\n"
    blocks = [text[i : i + 3] for i in range(0, len(text), 3)]
    assert list(carry_back.copy_rows(blocks)) == [["1", "a\tb", None], ["2", "\\", "é"]]
    assert list(carry_back.copy_rows([b"1\tx\n\\.\n"])) == [["1", "x"]]


@pytest.mark.parametrize(
    ("text", "members"),
    [
        ("{}", []),
        ("{red,blue}", ["red", "blue"]),
        ('{"a b","x\\"y","NULL","c,d",e}', ["a b", 'x"y', "NULL", "c,d", "e"]),
        ('{"back\\\\slash"}', ["back\\slash"]),
    ],
)
def test_array_members(text, members):
    assert carry_back.array_members(text) == members


def test_array_members_refuses_a_null_member():
    with pytest.raises(ValueError, match="NULL"):
        carry_back.array_members("{a,NULL}")


@pytest.mark.parametrize(
    ("interval", "time"),
    [
        ("838:59:59", "838:59:59.000000"),
        ("-838:59:59.999999", "-838:59:59.999999"),
        ("00:00:00", "0:00:00.000000"),
        ("-00:00:00.5", "-0:00:00.500000"),
        ("1 day 02:00:00", "26:00:00.000000"),
        ("-1 days +02:00:00", "-22:00:00.000000"),
        ("3 days", "72:00:00.000000"),
    ],
)
def test_interval_becomes_a_time(interval, time):
    assert carry_back.interval_time(interval) == time


def test_an_interval_of_months_has_no_time():
    with pytest.raises(ValueError, match="months"):
        carry_back.interval_time("1 mon 02:00:00")


@pytest.mark.parametrize(
    ("timestamptz", "utc"),
    [
        ("2038-01-19 03:14:07.999+00", "2038-01-19 03:14:07.999"),
        ("1970-01-01 00:00:01+00", "1970-01-01 00:00:01"),
        ("2020-01-01 05:30:00+05:30", "2020-01-01 00:00:00"),
        ("2020-01-01 00:00:00.123-01", "2020-01-01 01:00:00.123"),
    ],
)
def test_timestamptz_becomes_utc(timestamptz, utc):
    assert carry_back.utc_timestamp(timestamptz) == utc


def _column(kind: str, source_type: str = "") -> MysqlColumn:
    return MysqlColumn("c", "", False, source_type=source_type, kind=kind)


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("integer", "0", 0),  # YEAR 0000: a number, since the string '0' is 2000
        ("integer", "18446744073709551615", 18446744073709551615),
        ("bit", "0000000101", 5),
        ("bit", "1" * 64, (1 << 64) - 1),
        ("bytes", "\\x00ff0a", b"\x00\xff\x0a"),
        ("bytes", "\\x", b""),
        ("set", "{}", ""),
        ("set", "{red,blue}", "red,blue"),
        ("float", "3.40282e+38", "3.402820018375656e+38"),  # the FLOAT's exact value
        ("float", "3.4028235e+38", "3.4028234663852886e+38"),  # FLT_MAX, whose shortest digits lie above it
        ("float", "1e-45", "1.401298464324817e-45"),
        ("double", "-1.7976931348623157e+308", "-1.7976931348623157e+308"),
        ("decimal", "-0.000000000000000000000000000001", "-0.000000000000000000000000000001"),
        ("time", "25:00:00", "25:00:00.000000"),
        ("timestamp", "2038-01-19 03:14:07.999+00", "2038-01-19 03:14:07.999"),
        ("datetime", "9999-12-31 23:59:59.999999", "9999-12-31 23:59:59.999999"),
        ("text", "x\ty", "x\ty"),
    ],
)
def test_legacy_value(kind, text, value):
    assert carry_back.legacy_value(_column(kind), text) == value


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("float", "NaN"),
        ("float", "1e39"),
        ("double", "Infinity"),
        ("date", "0044-03-15 BC"),
        ("datetime", "infinity"),
        ("bytes", "ab"),
    ],
)
def test_a_value_mysql_has_none_of_is_refused(kind, text):
    with pytest.raises(ValueError):
        carry_back.legacy_value(_column(kind), text)
