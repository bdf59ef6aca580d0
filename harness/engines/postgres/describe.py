"""A PostgreSQL schema described for `migrate init`: every table with its columns, keys, declared
constraints, size and write rate (base.CatalogTable), and sampled text values."""

from __future__ import annotations

import psycopg
from psycopg import sql

from harness.engines.base import CatalogColumn, CatalogForeignKey, CatalogTable
from harness.engines.postgres.catalog import qualified

_TABLES = """
select c.oid, c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid),
       s.n_tup_ins + s.n_tup_upd + s.n_tup_del,
       extract(epoch from now() - greatest(coalesce(d.stats_reset, pg_postmaster_start_time()),
                                           pg_postmaster_start_time()))
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join pg_stat_all_tables s on s.relid = c.oid
left join pg_stat_database d on d.datname = current_database()
where n.nspname = %s and c.relkind in ('r', 'p') and not c.relispartition
order by c.relname
"""

_COLUMNS = """
select a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       coalesce(bt.typcategory, t.typcategory) = 'S',
       case when coalesce(bt.typname, t.typname) in ('varchar', 'bpchar') and a.atttypmod > 4
            then a.atttypmod - 4 end
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_type t on t.oid = a.atttypid
left join pg_type bt on bt.oid = t.typbasetype and t.typtype = 'd'
where n.nspname = %s and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
order by a.attrelid, a.attnum
"""

_CONSTRAINTS = """
select con.conrelid, con.contype, con.conname,
       array(select a.attname from unnest(con.conkey) with ordinality k(attnum, pos)
             join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum order by k.pos),
       rc.relname, rn.nspname,
       array(select a.attname from unnest(con.confkey) with ordinality k(attnum, pos)
             join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum order by k.pos),
       case when con.contype = 'c' then pg_get_expr(con.conbin, con.conrelid) end
from pg_constraint con
join pg_class c on c.oid = con.conrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_class rc on rc.oid = con.confrelid
left join pg_namespace rn on rn.oid = rc.relnamespace
where n.nspname = %s and con.contype in ('p', 'u', 'f', 'c') and c.relkind in ('r', 'p')
order by con.conrelid, con.contype, con.conname
"""

# Unique indexes that are no constraint (valid, not partial, on plain columns).
_UNIQUE_INDEXES = """
select i.indrelid,
       array(select a.attname from unnest(i.indkey) with ordinality k(attnum, pos)
             join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum order by k.pos)
from pg_index i
join pg_class c on c.oid = i.indrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %s and i.indisunique and i.indisvalid and i.indpred is null
  and not (0 = any(i.indkey::int2[]))
  and not exists (select 1 from pg_constraint con where con.conindid = i.indexrelid)
order by i.indrelid, i.indexrelid
"""


def schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute("select 1 from pg_namespace where nspname = %s", (schema,)).fetchone() is not None


def describe_tables(conn: psycopg.Connection, schema: str) -> list[CatalogTable]:
    columns: dict[int, list[CatalogColumn]] = {}
    for oid, name, type_, not_null, is_text, length in conn.execute(_COLUMNS, (schema,)):
        columns.setdefault(oid, []).append(CatalogColumn(name, type_, not_null, is_text, length))
    keys: dict[int, tuple[str, ...]] = {}
    uniques: dict[int, list[tuple[str, ...]]] = {}
    foreign: dict[int, list[CatalogForeignKey]] = {}
    checks: dict[int, list[tuple[str, str]]] = {}
    for oid, kind, name, cols, parent, parent_schema, parent_cols, check in conn.execute(_CONSTRAINTS, (schema,)):
        if kind == "p":
            keys[oid] = tuple(cols)
        elif kind == "u":
            uniques.setdefault(oid, []).append(tuple(cols))
        elif kind == "f" and parent_schema == schema:
            foreign.setdefault(oid, []).append(CatalogForeignKey(tuple(cols), parent, tuple(parent_cols), name))
        elif kind == "c" and check:
            checks.setdefault(oid, []).append((name, check))
    for oid, cols in conn.execute(_UNIQUE_INDEXES, (schema,)):
        if tuple(cols) not in uniques.get(oid, []):
            uniques.setdefault(oid, []).append(tuple(cols))
    tables = []
    for oid, name, rows, size, writes, seconds in conn.execute(_TABLES, (schema,)).fetchall():
        rate = float(writes) / float(seconds) if writes is not None and seconds else None
        tables.append(
            CatalogTable(
                name,
                tuple(columns.get(oid, [])),
                keys.get(oid, ()),
                tuple(uniques.get(oid, [])),
                tuple(foreign.get(oid, [])),
                tuple(checks.get(oid, [])),
                int(rows),
                int(size),
                rate,
            )
        )
    return tables


def sample_text(conn: psycopg.Connection, schema: str, table: str, columns: list[str], rows: int) -> dict[str, list]:
    """Up to `rows` rows read at random (TABLESAMPLE would skip a small table's only page), each
    column's non-null values as text."""
    if not columns:
        return {}
    query = sql.SQL("select {} from {} order by random() limit {}").format(
        sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns),
        qualified(schema, table),
        sql.Literal(rows),
    )
    values: dict[str, list] = {c: [] for c in columns}
    for row in conn.execute(query):
        for column, value in zip(columns, row):
            if value is not None:
                values[column].append(value)
    return values


def reference_share(
    conn: psycopg.Connection, schema: str, child: str, column: str, parent: str, key: str, rows: int
) -> tuple[int, int]:
    """Of up to `rows` non-null values of child.column read at random, how many parent.key holds:
    (checked, found)."""
    checked, found = conn.execute(
        sql.SQL(
            "select count(*), count(*) filter (where exists (select from {p} p where p.{k}::text = v.value)) "
            "from (select {c}::text as value from {t} where {c} is not null order by random() limit {n}) v"
        ).format(
            p=qualified(schema, parent),
            k=sql.Identifier(key),
            c=sql.Identifier(column),
            t=qualified(schema, child),
            n=sql.Literal(rows),
        )
    ).fetchone()
    return int(checked), int(found)


# The database's own types (enum, composite, domain, range) by the name format_type gives their columns.
_OWN_TYPES = """
select format_type(t.oid, null), t.typtype,
       case t.typtype
           when 'e' then array(select e.enumlabel::text from pg_enum e
                               where e.enumtypid = t.oid order by e.enumsortorder)
           when 'c' then array(select format_type(a.atttypid, a.atttypmod) from pg_attribute a
                               where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped order by a.attnum)
           when 'd' then array[format_type(t.typbasetype, t.typtypmod)]
           when 'r' then array(select format_type(r.rngsubtype, null) from pg_range r where r.rngtypid = t.oid)
       end
from pg_type t
join pg_namespace n on n.oid = t.typnamespace
where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
  and t.typtype in ('e', 'c', 'd', 'r')
  and not (t.typtype = 'c' and exists (select from pg_class c where c.oid = t.typrelid and c.relkind <> 'c'))
"""


def own_type_shapes(conn: psycopg.Connection) -> dict[str, tuple[str, list[str]]]:
    """Each own type by its printed name: (pg_type.typtype, its enum labels, composite attribute types,
    domain base type or range subtype)."""
    return {name: (kind, list(parts)) for name, kind, parts in conn.execute(_OWN_TYPES)}
