"""What the harness asks of a PostgreSQL catalog, with identifiers always quoted, and the names it
generates for objects of its own (always within PostgreSQL's 63 bytes, always unique)."""

from __future__ import annotations

import dataclasses
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
    collation: tuple[str, str] | None = None  # (schema, name) where not its type's default, e.g. ("pg_catalog", "C")


def estimated_rows(conn: psycopg.Connection, schema: str, table: str) -> int:
    """The planner's row estimate (-1 for a table never analysed or vacuumed)."""
    (rows,) = conn.execute(
        "select reltuples::bigint from pg_class where oid = %s::regclass", (qualified(schema, table).as_string(conn),)
    ).fetchone()
    return rows


def count_rows(conn: psycopg.Connection, schema: str, table: str) -> int:
    """The table's rows, counted."""
    (rows,) = conn.execute(sql.SQL("select count(*) from {}").format(qualified(schema, table))).fetchone()
    return rows


def constraint_counts(conn: psycopg.Connection, schema: str, table: str) -> tuple[dict[str, int], int]:
    """The table's constraints by pg_constraint.contype (p, u, f, c, x), and its NOT NULL columns."""
    rows = conn.execute(
        "select con.contype, count(*) from pg_constraint con join pg_class c on c.oid = con.conrelid "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s and c.relname = %s group by con.contype",
        (schema, table),
    ).fetchall()
    (not_null,) = conn.execute(
        "select count(*) from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n "
        "on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped and a.attnotnull",
        (schema, table),
    ).fetchone()
    return dict(rows), not_null


def triggers_named(conn: psycopg.Connection, schema: str, names: list[str]) -> list[tuple[str, str]]:
    """The schema's triggers of these names, as (table, trigger), by table: which tables carry them."""
    return conn.execute(
        "select c.relname, t.tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s and t.tgname = any(%s) order by 1, 2",
        (schema, names),
    ).fetchall()


def tables_with_trigger(conn: psycopg.Connection, schema: str, trigger: str) -> list[str]:
    """The schema's tables that carry a trigger of this name, by name."""
    return [table for table, _ in triggers_named(conn, schema, [trigger])]


def table_exists(conn: psycopg.Connection, schema: str, table: str, kinds: tuple[str, ...] = ("r", "p")) -> bool:
    """Whether the relation exists; `kinds` are pg_class relkinds (tables by default, ('v', 'm') for views)."""
    row = conn.execute(
        "select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s and c.relkind = any(%s)",
        (schema, table, list(kinds)),
    ).fetchone()
    return row is not None


def attributes(conn: psycopg.Connection, schema: str, table: str, select: str, joins: str = "") -> list[tuple]:
    """One row per column of the table, in order: `select` over pg_attribute `a` (pg_class `c`,
    pg_namespace `n`, pg_type `t` of the column's type, and `joins`). The one column query of the
    engine: the lifecycle's columns, the checksums' typed columns and the assessment's detail."""
    return conn.execute(
        sql.SQL(
            "select {select} from pg_attribute a join pg_class c on c.oid = a.attrelid "
            "join pg_namespace n on n.oid = c.relnamespace join pg_type t on t.oid = a.atttypid {joins} "
            "where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped order by a.attnum"
        ).format(select=sql.SQL(select), joins=sql.SQL(joins)),
        (schema, table),
    ).fetchall()


def columns(conn: psycopg.Connection, schema: str, table: str) -> list[Column]:
    rows = attributes(
        conn,
        schema,
        table,
        "a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, cn.nspname, co.collname",
        "left join pg_collation co on co.oid = a.attcollation and a.attcollation <> t.typcollation "
        "left join pg_namespace cn on cn.oid = co.collnamespace",
    )
    return [
        Column(name, type_, not_null, (collation_schema, collation) if collation else None)
        for name, type_, not_null, collation_schema, collation in rows
    ]


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


def columns_and_keys(
    conn: psycopg.Connection, schema: str, tables: list[str]
) -> dict[str, tuple[list[Column], list[str]]]:
    """(columns, primary key) of each of these tables that exists, as `columns` and `primary_key`
    give them, in one query per kind however many tables: a sync batch describes every listed table."""
    found = {
        name
        for (name,) in conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relname = any(%s) and c.relkind in ('r', 'p')",
            (schema, tables),
        )
    }
    described: dict[str, tuple[list[Column], list[str]]] = {name: ([], []) for name in found}
    for table, name, type_, not_null, collation_schema, collation in conn.execute(
        "select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, cn.nspname, co.collname "
        "from pg_attribute a join pg_class c on c.oid = a.attrelid "
        "join pg_namespace n on n.oid = c.relnamespace join pg_type t on t.oid = a.atttypid "
        "left join pg_collation co on co.oid = a.attcollation and a.attcollation <> t.typcollation "
        "left join pg_namespace cn on cn.oid = co.collnamespace "
        "where n.nspname = %s and c.relname = any(%s) and a.attnum > 0 and not a.attisdropped "
        "order by c.relname, a.attnum",
        (schema, list(found)),
    ):
        described[table][0].append(Column(name, type_, not_null, (collation_schema, collation) if collation else None))
    for table, name in conn.execute(
        """
        select c.relname, a.attname
        from pg_index i
        join pg_class c on c.oid = i.indrelid
        join pg_namespace n on n.oid = c.relnamespace
        cross join lateral unnest(i.indkey) with ordinality as k(attnum, position)
        join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
        where n.nspname = %s and c.relname = any(%s) and i.indisprimary
        order by c.relname, k.position
        """,
        (schema, list(found)),
    ):
        described[table][1].append(name)
    return {name: described[name] for name in tables if name in described}


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
    rows = attributes(
        conn,
        schema,
        table,
        "a.attname, format_type(a.atttypid, a.atttypmod), b.typname, b.typtype, b.typcategory, a.attnotnull",
        "join pg_type b on b.oid = case when t.typtype = 'd' then t.typbasetype else t.oid end",
    )
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


# --- encodings, locales and collations ----------------------------------------------------------

CATALOG_SCHEMA = "pg_catalog"  # where the server's own collations are: "C", "POSIX", "und-x-icu", "en_US.utf8"
LOCALE_PROVIDERS = {"c": "libc", "i": "icu", "b": "builtin"}


@dataclass(frozen=True)
class DatabaseOptions:
    """A database's encoding and locale, named as CREATE DATABASE names them; None: not set (the template's)."""

    encoding: str | None = None
    lc_collate: str | None = None
    lc_ctype: str | None = None
    locale_provider: str | None = None  # libc, icu (PostgreSQL 15+), builtin (17+)
    icu_locale: str | None = None
    icu_rules: str | None = None  # PostgreSQL 16+
    builtin_locale: str | None = None  # PostgreSQL 17+

    def overridden_by(self, chosen: DatabaseOptions) -> DatabaseOptions:
        """These options with those set in `chosen` instead; another provider drops this one's locale."""
        merged = {
            f.name: getattr(self, f.name) if getattr(chosen, f.name) is None else getattr(chosen, f.name)
            for f in dataclasses.fields(self)
        }
        if chosen.locale_provider not in (None, self.locale_provider):
            for name in ("icu_locale", "icu_rules", "builtin_locale"):
                merged[name] = getattr(chosen, name)
        return DatabaseOptions(**merged)

    def describe(self) -> str:
        return ", ".join(
            f"{f.name} {getattr(self, f.name)}" for f in dataclasses.fields(self) if getattr(self, f.name) is not None
        )


def database_options(conn: psycopg.Connection) -> DatabaseOptions:
    """The connected database's encoding and locale. Read as JSON: the columns differ between versions
    (no provider before 15, daticulocale in 15 and 16, datlocale from 17)."""
    encoding, row = conn.execute(
        "select pg_encoding_to_char(d.encoding), to_jsonb(d) from pg_database d where d.datname = current_database()"
    ).fetchone()
    provider = LOCALE_PROVIDERS.get(row.get("datlocprovider", "c"), row.get("datlocprovider"))
    locale = row.get("datlocale", row.get("daticulocale"))
    return DatabaseOptions(
        encoding,
        row["datcollate"],
        row["datctype"],
        provider,
        icu_locale=locale if provider == "icu" else None,
        icu_rules=row.get("daticurules"),
        builtin_locale=locale if provider == "builtin" else None,
    )


def create_database_sql(name: str, options: DatabaseOptions, server_version: int) -> sql.Composed:
    """CREATE DATABASE with these options, from template0 (the only template whose encoding and locale
    may be changed). A server before 15 has libc alone and no LOCALE_PROVIDER option."""
    chosen = [
        (f.name, getattr(options, f.name)) for f in dataclasses.fields(options) if getattr(options, f.name) is not None
    ]
    if server_version < 150000:
        chosen = [(option, value) for option, value in chosen if (option, value) != ("locale_provider", "libc")]
    if not chosen:
        return sql.SQL("create database {}").format(sql.Identifier(name))
    return sql.SQL("create database {} template template0 {}").format(
        sql.Identifier(name),
        sql.SQL(" ").join(sql.SQL("{} {}").format(sql.SQL(option), sql.Literal(value)) for option, value in chosen),
    )


@dataclass(frozen=True)
class CollationDefinition:
    """What CREATE COLLATION needs to make a collation again elsewhere."""

    provider: str  # libc, icu or builtin
    lc_collate: str | None
    lc_ctype: str | None
    locale: str | None  # icu and builtin
    deterministic: bool
    rules: str | None  # icu, PostgreSQL 16+


def collation_definition(conn: psycopg.Connection, schema: str, name: str) -> CollationDefinition | None:
    """A collation's definition, None when the database has none of that name. Read as JSON: the
    columns differ between versions (colliculocale in 15 and 16, collocale from 17)."""
    found = conn.execute(
        "select to_jsonb(c) from pg_collation c join pg_namespace n on n.oid = c.collnamespace "
        "where n.nspname = %s and c.collname = %s "
        "and c.collencoding in (-1, pg_char_to_encoding(current_setting('server_encoding')))",
        (schema, name),
    ).fetchone()
    if found is None:
        return None
    row = found[0]
    provider = LOCALE_PROVIDERS.get(row["collprovider"], row["collprovider"])
    locale = row.get("collocale", row.get("colliculocale"))
    if provider == "icu" and locale is None:  # before 15 an ICU collation kept its locale in collcollate
        locale = row["collcollate"]
    libc = provider == "libc"
    return CollationDefinition(
        provider,
        row["collcollate"] if libc else None,
        row["collctype"] if libc else None,
        None if libc else locale,
        row["collisdeterministic"],
        row.get("collicurules"),
    )


def create_collation(conn: psycopg.Connection, schema: str, name: str, definition: CollationDefinition) -> None:
    options = [
        ("provider", definition.provider),
        ("lc_collate", definition.lc_collate),
        ("lc_ctype", definition.lc_ctype),
        ("locale", definition.locale),
        ("rules", definition.rules),
    ]
    parts = [
        sql.SQL("{} = {}").format(sql.SQL(option), sql.Literal(value)) for option, value in options if value is not None
    ]
    parts.append(sql.SQL("deterministic = {}").format(sql.Literal(definition.deterministic)))
    conn.execute(
        sql.SQL("create collation {}.{} ({})").format(
            sql.Identifier(schema), sql.Identifier(name), sql.SQL(", ").join(parts)
        )
    )


# The types of the source's own a table's columns use, each after the types it is made of: its
# columns' types, their array element types, domains' base types, composites' attributes, ranges'
# subtypes, followed down (depth first); the server's own (pg_catalog, information_schema) left out.
_OWN_TYPES = """
with recursive used(oid, depth) as (
    select a.atttypid, 0 from pg_attribute a
    where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped
    union all
    select next.oid, used.depth + 1
    from used
    join pg_type t on t.oid = used.oid
    cross join lateral (
        select t.typelem where t.typelem <> 0 and t.typcategory = 'A'
        union all select t.typbasetype where t.typtype = 'd'
        union all select r.rngsubtype from pg_range r where r.rngtypid = t.oid and t.typtype = 'r'
        union all select r.rngtypid from pg_range r where r.rngmultitypid = t.oid and t.typtype = 'm'
        union all
        select ca.atttypid from pg_attribute ca
        where t.typtype = 'c' and ca.attrelid = t.typrelid and ca.attnum > 0 and not ca.attisdropped
    ) as next(oid)
    where used.depth < 32
)
select n.nspname, t.typname, t.typtype, t.oid, max(used.depth) as depth
from used
join pg_type t on t.oid = used.oid
join pg_namespace n on n.oid = t.typnamespace
where n.nspname not in ('pg_catalog', 'information_schema') and t.typtype in ('e', 'c', 'd', 'r')
    and not (t.typtype = 'c' and exists (select from pg_class c where c.oid = t.typrelid and c.relkind <> 'c'))
group by n.nspname, t.typname, t.typtype, t.oid
order by max(used.depth) desc, n.nspname, t.typname
"""


def own_types(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str, str]]:
    """(schema, name, CREATE statement) of each enum, composite, domain and range type of the
    database's own that the table's columns use, each after the types it is made of."""
    relation = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table)).as_string(conn)
    result = []
    for type_schema, name, kind, oid, _ in conn.execute(_OWN_TYPES, (relation,)).fetchall():
        qualified_name = sql.SQL("{}.{}").format(sql.Identifier(type_schema), sql.Identifier(name)).as_string(conn)
        if kind == "e":
            labels = [
                sql.Literal(label).as_string(conn)
                for (label,) in conn.execute(
                    "select enumlabel from pg_enum where enumtypid = %s order by enumsortorder", (oid,)
                ).fetchall()
            ]
            statement = f"create type {qualified_name} as enum ({', '.join(labels)})"
        elif kind == "c":
            attributes = conn.execute(
                "select quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod) || "
                "case when a.attcollation <> t.typcollation and a.attcollation <> 0 "
                "then ' collate ' || a.attcollation::regcollation::text else '' end "
                "from pg_type ct join pg_attribute a on a.attrelid = ct.typrelid join pg_type t on t.oid = a.atttypid "
                "where ct.oid = %s and a.attnum > 0 and not a.attisdropped order by a.attnum",
                (oid,),
            ).fetchall()
            statement = f"create type {qualified_name} as ({', '.join(a for (a,) in attributes)})"
        elif kind == "d":
            (base, default, not_null, collation) = conn.execute(
                "select format_type(t.typbasetype, t.typtypmod), t.typdefault, t.typnotnull, "
                "case when t.typcollation <> b.typcollation and t.typcollation <> 0 "
                "then t.typcollation::regcollation::text end "
                "from pg_type t join pg_type b on b.oid = t.typbasetype where t.oid = %s",
                (oid,),
            ).fetchone()
            checks = [
                f"constraint {sql.Identifier(name_).as_string(conn)} {definition}"
                for name_, definition in conn.execute(
                    "select conname, pg_get_constraintdef(oid) from pg_constraint "
                    "where contypid = %s and contype = 'c' order by conname",
                    (oid,),
                ).fetchall()
            ]
            parts = [f"create domain {qualified_name} as {base}"]
            parts += [f"collate {collation}"] if collation else []
            parts += [f"default {default}"] if default is not None else []
            parts += ["not null"] if not_null else []
            statement = " ".join(parts + checks)
        else:
            (subtype,) = conn.execute(
                "select format_type(rngsubtype, null) from pg_range where rngtypid = %s", (oid,)
            ).fetchone()
            statement = f"create type {qualified_name} as range (subtype = {subtype})"
        result.append((type_schema, name, statement))
    return result


def type_exists(conn: psycopg.Connection, schema: str, name: str) -> bool:
    return (
        conn.execute(
            "select from pg_type t join pg_namespace n on n.oid = t.typnamespace "
            "where n.nspname = %s and t.typname = %s",
            (schema, name),
        ).fetchone()
        is not None
    )
