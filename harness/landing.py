"""The landing schema: an exact copy of the listed source tables inside the target database.

Each landing table has the source's columns and types, its key, and two columns of our own:
`_migrate_synced_at` (when load or sync last wrote the row, for dbt source freshness and the
incremental models) and `_migrate_deleted` (a tombstone, so deletes can flow through dbt).
Masked columns are masked in the SELECT that reads the source, so they never leave it.
"""
from __future__ import annotations

from dataclasses import dataclass
import psycopg
from psycopg import sql

from harness.config import Config, TableConfig
from harness.engines import postgres
from harness.errors import ConfigError

SYNCED_AT = "_migrate_synced_at"
DELETED = "_migrate_deleted"

MASK_SQL = {
    # Only the last four digits survive, whatever separators the legacy value had.
    "last4": "right(regexp_replace({col}, '[^0-9]', '', 'g'), 4)",
    "null": "null",
    "hash": "md5({col}::text)",
}


@dataclass(frozen=True)
class SourceTable:
    """A listed table as the source catalog describes it."""

    name: str
    columns: list[postgres.Column]
    key: list[str]
    masks: dict[str, str]


def describe(conn: psycopg.Connection, config: Config, table: TableConfig) -> SourceTable:
    schema = config.source_schema
    if not postgres.table_exists(conn, schema, table.name):
        raise ConfigError(
            f'table "{schema}"."{table.name}" listed in migration.yml does not exist in the source: '
            "fix the name under 'tables' (names are case-sensitive)"
        )
    cols = postgres.columns(conn, schema, table.name)
    names = {c.name for c in cols}
    key = list(table.key) or postgres.primary_key(conn, schema, table.name)
    if not key:
        raise ConfigError(
            f'table "{schema}"."{table.name}" has no primary key: name one under tables.{table.name}.key in migration.yml'
        )
    unknown = [c for c in [*key, *table.masks] if c not in names]
    if unknown:
        raise ConfigError(
            f"migration.yml names column(s) {', '.join(unknown)} of {table.name} that the source does not have"
        )
    return SourceTable(table.name, cols, key, dict(table.masks))


def select_masked(schema: str, table: SourceTable) -> sql.Composed:
    """SELECT of every source column, masks applied and cast back to the column's type."""
    parts = []
    for col in table.columns:
        ident = sql.Identifier(col.name)
        mask = table.masks.get(col.name)
        if mask is None:
            parts.append(ident)
        else:
            expr = sql.SQL(MASK_SQL[mask].format(col="{col}")).format(col=ident)
            parts.append(sql.SQL("({})::{} as {}").format(expr, sql.SQL(col.type), ident))
    return sql.SQL("select {} from {}").format(sql.SQL(", ").join(parts), postgres.qualified(schema, table.name))


SYNC_COLUMNS = {SYNCED_AT: "timestamptz not null default now()", DELETED: "boolean not null default false"}


def create_landing_table(
    conn: psycopg.Connection, landing_schema: str, table: SourceTable, *, with_key: bool = True, with_sync_columns: bool = True
) -> None:
    """Create the landing table; without its key (and our columns) when a bulk load adds them afterwards."""
    columns = [
        sql.SQL("{} {}{}").format(sql.Identifier(c.name), sql.SQL(c.type), sql.SQL(" not null" if c.not_null else ""))
        for c in table.columns
    ]
    if with_sync_columns:
        columns += [sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(ddl)) for name, ddl in SYNC_COLUMNS.items()]
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(landing_schema)))
    if with_key:
        columns.append(sql.SQL("constraint {} primary key ({})").format(_key_name(landing_schema, table), postgres.column_list(table.key)))
    conn.execute(
        sql.SQL("create table if not exists {} ({})").format(postgres.qualified(landing_schema, table.name), sql.SQL(", ").join(columns))
    )


def add_sync_columns(conn: psycopg.Connection, landing_schema: str, table: SourceTable) -> None:
    """Add our two columns after a bulk load: their defaults are constant for the statement, so
    PostgreSQL stores them once in the catalog instead of writing them into every row."""
    conn.execute(
        sql.SQL("alter table {} {}").format(
            postgres.qualified(landing_schema, table.name),
            sql.SQL(", ").join(
                sql.SQL("add column if not exists {} {}").format(sql.Identifier(name), sql.SQL(ddl)) for name, ddl in SYNC_COLUMNS.items()
            ),
        )
    )


def add_primary_key(conn: psycopg.Connection, landing_schema: str, table: SourceTable) -> None:
    """Add the key after a bulk load (much faster than maintaining it row by row); no-op if present."""
    if postgres.primary_key(conn, landing_schema, table.name):
        return
    conn.execute(
        sql.SQL("alter table {} add constraint {} primary key ({})").format(
            postgres.qualified(landing_schema, table.name), _key_name(landing_schema, table), postgres.column_list(table.key)
        )
    )


def _key_name(landing_schema: str, table: SourceTable) -> sql.Identifier:
    """PostgreSQL's own name for the key where it fits; named by PostgreSQL, two long names alike
    would get one, and two workers adding both keys at once would collide."""
    return sql.Identifier(postgres.fitting_name(f"{table.name}_pkey", landing_schema, table.name))
