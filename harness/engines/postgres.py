"""What the harness asks of a PostgreSQL catalog, with identifiers always quoted, and the names it
generates for objects of its own (always within PostgreSQL's 63 bytes, always unique)."""
from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as format_type prints it, e.g. "character varying(25)"
    not_null: bool


def table_exists(conn: psycopg.Connection, schema: str, table: str, kinds: tuple[str, ...] = ("r", "p")) -> bool:
    """Whether the relation exists; `kinds` are pg_class relkinds (tables by default, ('v', 'm') for views)."""
    row = conn.execute(
        "select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s and c.relkind = any(%s)",
        (schema, table, list(kinds)),
    ).fetchone()
    return row is not None


def columns(conn: psycopg.Connection, schema: str, table: str) -> list[Column]:
    rows = conn.execute(
        """
        select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped
        order by a.attnum
        """,
        (schema, table),
    ).fetchall()
    return [Column(name, type_, not_null) for name, type_, not_null in rows]


def primary_key(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    rows = conn.execute(
        """
        select a.attname
        from pg_index i
        join pg_class c on c.oid = i.indrelid
        join pg_namespace n on n.oid = c.relnamespace
        cross join lateral unnest(i.indkey) with ordinality as k(attnum, position)
        join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
        where n.nspname = %s and c.relname = %s and i.indisprimary
        order by k.position
        """,
        (schema, table),
    ).fetchall()
    return [name for (name,) in rows]


def qualified(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


# NAMEDATALEN - 1: PostgreSQL cuts longer names silently, so two long names can become one.
MAX_IDENTIFIER_BYTES = 63
# Characters no real schema uses in a name; refused in migration.yml rather than quoted.
REFUSED_CHARACTERS = "\"';\\`"


def generated_name(readable: str, *made_for: str) -> str:
    """A name for an object the harness creates: `readable` cut to fit, then `_` and a short hash of
    the full names it is made for (e.g. schema and table), so that it is unique and within 63 bytes
    however long and alike those names are."""
    digest = hashlib.sha256("\0".join(made_for).encode()).hexdigest()[:12]
    head = readable.encode()[: MAX_IDENTIFIER_BYTES - len(digest) - 1].decode(errors="ignore")
    return f"{head}_{digest}"


def fitting_name(readable: str, *made_for: str) -> str:
    """`readable` where PostgreSQL holds it whole, else a generated_name: objects named before keep their names."""
    return readable if len(readable.encode()) <= MAX_IDENTIFIER_BYTES else generated_name(readable, *made_for)


def identifier_problem(name: str) -> str | None:
    """Why PostgreSQL cannot hold `name` as written (too long, or characters no schema uses), or None."""
    size = len(name.encode())
    if size > MAX_IDENTIFIER_BYTES:
        return f"is {size} bytes, more than the {MAX_IDENTIFIER_BYTES} bytes a PostgreSQL name holds"
    if not name or any(c in REFUSED_CHARACTERS or unicodedata.category(c) == "Cc" for c in name):
        return "is empty or has characters no schema name uses (quotes, semicolons, backslashes, control characters)"
    return None


def column_list(names: list[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)


@dataclass(frozen=True)
class TypedColumn:
    """A column with what a value normaliser needs: the type behind domains, its kind and category."""

    name: str
    type: str  # format_type of the column, e.g. "numeric(12,2)" or a domain's name
    base: str  # pg_type.typname of the type, or of a domain's base type: "int4", "numeric", "timestamptz", "_text"
    kind: str  # pg_type.typtype of that type: b base, e enum, c composite, r range, m multirange, p pseudo
    category: str  # pg_type.typcategory: N numeric, S string, D date/time, A array, U user-defined, ...
    not_null: bool


def typed_columns(conn: psycopg.Connection, schema: str, table: str) -> list[TypedColumn]:
    rows = conn.execute(
        """
        select a.attname, format_type(a.atttypid, a.atttypmod), b.typname, b.typtype, b.typcategory, a.attnotnull
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        join pg_type t on t.oid = a.atttypid
        join pg_type b on b.oid = case when t.typtype = 'd' then t.typbasetype else t.oid end
        where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped
        order by a.attnum
        """,
        (schema, table),
    ).fetchall()
    return [TypedColumn(*row) for row in rows]


@dataclass(frozen=True)
class ColumnFill:
    """What rows written before a column was added hold in it: nothing (no default), the value
    PostgreSQL stored when the column was added with a non-volatile default (`missing`, as array
    text, e.g. '{t}'), or unknown: a volatile default, or a default set after the add."""

    has_default: bool
    missing: str | None

    @property
    def known(self) -> bool:
        return not self.has_default or self.missing is not None


def column_fills(conn: psycopg.Connection, schema: str, table: str) -> dict[str, ColumnFill]:
    rows = conn.execute(
        """
        select a.attname, a.atthasdef, case when a.atthasmissing then a.attmissingval::text end
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped
        """,
        (schema, table),
    ).fetchall()
    return {name: ColumnFill(has_default, missing) for name, has_default, missing in rows}


def dependent_views(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    """The views (and materialized views) built on a table, directly or through other views."""
    rows = conn.execute(
        """
        with recursive deps(oid) as (
            select r.ev_class from pg_depend d join pg_rewrite r on r.oid = d.objid
            where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
              and d.refobjid = (select c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace
                                where n.nspname = %s and c.relname = %s)
              and r.ev_class <> d.refobjid
            union
            select r.ev_class from deps join pg_depend d on d.refobjid = deps.oid
            join pg_rewrite r on r.oid = d.objid
            where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass and r.ev_class <> deps.oid
        )
        select format('%%I.%%I', n.nspname, c.relname) from deps
        join pg_class c on c.oid = deps.oid join pg_namespace n on n.oid = c.relnamespace
        order by 1
        """,
        (schema, table),
    ).fetchall()
    return [name for (name,) in rows]
