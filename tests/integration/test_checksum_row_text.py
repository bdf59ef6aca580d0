"""The checksum level's row text (harness/engines/postgres/checksums.py, _joined): built by concat_ws, it is
exactly the text the `||` chain it replaced gave, so every hash stays as it was; rows wider than a
function's 100 arguments are joined too."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from harness.engines.postgres import checksums

pytestmark = pytest.mark.integration


def chained(texts: list[sql.Composable]) -> sql.Composable:
    return sql.SQL("({})").format(
        sql.SQL(" || ").join(
            sql.SQL("{} || {}").format(t, sql.Literal(checksums.FIELD_SEPARATOR)) if i < len(texts) - 1 else t
            for i, t in enumerate(texts)
        )
    )


@pytest.mark.parametrize("width", [1, 3, 99, 100, 250])
def test_row_text_is_the_separated_texts_whatever_the_width(database_url, width):
    values = (["", "a\x1fb", checksums.NULL_MARK, "ß", "12"] * 60)[:width]
    parts = [sql.Literal(value) for value in values]
    with psycopg.connect(database_url) as conn:
        joined, expected = conn.execute(
            sql.SQL("select {}, {}").format(checksums._joined(parts), chained(parts))
        ).fetchone()
    assert joined == expected
    assert joined.count(checksums.FIELD_SEPARATOR) == width - 1 + sum("\x1f" in v for v in values)
