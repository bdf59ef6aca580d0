"""The reverse models on the target (`fallback.legacy_<t>`, dbt's models/fallback): whether each
legacy table has one, and its rows read out for the fallback's carry-back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from harness.core.config import TableConfig
from harness.dbt import contract as dbt_contract
from harness.engines import postgres
from harness.engines.postgres import capture

REVERSE_SCHEMA = dbt_contract.FALLBACK_SCHEMA
OP, COLUMNS = dbt_contract.FALLBACK_OP, dbt_contract.FALLBACK_COLUMNS


def relation(table: TableConfig) -> sql.Composed:
    return postgres.qualified(REVERSE_SCHEMA, dbt_contract.fallback_relation_name(table.name))


def exists(conn: psycopg.Connection, table: TableConfig) -> bool:
    """Whether the legacy table has a reverse model (a table, view or materialized view)."""
    return postgres.table_exists(
        conn, REVERSE_SCHEMA, dbt_contract.fallback_relation_name(table.name), kinds=("r", "v", "m")
    )


def column_names(conn: psycopg.Connection, table: TableConfig) -> list[str]:
    """The reverse model's columns, in order."""
    return [c.name for c in postgres.columns(conn, REVERSE_SCHEMA, dbt_contract.fallback_relation_name(table.name))]


def image_session(conn: psycopg.Connection) -> None:
    """capture.IMAGE_SETTINGS for the whole session (of this command's own): the models compare
    before images with current rows in that text, and the copy's text reads back as the value it
    was written from."""
    capture.use_image_settings(conn, local=False)
    conn.commit()


@contextmanager
def rows(conn: psycopg.Connection, table: TableConfig, columns: list[str]) -> Iterator[Iterator[bytes]]:
    """The reverse model's rows as COPY text blocks: the legacy `columns`, then OP and COLUMNS."""
    names = postgres.column_list([*columns, OP, COLUMNS])
    with conn.cursor().copy(sql.SQL("copy (select {} from {}) to stdout").format(names, relation(table))) as out:
        yield iter(out)
