"""The landing schema: an exact copy of the listed source tables inside the target database.

Each landing table has the source's columns and types, its key, and two columns of our own:
`_migrate_synced_at` (when load or sync last wrote the row, for dbt source freshness and the
incremental models) and `_migrate_deleted` (a tombstone, so deletes can flow through dbt).
Masked columns are masked in the SELECT that reads the source, so they never leave it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg
from psycopg import sql

from harness.core.config import Config, TableConfig
from harness.core.errors import ConfigError
from harness.engines import postgres

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
    return describe_all(conn, config, [table])[table.name]


def describe_all(conn: psycopg.Connection, config: Config, tables: list[TableConfig]) -> dict[str, SourceTable]:
    """The tables as the source catalog describes them, by name, in one catalog query per kind
    (engine.columns_and_keys) however many: a sync batch describes every listed table each batch."""
    from harness import engines

    schema = config.source_schema
    found = engines.source_engine(config).columns_and_keys(conn, schema, [t.name for t in tables])
    described = {}
    for table in tables:
        if table.name not in found:
            raise ConfigError(
                f'table "{schema}"."{table.name}" listed in migration.yml does not exist in the source: '
                "fix the name under 'tables' (names are case-sensitive)"
            )
        cols, primary_key = found[table.name]
        for col in cols:
            # Landing holds a column under its source name, which PostgreSQL would cut (MySQL holds 64
            # characters): two columns alike in their first 63 bytes would become one.
            size = len(col.name.encode())
            if size > postgres.MAX_IDENTIFIER_BYTES:
                raise ConfigError(
                    f"column {col.name} of {schema}.{table.name} is {size} bytes, more than the "
                    f"{postgres.MAX_IDENTIFIER_BYTES} bytes a PostgreSQL name holds: rename it in the source "
                    "within 63 bytes, or leave the table out of migration.yml"
                )
        names = {c.name for c in cols}
        key = list(table.key) or primary_key
        if not key:
            raise ConfigError(
                f'table "{schema}"."{table.name}" has no primary key: name one under '
                f"tables.{table.name}.key in migration.yml"
            )
        unknown = [c for c in [*key, *table.masks] if c not in names]
        if unknown:
            raise ConfigError(
                f"migration.yml names column(s) {', '.join(unknown)} of {table.name} that the source does not have"
            )
        described[table.name] = SourceTable(table.name, cols, key, dict(table.masks))
    return described


def exists(conn: psycopg.Connection, landing_schema: str, table_name: str) -> bool:
    return postgres.table_exists(conn, landing_schema, table_name)


def has_key(conn: psycopg.Connection, landing_schema: str, table_name: str) -> bool:
    """Whether the landing table has its key: a bulk-loaded table gets it once its copy is finished."""
    return bool(postgres.primary_key(conn, landing_schema, table_name))


def live_rows(conn: psycopg.Connection, landing_schema: str, table_name: str) -> int:
    """The landing table's rows, tombstones left out."""
    (rows,) = conn.execute(
        sql.SQL("select count(*) from {} where not {}").format(
            postgres.qualified(landing_schema, table_name), sql.Identifier(DELETED)
        )
    ).fetchone()
    return rows


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
    conn: psycopg.Connection,
    landing_schema: str,
    table: SourceTable,
    *,
    with_key: bool = True,
    with_sync_columns: bool = True,
) -> None:
    """Create the landing table; without its key (and our columns) when a bulk load adds them afterwards."""
    columns = [
        sql.SQL("{} {}{}{}").format(
            sql.Identifier(c.name),
            sql.SQL(c.type),
            _collate(landing_schema, c),
            sql.SQL(" not null" if c.not_null else ""),
        )
        for c in table.columns
    ]
    if with_sync_columns:
        columns += [sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(ddl)) for name, ddl in SYNC_COLUMNS.items()]
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(landing_schema)))
    if with_key:
        columns.append(
            sql.SQL("constraint {} primary key ({})").format(
                _key_name(landing_schema, table), postgres.column_list(table.key)
            )
        )
    conn.execute(
        sql.SQL("create table if not exists {} ({})").format(
            postgres.qualified(landing_schema, table.name), sql.SQL(", ").join(columns)
        )
    )


def _collate(landing_schema: str, column: postgres.Column) -> sql.Composable:
    """The column's own collation, where it has one: the server's (pg_catalog), or the copy of a
    collation made in the source that create_collations makes in landing."""
    if column.collation is None:
        return sql.SQL("")
    schema, name = column.collation
    return sql.SQL(" collate {}.{}").format(
        sql.Identifier(schema if schema == postgres.CATALOG_SCHEMA else landing_schema), sql.Identifier(name)
    )


def collated_key(table: SourceTable) -> list[str]:
    """The key columns with a collation of their own, which sync matches by their bytes too (see key_match)."""
    return [c.name for c in table.columns if c.name in table.key and c.collation is not None]


def exactly(alias: str, column: postgres.Column) -> sql.Composable:
    """`alias.column` as compared by its bytes: under "C" where the column has a collation of its
    own (a case-insensitive one calls 'Zebra' and 'ZEBRA' equal)."""
    collate = sql.SQL(' collate "C"' if column.collation is not None else "")
    return sql.SQL("{}.{}{}").format(sql.Identifier(alias), sql.Identifier(column.name), collate)


def key_match(table: SourceTable, left: str, right: str) -> sql.Composable:
    """`left`'s key equals `right`'s (two table aliases), exactly: plain equality, which the key's
    index serves, then the collated key columns by their bytes."""
    by_name = {c.name: c for c in table.columns}
    plain = [
        sql.SQL("{0}.{2} = {1}.{2}").format(sql.Identifier(left), sql.Identifier(right), sql.Identifier(k))
        for k in table.key
    ]
    exact = [
        sql.SQL("{} = {}").format(exactly(left, by_name[k]), exactly(right, by_name[k])) for k in collated_key(table)
    ]
    return sql.SQL(" and ").join(plain + exact)


def create_collations(
    src: psycopg.Connection,
    dst: psycopg.Connection,
    source_schema: str,
    landing_schema: str,
    table_name: str,
    columns: list[postgres.Column],
) -> None:
    """Make sure the target has the collations of these source columns, so that landing sorts and
    compares their text as the source does.

    The server's own collations ("C", "en-x-icu", "de_DE.utf8", ...) come with its build and
    operating system: one the target server lacks is refused here, before anything is copied. A
    collation made in the source (CREATE COLLATION) is made in the landing schema from the same
    definition; one of the same name there with another definition is refused.
    """
    for column in columns:
        if column.collation is None:
            continue
        schema, name = column.collation
        shown = f'column {column.name} of "{source_schema}"."{table_name}" has collation {schema}."{name}"'
        if schema == postgres.CATALOG_SCHEMA:
            if postgres.collation_definition(dst, schema, name) is None:
                raise ConfigError(
                    f"{shown}, which the target server does not have: install its locale (or ICU) on the target's "
                    "server, or give the column another collation at the source"
                )
            continue
        wanted = postgres.collation_definition(src, schema, name)
        there = postgres.collation_definition(dst, landing_schema, name)
        if there is None:
            postgres.create_collation(dst, landing_schema, name, wanted)
        elif there != wanted:
            raise ConfigError(
                f'{shown}; landing\'s collation "{name}" is defined otherwise ({there}): drop it, or rename one of them'
            )


def create_types(dst: psycopg.Connection, types: list[tuple[str, str, str]]) -> list[str]:
    """Make the source's own types (engine.own_types) in the target under their source names, as
    landing's and app's columns name them; a type of that name already there is kept as it is.
    Returns the types created."""
    created = []
    for schema, name, statement in types:
        if postgres.type_exists(dst, schema, name):
            continue
        dst.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        dst.execute(statement)
        created.append(f"{schema}.{name}")
    return created


def add_sync_columns(conn: psycopg.Connection, landing_schema: str, table: SourceTable) -> None:
    """Add our two columns after a bulk load: their defaults are constant for the statement, so
    PostgreSQL stores them once in the catalog instead of writing them into every row."""
    conn.execute(
        sql.SQL("alter table {} {}").format(
            postgres.qualified(landing_schema, table.name),
            sql.SQL(", ").join(
                sql.SQL("add column if not exists {} {}").format(sql.Identifier(name), sql.SQL(ddl))
                for name, ddl in SYNC_COLUMNS.items()
            ),
        )
    )


def add_primary_key(conn: psycopg.Connection, landing_schema: str, table: SourceTable) -> None:
    """Add the key after a bulk load (much faster than maintaining it row by row); no-op if present."""
    if postgres.primary_key(conn, landing_schema, table.name):
        return
    conn.execute(
        sql.SQL("alter table {} add constraint {} primary key ({})").format(
            postgres.qualified(landing_schema, table.name),
            _key_name(landing_schema, table),
            postgres.column_list(table.key),
        )
    )


def check_key(conn: psycopg.Connection, schema: str, table: SourceTable) -> None:
    """Refuse a key declared in migration.yml that does not identify every source row: found here,
    before capture is installed, rather than by landing's primary key after the copy."""
    if table.key == postgres.primary_key(conn, schema, table.name):
        return  # the source enforces it
    source = postgres.qualified(schema, table.name)
    key = postgres.column_list(table.key)
    declared = (
        f'table "{schema}"."{table.name}": the key ({", ".join(table.key)}) named under '
        f"tables.{table.name}.key in migration.yml"
    )
    fix = "name columns that identify every row there"
    duplicate = conn.execute(
        sql.SQL("select row({k})::text, count(*) from {t} group by {k} having count(*) > 1 limit 1").format(
            k=key, t=source
        )
    ).fetchone()
    if duplicate:
        raise ConfigError(f"{declared} is not unique in the source: {duplicate[0]} occurs {duplicate[1]} times; {fix}")
    null = conn.execute(
        sql.SQL("select row({k})::text from {t} where {cond} limit 1").format(
            k=key,
            t=source,
            cond=sql.SQL(" or ").join(sql.SQL("{} is null").format(sql.Identifier(k)) for k in table.key),
        )
    ).fetchone()
    if null:
        raise ConfigError(f"{declared} is null in some source rows, e.g. {null[0]}; {fix}")


def _same_shape(conn: psycopg.Connection, landing_schema: str, table: SourceTable) -> bool:
    """Whether the landing table has the source's columns (names, types and not-nulls, in order) and key."""
    landed = [
        (c.name, c.type, c.not_null, c.collation and c.collation[1])
        for c in postgres.columns(conn, landing_schema, table.name)
        if c.name not in SYNC_COLUMNS
    ]
    # the key makes its columns not null
    wanted = [
        (c.name, c.type, c.not_null or c.name in table.key, c.collation and c.collation[1]) for c in table.columns
    ]
    return landed == wanted and postgres.primary_key(conn, landing_schema, table.name) == table.key


def replace_for_reload(conn: psycopg.Connection, landing_schema: str, table: SourceTable) -> tuple[str, list[str]]:
    """Make the landing table ready for a fresh copy, in the caller's transaction; how, and the views dropped.

    A new table is created bare (the copy's finish adds key and our columns). Views over the table
    (dbt's staging models) would block `drop table`: when the shape is unchanged the table is
    emptied and keeps them, else it is dropped with them and `dbt build` makes them again.
    """
    target = postgres.qualified(landing_schema, table.name)
    if not postgres.table_exists(conn, landing_schema, table.name):
        create_landing_table(conn, landing_schema, table, with_key=False, with_sync_columns=False)
        return "created", []
    views = postgres.dependent_views(conn, landing_schema, table.name)
    if views and _same_shape(conn, landing_schema, table):
        conn.execute(sql.SQL("truncate {}").format(target))
        return "emptied", []
    conn.execute(sql.SQL("drop table {}{}").format(target, sql.SQL(" cascade" if views else "")))
    create_landing_table(conn, landing_schema, table, with_key=False, with_sync_columns=False)
    return "recreated", views


def add_column(
    conn: psycopg.Connection, landing_schema: str, table_name: str, column: postgres.Column, missing: str | None
) -> None:
    """Carry a column added at the source: the landing rows get what the source's older rows hold,
    null or the value the column was added with (`missing`, as array text), without a rewrite."""
    target = postgres.qualified(landing_schema, table_name)
    name, type_, collate = sql.Identifier(column.name), sql.SQL(column.type), _collate(landing_schema, column)
    if missing is None:
        conn.execute(sql.SQL("alter table {} add column {} {}{}").format(target, name, type_, collate))
        return
    # A constant default is stored once in the catalog for the existing rows; dropped at once,
    # so that landing, like the rest of it, has no defaults of its own.
    conn.execute(
        sql.SQL("alter table {} add column {} {}{} default ({}::{}[])[1]").format(
            target, name, type_, collate, sql.Literal(missing), type_
        )
    )
    conn.execute(sql.SQL("alter table {} alter column {} drop default").format(target, name))


def allow_null(conn: psycopg.Connection, landing_schema: str, table_name: str, column: str) -> None:
    conn.execute(
        sql.SQL("alter table {} alter column {} drop not null").format(
            postgres.qualified(landing_schema, table_name), sql.Identifier(column)
        )
    )


def _key_name(landing_schema: str, table: SourceTable) -> sql.Identifier:
    """PostgreSQL's own name for the key where it fits; named by PostgreSQL, two long names alike
    would get one, and two workers adding both keys at once would collide."""
    return sql.Identifier(postgres.fitting_name(f"{table.name}_pkey", landing_schema, table.name))


def empty(conn: psycopg.Connection, landing_schema: str, table_name: str) -> None:
    """Empty the landing table in the caller's transaction (a copy in the same transaction may then freeze its rows)."""
    conn.execute(sql.SQL("truncate {}").format(postgres.qualified(landing_schema, table_name)))


def copy_in(
    conn: psycopg.Connection,
    landing_schema: str,
    table: SourceTable,
    pipe: int,
    block_bytes: int,
    *,
    copy_format: str,
    freeze: bool,
) -> tuple[int, int]:
    """COPY into the landing table of what the pipe carries (a source engine's copy_out, in its COPY_FORMAT), in
    the caller's transaction; (rows, bytes). Whatever the pipe holds is passed on at once, up to
    `block_bytes`, rather than waiting for full blocks, so the source keeps sending while the
    target is written. `freeze` only for a table created or emptied in this transaction."""
    statement = sql.SQL("copy {} ({}) from stdin (format {}{})").format(
        postgres.qualified(landing_schema, table.name),
        postgres.column_list([c.name for c in table.columns]),
        sql.SQL({"binary": "binary", "text": "text"}[copy_format]),
        sql.SQL(", freeze" if freeze else ""),
    )
    size = 0
    with conn.cursor() as cur:
        with cur.copy(statement) as writer:
            while block := os.read(pipe, block_bytes):
                writer.write(block)
                size += len(block)
        return cur.rowcount, size


INDEX_MEMORY_KB = 1024 * 1024  # maintenance_work_mem for a key build, at least


def finish_bulk_load(conn: psycopg.Connection, landing_schema: str, table: SourceTable, *, alone: bool) -> None:
    """Our columns, the key and statistics for a landing table bulk loaded without them, in one transaction.

    The key is built with enough memory to sort in one pass. While other ranges are still being
    copied (`alone` false) it is built by this backend only: parallel build workers would take the
    cores the copies need and add a merge of their own.
    """
    with conn.transaction():
        conn.execute(sql.SQL("set local maintenance_work_mem = {}").format(sql.Literal(f"{_index_memory(conn)}kB")))
        if not alone:
            conn.execute("set local max_parallel_maintenance_workers = 0")
        add_sync_columns(conn, landing_schema, table)
        add_primary_key(conn, landing_schema, table)
        conn.execute(sql.SQL("analyze {}").format(postgres.qualified(landing_schema, table.name)))


def _index_memory(conn: psycopg.Connection) -> int:
    """maintenance_work_mem for a key build: at least 1 GB, never less than the server's own setting."""
    (current,) = conn.execute("select setting::bigint from pg_settings where name = 'maintenance_work_mem'").fetchone()
    return max(int(current), INDEX_MEMORY_KB)
