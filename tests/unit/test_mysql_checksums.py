"""The pure parts of MySQL's canonical row hash: SET members read from COLUMN_TYPE, written as
PostgreSQL writes a text[] element, and each landing type's base as landing's side names it."""

from __future__ import annotations

import pytest

from harness.engines.mysql import checksums, types


def test_set_members_are_read_back_from_column_type_escapes():
    column_type = "set('a b','x\"y','back\\\\slash','it''s','{br}')"
    assert types.members(column_type) == ["a b", 'x"y', "back\\slash", "it's", "{br}"]


@pytest.mark.parametrize(
    ("member", "element"),
    [
        ("red", "red"),
        ("a b", '"a b"'),
        ("null", '"null"'),
        ('x"y', '"x\\"y"'),
        ("back\\slash", '"back\\\\slash"'),
        ("{br}", '"{br}"'),
        ("é", "é"),
    ],
)
def test_set_members_are_quoted_as_postgres_array_out_quotes_them(member, element):
    assert checksums._pg_array_element(member) == element


@pytest.mark.parametrize(
    ("landing_type", "base"),
    [
        ("numeric(20,0)", "numeric"),
        ("timestamp(3) with time zone", "timestamptz"),
        ("timestamp(0) without time zone", "timestamp"),
        ("bit varying(10)", "varbit"),
        ("character varying(5)", "varchar"),
        ("text[]", "_text"),
        ("double precision", "float8"),
    ],
)
def test_landing_bases_are_named_as_postgres_names_them(landing_type, base):
    assert checksums.landing_base(landing_type) == base
