"""What `migrate assess` asks of a PostgreSQL source: catalog detail, sizes, privileges, settings,
and the profiling and timing queries, each run inside the database over a table or its sample.

Identifiers are always quoted through psycopg.sql, and the source is only read. (The timed copy
of load ranges into the target is load's own code, driven by assess.py.)
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from harness.engines.postgres import DatabaseOptions, database_options, qualified
from harness.engines.postgres.catalog import attributes
from harness.profiling import BLANK, CARD_SEPARATORS, CURRENCY_SIGNS, OTHER, PATTERN_CLASSES, SamplePlan

# Neutral names for the assessment's type hints and error handling, so it need not import psycopg.
Connection = psycopg.Connection
DatabaseError = psycopg.Error

# --- catalog ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerInfo:
    version: str
    version_num: int
    database: str
    user: str
    superuser: bool
    replication: bool
    settings: dict[str, str]

    @property
    def has_input_validation(self) -> bool:
        """pg_input_is_valid (PostgreSQL 16) lets a trial cast count failures without failing."""
        return self.version_num >= 160000

    def limitations(self) -> list[str]:
        """What this server's version keeps the assessment from measuring, as notes for the report."""
        if self.has_input_validation:
            return []
        return [
            f"PostgreSQL {self.version} has no pg_input_is_valid (16+): "
            "trial casts to the target types were not counted"
        ]


SETTINGS = (
    "wal_level",
    "max_replication_slots",
    "max_wal_senders",
    "TimeZone",
    "DateStyle",
    "server_encoding",
    "track_commit_timestamp",
    "default_transaction_read_only",
)


def server_info(conn: psycopg.Connection) -> ServerInfo:
    version, version_num, database, user = conn.execute(
        "select current_setting('server_version'), current_setting('server_version_num')::int, "
        "current_database(), current_user"
    ).fetchone()
    superuser, replication = conn.execute(
        "select rolsuper, rolreplication from pg_roles where rolname = current_user"
    ).fetchone()
    rows = conn.execute("select name, setting from pg_settings where name = any(%s)", (list(SETTINGS),)).fetchall()
    return ServerInfo(version, version_num, database, user, superuser, replication, dict(rows))


# ASCII only, so that every encoding holds them: case, punctuation, blanks and digits, which
# collations order differently ("C" by bytes: 10 9 B Z _x a; ICU's English: _x 10 9 a B Z).
SORT_SAMPLE = ("a", "B", "b", "Z", "_x", "10", "9", "a b", "ab", "-1")


@dataclass(frozen=True)
class DatabaseLocale:
    """A database's server version, encoding and default locale, and how it sorts a few words."""

    version: str
    major: int
    options: DatabaseOptions
    sort_order: tuple[str, ...]  # SORT_SAMPLE under the database's default collation


def database_locale(conn: psycopg.Connection) -> DatabaseLocale:
    version, version_num = conn.execute(
        "select current_setting('server_version'), current_setting('server_version_num')::int"
    ).fetchone()
    (order,) = conn.execute("select array_agg(w order by w) from unnest(%s::text[]) w", (list(SORT_SAMPLE),)).fetchone()
    return DatabaseLocale(version, version_num // 10000, database_options(conn), tuple(order))


def schema_privileges(conn: psycopg.Connection, schema: str, capture_schema: str) -> dict[str, bool]:
    """USAGE and CREATE on the source schema, CREATE on the database, and CREATE on the capture
    schema when it already exists (then CREATE on the database is not needed)."""

    def on_schema(name: str) -> tuple[bool, bool, bool]:
        if conn.execute("select 1 from pg_namespace where nspname = %s", (name,)).fetchone() is None:
            return False, False, False
        usage, create = conn.execute(
            "select has_schema_privilege(%s, 'USAGE'), has_schema_privilege(%s, 'CREATE')", (name, name)
        ).fetchone()
        return True, usage, create

    exists, usage, create = on_schema(schema)
    capture_exists, _, capture_create = on_schema(capture_schema)
    (database_create,) = conn.execute("select has_database_privilege(current_database(), 'CREATE')").fetchone()
    return {
        "schema_exists": exists,
        "schema_usage": usage,
        "schema_create": create,
        "database_create": database_create,
        "capture_schema_exists": capture_exists,
        "capture_schema_create": capture_create,
    }


@dataclass(frozen=True)
class TableInfo:
    oid: int
    kind: str  # "table" or "partitioned table"
    estimated_rows: int  # pg_class.reltuples; -1 when never analysed
    heap_bytes: int
    toast_bytes: int
    index_bytes: int
    replica_identity: str
    can_select: bool
    can_trigger: bool
    owner: str

    @property
    def total_bytes(self) -> int:
        return self.heap_bytes + self.toast_bytes + self.index_bytes


REPLICA_IDENTITY = {"d": "default (primary key)", "n": "nothing", "f": "full", "i": "index"}


def table_info(conn: psycopg.Connection, schema: str, table: str) -> TableInfo | None:
    row = conn.execute(
        """
        select c.oid, c.relkind, c.reltuples::bigint,
               pg_relation_size(c.oid),
               coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0),
               pg_indexes_size(c.oid),
               c.relreplident,
               has_table_privilege(c.oid, 'SELECT'), has_table_privilege(c.oid, 'TRIGGER'),
               pg_get_userbyid(c.relowner)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %s and c.relname = %s and c.relkind in ('r', 'p')
        """,
        (schema, table),
    ).fetchone()
    if row is None:
        return None
    oid, kind, reltuples, heap, toast, index, ident, select, trigger, owner = row
    return TableInfo(
        oid,
        "partitioned table" if kind == "p" else "table",
        reltuples,
        heap,
        toast,
        index,
        REPLICA_IDENTITY.get(ident, ident),
        select,
        trigger,
        owner,
    )


def similar_table_names(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    """Tables of the schema whose name matches ignoring case: the usual cause of an unknown table."""
    rows = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relkind in ('r', 'p') and lower(c.relname) = lower(%s) order by 1",
        (schema, table),
    ).fetchall()
    return [name for (name,) in rows]


@dataclass(frozen=True)
class ColumnInfo:
    position: int
    name: str
    type: str  # format_type, e.g. "character varying(25)"
    base_type: str  # pg_type.typname of the column's type, e.g. "varchar", "float8", "_int4"
    category: str  # pg_type.typcategory: S string, N numeric, D date/time, B boolean, U user, A array, E enum ...
    type_kind: str  # pg_type.typtype: b base, e enum, d domain, c composite, r range, m multirange
    type_schema: str
    not_null: bool
    sortable: bool  # has a default btree operator class: min/max and count(distinct) work
    generated: bool
    default: str | None

    @property
    def is_text(self) -> bool:
        return self.category == "S"

    @property
    def is_float(self) -> bool:
        return self.base_type in ("float4", "float8")

    @property
    def is_numeric(self) -> bool:
        return self.category == "N"

    @property
    def is_timestamp_without_zone(self) -> bool:
        return self.base_type == "timestamp"

    @property
    def is_date_like(self) -> bool:
        return self.base_type in ("date", "timestamp", "timestamptz")

    @property
    def is_money(self) -> bool:
        return self.base_type == "money"

    @property
    def is_user_defined_type(self) -> bool:
        """A type not built into the server: it must exist in the target before load."""
        return self.type_schema != "pg_catalog"

    @property
    def is_system_type(self) -> bool:
        """A built-in type with no portable meaning (money is the server's locale's)."""
        return self.base_type in ("money", "oid", "xid", "tid", "cid", "char")


def column_info(conn: psycopg.Connection, schema: str, table: str) -> list[ColumnInfo]:
    rows = attributes(
        conn,
        schema,
        table,
        """
        a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), t.typname, t.typcategory,
        t.typtype, tn.nspname, a.attnotnull,
        exists (select 1 from pg_opclass o join pg_am am on am.oid = o.opcmethod
                where am.amname = 'btree' and o.opcdefault
                  and (o.opcintype in (a.atttypid, t.typbasetype)
                       or (o.opcintype = 'anyarray'::regtype and t.typcategory = 'A')
                       or (o.opcintype = 'anyenum'::regtype and t.typtype = 'e')
                       -- varchar sorts with text's operator class: a binary-coercible cast
                       or exists (select 1 from pg_cast pc where pc.castsource = a.atttypid
                                  and pc.casttarget = o.opcintype and pc.castmethod = 'b'))),
        a.attgenerated <> '', pg_get_expr(d.adbin, d.adrelid)
        """,
        """
        join pg_namespace tn on tn.oid = t.typnamespace
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        """,
    )
    return [ColumnInfo(*row) for row in rows]


def unique_keys(conn: psycopg.Connection, schema: str, table: str) -> list[dict]:
    """Primary key and unique indexes (valid, not partial, on plain columns), primary first."""
    rows = conn.execute(
        """
        select i.indexrelid::regclass::text, i.indisprimary,
               array(select a.attname from unnest(i.indkey) with ordinality k(attnum, pos)
                     join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
                     order by k.pos)
        from pg_index i
        join pg_class c on c.oid = i.indrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %s and c.relname = %s and i.indisunique and i.indisvalid
          and i.indpred is null and not (0 = any(i.indkey::int2[]))
        order by i.indisprimary desc, 1
        """,
        (schema, table),
    ).fetchall()
    return [{"name": name, "primary": primary, "columns": list(columns)} for name, primary, columns in rows]


def foreign_keys(conn: psycopg.Connection, schema: str, table: str) -> list[dict]:
    rows = conn.execute(
        """
        select con.conname, rn.nspname, rc.relname,
               array(select a.attname from unnest(con.conkey) with ordinality k(attnum, pos)
                     join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum order by k.pos),
               array(select a.attname from unnest(con.confkey) with ordinality k(attnum, pos)
                     join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum order by k.pos)
        from pg_constraint con
        join pg_class c on c.oid = con.conrelid
        join pg_namespace n on n.oid = c.relnamespace
        join pg_class rc on rc.oid = con.confrelid
        join pg_namespace rn on rn.oid = rc.relnamespace
        where con.contype = 'f' and n.nspname = %s and c.relname = %s
        order by 1
        """,
        (schema, table),
    ).fetchall()
    return [
        {
            "name": name,
            "columns": list(cols),
            "references_schema": rschema,
            "references_table": rtable,
            "references_columns": list(rcols),
        }
        for name, rschema, rtable, cols, rcols in rows
    ]


def indexes(conn: psycopg.Connection, schema: str, table: str) -> list[dict]:
    rows = conn.execute(
        """
        select ic.relname, pg_get_indexdef(i.indexrelid), i.indisunique, i.indisprimary, i.indisvalid,
               pg_relation_size(i.indexrelid)
        from pg_index i
        join pg_class ic on ic.oid = i.indexrelid
        join pg_class c on c.oid = i.indrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %s and c.relname = %s
        order by i.indisprimary desc, ic.relname
        """,
        (schema, table),
    ).fetchall()
    return [
        {"name": name, "definition": definition, "unique": unique, "primary": primary, "valid": valid, "bytes": size}
        for name, definition, unique, primary, valid, size in rows
    ]


TRIGGER_ENABLED = {"O": "enabled", "D": "disabled", "R": "replica only", "A": "always"}


def triggers(conn: psycopg.Connection, schema: str, table: str) -> list[dict]:
    rows = conn.execute(
        """
        select t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
        from pg_trigger t
        join pg_class c on c.oid = t.tgrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %s and c.relname = %s and not t.tgisinternal
        order by t.tgname
        """,
        (schema, table),
    ).fetchall()
    return [
        {"name": name, "definition": definition, "enabled": TRIGGER_ENABLED.get(state, state)}
        for name, definition, state in rows
    ]


def rules(conn: psycopg.Connection, schema: str, table: str) -> list[dict]:
    rows = conn.execute(
        "select rulename, definition from pg_rules where schemaname = %s and tablename = %s order by 1",
        (schema, table),
    ).fetchall()
    return [{"name": name, "definition": definition} for name, definition in rows]


def write_activity(conn: psycopg.Connection, oid: int) -> tuple[int, float]:
    """Rows inserted, updated and deleted since statistics were reset, and over how many seconds."""
    row = conn.execute(
        """
        select s.n_tup_ins + s.n_tup_upd + s.n_tup_del,
               extract(epoch from now() - greatest(coalesce(d.stats_reset, pg_postmaster_start_time()),
                                                   pg_postmaster_start_time()))
        from pg_stat_all_tables s, pg_stat_database d
        where s.relid = %s and d.datname = current_database()
        """,
        (oid,),
    ).fetchone()
    if row is None:
        return 0, 0.0
    return int(row[0] or 0), float(row[1] or 0.0)


def exact_count(conn: psycopg.Connection, schema: str, table: str) -> int:
    return conn.execute(sql.SQL("select count(*) from {}").format(qualified(schema, table))).fetchone()[0]


# --- profiling --------------------------------------------------------------------------------


def sampled_from(schema: str, table: str, plan: SamplePlan, seed: int, alias: str = "t") -> sql.Composed:
    """`<table> as t` or `<table> as t tablesample ... repeatable (seed)`: every query of one
    assessment draws the same rows, so the figures of one table agree with each other."""
    relation = sql.SQL("{} as {}").format(qualified(schema, table), sql.Identifier(alias))
    if not plan.sampled:
        return relation
    method = sql.SQL("system" if plan.method == "system" else "bernoulli")
    return sql.SQL("{} tablesample {} ({}) repeatable ({})").format(
        relation, method, sql.Literal(round(plan.percent, 6)), sql.Literal(seed)
    )


@dataclass(frozen=True)
class TargetType:
    """A target column's type, as far as the checks need it."""

    type: str  # as written, e.g. "varchar(200)" or "numeric(12,2)"
    base: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    trial_cast: bool = True  # try the raw value against the type (not when an expected_sql says how it is computed)


@dataclass
class ColumnChecks:
    """What the profile computes for one column."""

    column: ColumnInfo
    masked: bool = False  # masked in migration.yml: its values are never shown
    target: TargetType | None = None


def _ident(column: ColumnInfo) -> sql.Composable:
    return sql.SQL("t.{}").format(sql.Identifier(column.name))


def luhn_sql(digits: sql.Composable) -> sql.Composable:
    """Luhn checksum of a digit string, in SQL: from the right, every second digit doubled."""
    return sql.SQL(
        "(select sum(case when u.o % 2 = 0 then case when u.x::int >= 5 then u.x::int * 2 - 9 else u.x::int * 2 end"
        " else u.x::int end) % 10 = 0"
        " from unnest(string_to_array(reverse({d}), null)) with ordinality as u(x, o))"
    ).format(d=digits)


def class_sql(value: sql.Composable) -> sql.Composable:
    """The pattern class of a text value (profiling.classify, in SQL).

    The first arms only route values cheaply, so that most values meet one or two regexes
    instead of all of them: without a digit or an @ a value can only be "other"; with an @ only
    an e-mail; and every date, number and card class starts like a (formatted) number.
    """
    trimmed = sql.SQL("btrim({})").format(value)
    email = next(p for p in PATTERN_CLASSES if p.key == "email")
    arms = [
        sql.SQL("when {} is null then null").format(value),
        sql.SQL("when {} = '' then {}").format(trimmed, sql.Literal(BLANK)),
        sql.SQL("when {} !~ '[0-9@]' then {}").format(value, sql.Literal(OTHER)),
        sql.SQL("when strpos({v}, '@') > 0 then case when {t} ~ {re} then 'email' else {other} end").format(
            v=value, t=trimmed, re=sql.Literal(email.regex), other=sql.Literal(OTHER)
        ),
        sql.SQL("when {} !~ {} then {}").format(
            trimmed, sql.Literal(rf"^[{CURRENCY_SIGNS}]?\s?[+-]?[0-9]"), sql.Literal(OTHER)
        ),
    ]
    for pattern in PATTERN_CLASSES:
        if pattern.key == "email":
            continue
        if pattern.key == "card_number":
            digits = sql.SQL("regexp_replace({}, {}, '', 'g')").format(trimmed, sql.Literal(CARD_SEPARATORS))
            # Nested CASE: the Luhn sum casts characters to int, so it must only see digit strings.
            test = sql.SQL("case when {d} ~ {re} then {luhn} else false end").format(
                d=digits, re=sql.Literal(pattern.regex), luhn=luhn_sql(digits)
            )
        else:
            op = sql.SQL("~*" if pattern.ignore_case else "~")
            test = sql.SQL("{} {} {}").format(trimmed, op, sql.Literal(pattern.regex))
        arms.append(sql.SQL("when {} then {}").format(test, sql.Literal(pattern.key)))
    return sql.SQL("case {} else {} end").format(sql.SQL(" ").join(arms), sql.Literal(OTHER))


def _valid_date(y: sql.Composable, m: sql.Composable, d: sql.Composable) -> sql.Composable:
    """make_date(y, m, d) when that day exists, else NULL; nested CASEs so make_date never sees a bad month."""
    return sql.SQL(
        "case when {m} between 1 and 12 and {y} between 1 and 9999 then"
        " case when {d} between 1 and extract(day from make_date({y}, {m}, 1) + interval '1 month - 1 day')"
        " then make_date({y}, {m}, {d}) end end"
    ).format(y=y, m=m, d=d)


def parsed_date_sql(value: sql.Composable) -> sql.Composable:
    """The date a text value holds in one of the date classes, NULL otherwise and for impossible
    dates (2011-02-30). Plain arithmetic, so PostgreSQL 15 gets the same answer as 16."""
    t = sql.SQL("btrim({})").format(value)
    patterns = {p.key: p for p in PATTERN_CLASSES}

    def part(expression: str) -> sql.Composable:
        return sql.SQL("(" + expression + ")::int").format(t=t)

    iso = (part("substr({t}, 1, 4)"), part("substr({t}, 6, 2)"), part("substr({t}, 9, 2)"))
    arms = {
        "date_iso": iso,
        "datetime_iso": iso,
        "date_us": (part("split_part({t}, '/', 3)"), part("split_part({t}, '/', 1)"), part("split_part({t}, '/', 2)")),
        "date_compact": (part("substr({t}, 1, 4)"), part("substr({t}, 5, 2)"), part("substr({t}, 7, 2)")),
        # DD-MON-YY: two-digit years read as PostgreSQL does, 70-99 → 19xx, 00-69 → 20xx.
        "date_dmon": (
            sql.SQL(
                "(case when length(split_part({t}, '-', 3)) = 2 then case when split_part({t}, '-', 3)::int >= 70"
                " then 1900 else 2000 end else 0 end + split_part({t}, '-', 3)::int)"
            ).format(t=t),
            sql.SQL(
                "((position(upper(split_part({t}, '-', 2)) in 'JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC') + 2) / 3)"
            ).format(t=t),
            part("split_part({t}, '-', 1)"),
        ),
    }
    whens = []
    for key, (y, m, d) in arms.items():
        op = sql.SQL("~*" if patterns[key].ignore_case else "~")
        whens.append(
            sql.SQL("when {} {} {} then {}").format(t, op, sql.Literal(patterns[key].regex), _valid_date(y, m, d))
        )
    return sql.SQL("case {} end").format(sql.SQL(" ").join(whens))


def _finite(value: sql.Composable, column: ColumnInfo) -> sql.Composable:
    """A numeric expression that is NULL for NaN and ±Infinity, which numeric rounding rejects."""
    if column.is_float or column.base_type == "numeric":
        return sql.SQL("case when {v} in ('NaN', 'Infinity', '-Infinity') then null else {v}::numeric end").format(
            v=value
        )
    return sql.SQL("{}::numeric").format(value)


def profile_query(
    schema: str, table: str, plan: SamplePlan, seed: int, checks: list[ColumnChecks], server: ServerInfo
) -> sql.Composed:
    """One scan of the table (or its sample) computing every column's figures at once; the text
    columns' pattern classes and distinct counts come from `text_pattern_query`.

    Output columns are named `c<i>__<figure>` for the i-th check; see `split_profile_row`.
    """
    inner: list[sql.Composable] = []
    outer: list[sql.Composable] = [sql.SQL("count(*) as n")]

    def out(i: int, figure: str, expression: sql.Composable) -> None:
        outer.append(sql.SQL("{} as {}").format(expression, sql.Identifier(f"c{i}__{figure}")))

    for i, check in enumerate(checks):
        col = check.column
        v = sql.Identifier(f"v{i}")
        inner.append(sql.SQL("{} as {}").format(_ident(col), v))
        out(i, "nulls", sql.SQL("count(*) - count({})").format(v))
        # Text columns get their distinct count from text_pattern_query, which groups them anyway.
        if col.sortable and not col.is_text:
            out(i, "distinct", sql.SQL("count(distinct {})").format(v))
        if col.sortable and col.category in ("N", "D", "S") and not check.masked:
            out(i, "min", sql.SQL("min({})::text").format(v))
            out(i, "max", sql.SQL("max({})::text").format(v))
        if col.category == "B":
            out(i, "true", sql.SQL("count(*) filter (where {})").format(v))
        if col.is_text:
            out(i, "min_length", sql.SQL("min(length({}))").format(v))
            out(i, "max_length", sql.SQL("max(length({}))").format(v))
            out(i, "avg_length", sql.SQL("round(avg(length({})), 1)::float8").format(v))
        if col.is_float:
            finite = _finite(v, col)
            out(i, "non_finite", sql.SQL("count(*) filter (where {} in ('NaN', 'Infinity', '-Infinity'))").format(v))
            out(
                i, "near_cents", sql.SQL("count(*) filter (where abs({f} - round({f}, 2)) < 0.000001)").format(f=finite)
            )
            out(
                i,
                "float_noise",
                sql.SQL("count(*) filter (where abs({f} - round({f}, 2)) < 0.000001 and {f} <> round({f}, 2))").format(
                    f=finite
                ),
            )
        if col.base_type == "numeric":
            out(i, "max_scale", sql.SQL("max(scale({}))").format(_finite(v, col)))
        _target_checks(i, check, v, server, out)

    return sql.SQL("select {outer} from (select {inner} from {source}) s").format(
        outer=sql.SQL(", ").join(outer),
        inner=sql.SQL(", ").join(inner),
        source=sampled_from(schema, table, plan, seed),
    )


def text_pattern_query(schema: str, table: str, plan: SamplePlan, seed: int, columns: list[ColumnInfo]) -> sql.Composed:
    """Pattern classes of several text columns in one pass: the (sampled) values are grouped per
    column first and each distinct value is classified once, weighted by how often it occurs, so
    a column of 55 cities costs 55 classifications, not one per row.

    Rows: (column index, class, rows, distinct values, invalid dates, ambiguous dates, long digit runs).
    """
    pairs = sql.SQL(", ").join(
        sql.SQL("({}, {}::text)").format(sql.Literal(i), _ident(c)) for i, c in enumerate(columns)
    )
    v = sql.SQL("c.v")
    date_keys = sql.SQL(", ").join(sql.Literal(p.key) for p in PATTERN_CLASSES if p.kind == "date")
    return sql.SQL(
        """
        select c.i, c.k, sum(c.n)::bigint, count(*),
               coalesce(sum(c.n) filter (where c.k in ({date_keys}) and {parsed} is null), 0)::bigint,
               coalesce(sum(c.n) filter (where {ambiguous}), 0)::bigint,
               coalesce(sum(c.n) filter (where {long_digits}), 0)::bigint
        from (
            select d.i, d.v, d.n, {klass} as k
            from (select x.i, x.v, count(*) as n
                  from {source} cross join lateral (values {pairs}) as x(i, v)
                  where x.v is not null
                  group by x.i, x.v) d
            offset 0
        ) c
        group by c.i, c.k
        """
    ).format(
        date_keys=date_keys,
        parsed=parsed_date_sql(v),
        # 03/04/2011: March 4th or April 3rd? Only "month first always" in the mapping decides.
        # CASE, not AND: the int casts must only ever see values of the MM/DD/YYYY class.
        ambiguous=sql.SQL(
            "case when c.k = 'date_us' then split_part(btrim({v}), '/', 1)::int <= 12 "
            "and split_part(btrim({v}), '/', 2)::int <= 12 "
            "and split_part(btrim({v}), '/', 1) <> split_part(btrim({v}), '/', 2) else false end"
        ).format(v=v),
        # Digit-only values of card length, Luhn-valid or not: random identifiers pass Luhn one time
        # in ten, real card numbers always, so the ratio tells a card column from an id column.
        long_digits=sql.SQL(
            "c.k = 'card_number' or (c.k in ('number', 'formatted_number', 'other') "
            "and case when btrim({v}) ~ '^[0-9][0-9 -]{{11,}}[0-9]$' "
            "then regexp_replace(btrim({v}), {sep}, '', 'g') ~ '^[0-9]{{13,19}}$' else false end)"
        ).format(v=v, sep=sql.Literal(CARD_SEPARATORS)),
        klass=class_sql(sql.SQL("d.v")),
        source=sampled_from(schema, table, plan, seed),
        pairs=pairs,
    )


def run_text_patterns(conn: psycopg.Connection, query: sql.Composed, count: int) -> list[dict]:
    """Per text column: class_<key> row counts, distinct, invalid_dates, ambiguous_dates, long_digits."""
    keys = [BLANK, *(p.key for p in PATTERN_CLASSES), OTHER]
    figures = [
        {"distinct": 0, "invalid_dates": 0, "ambiguous_dates": 0, "long_digits": 0, **{f"class_{k}": 0 for k in keys}}
        for _ in range(count)
    ]
    for i, klass, rows, values, invalid, ambiguous, long_digits in conn.execute(query).fetchall():
        figure = figures[i]
        figure[f"class_{klass}"] = int(rows)
        figure["distinct"] += int(values)
        figure["invalid_dates"] += int(invalid)
        figure["ambiguous_dates"] += int(ambiguous)
        figure["long_digits"] += int(long_digits)
    return figures


def _target_checks(i: int, check: ColumnChecks, v: sql.Composable, server: ServerInfo, out) -> None:
    target, col = check.target, check.column
    if target is None:
        return
    if target.length is not None and target.base in ("varchar", "char"):
        out(
            i,
            "too_long",
            sql.SQL("count(*) filter (where length({}::text) > {})").format(v, sql.Literal(target.length)),
        )
    if target.base == "numeric" and col.is_numeric and target.scale is not None:
        finite = _finite(v, col)
        out(
            i,
            "too_precise",
            sql.SQL("count(*) filter (where {f} <> round({f}, {s}))").format(f=finite, s=sql.Literal(target.scale)),
        )
        if target.precision is not None:
            limit = sql.Literal(10 ** (target.precision - target.scale))
            out(i, "too_large", sql.SQL("count(*) filter (where abs({}) >= {})").format(finite, limit))
    # Strings are covered by too_long; a text target takes anything.
    if server.has_input_validation and target.trial_cast and target.base not in ("varchar", "char", "text"):
        text = sql.SQL("{}::text").format(v)
        out(
            i,
            "cast_failures",
            sql.SQL("count(*) filter (where {v} is not null and not pg_input_is_valid({t}, {ty}))").format(
                v=v, t=text, ty=sql.Literal(target.type)
            ),
        )


def split_profile_row(row: dict, count: int) -> tuple[int, list[dict]]:
    """`{'n': 10, 'c0__nulls': 1, ...}` → (10, [{'nulls': 1, ...}, ...])."""
    figures: list[dict] = [{} for _ in range(count)]
    for key, value in row.items():
        if key == "n":
            continue
        index, figure = key.split("__", 1)
        figures[int(index[1:])][figure] = value
    return row["n"], figures


def run_profile(conn: psycopg.Connection, query: sql.Composed, count: int) -> tuple[int, list[dict]]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query).fetchone()
    return split_profile_row(row, count)


def top_values(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    plan: SamplePlan,
    seed: int,
    columns: list[ColumnInfo],
    limit: int = 5,
) -> dict[str, list[tuple[str, int]]]:
    """The most frequent values of several columns, from one pass over the sample."""
    if not columns:
        return {}
    pairs = sql.SQL(", ").join(
        sql.SQL("({}, left({}::text, 80))").format(sql.Literal(i), _ident(col)) for i, col in enumerate(columns)
    )
    query = sql.SQL(
        """
        select i, v, n from (
            select x.i, x.v, count(*) as n,
                   row_number() over (partition by x.i order by count(*) desc, x.v) as rank
            from {source} cross join lateral (values {pairs}) as x(i, v)
            where x.v is not null
            group by x.i, x.v
        ) ranked
        where rank <= {limit}
        order by i, n desc, v
        """
    ).format(source=sampled_from(schema, table, plan, seed), pairs=pairs, limit=sql.Literal(limit))
    result: dict[str, list[tuple[str, int]]] = {col.name: [] for col in columns}
    for i, value, count in conn.execute(query).fetchall():
        result[columns[i].name].append((value, count))
    return result


def duplicates(
    conn: psycopg.Connection, schema: str, table: str, columns: list[str], normalise: bool, pattern: str | None = None
) -> dict:
    """Groups of rows sharing a key over the whole table; `normalise` ignores case and blanks, and
    `pattern` (a regex) keeps only values of that shape, so "n/a" e-mails are not "duplicates"."""
    if normalise:
        exprs = [sql.SQL("lower(btrim({}::text))").format(sql.Identifier(c)) for c in columns]
        not_blank = sql.SQL(" and ").join(sql.SQL("btrim({}::text) <> ''").format(sql.Identifier(c)) for c in columns)
        if pattern:
            not_blank = sql.SQL("{} and btrim({}::text) ~ {}").format(
                not_blank, sql.Identifier(columns[0]), sql.Literal(pattern)
            )
    else:
        exprs = [sql.Identifier(c) for c in columns]
        not_blank = sql.SQL("true")
    not_null = sql.SQL(" and ").join(sql.SQL("{} is not null").format(sql.Identifier(c)) for c in columns)
    query = sql.SQL(
        "select count(*), coalesce(sum(n), 0) from "
        "(select count(*) as n from {} where {} and {} group by {} having count(*) > 1) d"
    ).format(qualified(schema, table), not_null, not_blank, sql.SQL(", ").join(exprs))
    groups, rows = conn.execute(query).fetchone()
    nulls = conn.execute(
        sql.SQL("select count(*) from {} where not ({})").format(qualified(schema, table), not_null)
    ).fetchone()[0]
    return {
        "groups": int(groups),
        "rows": int(rows),
        "extra_rows": int(rows) - int(groups),
        "rows_with_null_key": int(nulls),
    }


def reference_match(
    conn: psycopg.Connection,
    schema: str,
    child: str,
    column: str,
    plan: SamplePlan,
    seed: int,
    parent: str,
    key: str,
    text: bool,
) -> dict:
    """How many of the child's (sampled) non-null values exist in the parent's key; for text,
    also ignoring case and blanks."""
    figures = {
        "child": sql.Identifier(column),
        "key": sql.Identifier(key),
        "parent": qualified(schema, parent),
        "source": sampled_from(schema, child, plan, seed),
    }
    if text:
        query = sql.SQL(
            """
            select count(t.{child}) as checked, count(p.k) as matched, count(q.k) as matched_normalised
            from {source}
            left join (select distinct {key} as k from {parent}) p on p.k = t.{child}
            left join (select distinct upper(btrim({key})) as k from {parent}) q on q.k = upper(btrim(t.{child}))
            """
        ).format(**figures)
    else:
        query = sql.SQL(
            """
            select count(t.{child}) as checked, count(p.k) as matched
            from {source}
            left join (select distinct {key} as k from {parent}) p on p.k = t.{child}
            """
        ).format(**figures)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query).fetchone()
    return {k: int(v) for k, v in row.items()}


def monthly_counts(
    conn: psycopg.Connection, schema: str, table: str, plan: SamplePlan, seed: int, column: ColumnInfo
) -> list[tuple[str, int]]:
    """Rows per calendar month of a date-like column, over the sample (not scaled)."""
    value = parsed_date_sql(_ident(column)) if column.is_text else _ident(column)
    query = sql.SQL(
        "select to_char(date_trunc('month', m), 'YYYY-MM'), count(*) from (select {v} as m from {src}) s "
        "where m is not null group by 1 order by 1"
    ).format(v=value, src=sampled_from(schema, table, plan, seed))
    return [(month, int(n)) for month, n in conn.execute(query).fetchall()]


def try_expression(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    alias: str,
    plan: SamplePlan,
    seed: int,
    expression: str,
    target_type: str,
    server: ServerInfo,
) -> dict:
    """Evaluate a mapping's expected SQL over the sample, the table aliased as the expression expects.

    The expression is the project's own SQL (the same trust as its models). It runs under a
    savepoint, so an error is reported and the assessment goes on.
    """
    expr = sql.SQL(expression)
    failures = (
        sql.SQL("count(*) filter (where e is not null and not pg_input_is_valid(e::text, {}))").format(
            sql.Literal(target_type)
        )
        if server.has_input_validation
        else sql.SQL("null::bigint")
    )
    query = sql.SQL("select count(*), count(e), {} from (select ({}) as e from {}) s").format(
        failures, expr, sampled_from(schema, table, plan, seed, alias)
    )
    try:
        with conn.transaction():
            rows, non_null, cast_failures = conn.execute(query).fetchone()
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()
        return {
            "rows": 0,
            "non_null": 0,
            "cast_failures": None,
            "error": first[0] if first else type(exc).__name__,
            "skipped": None,
        }
    return {
        "rows": int(rows),
        "non_null": int(non_null),
        "cast_failures": cast_failures,
        "error": None,
        "skipped": None,
    }


# --- timing -----------------------------------------------------------------------------------


@dataclass
class Timing:
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    how: str = ""
    notes: list[str] = field(default_factory=list)


def _select_list(columns: Iterable[ColumnInfo], masks: dict[str, str]) -> sql.Composable:
    from harness.target.landing import MASK_SQL

    parts = []
    for col in columns:
        ident = sql.Identifier(col.name)
        if col.name in masks:
            expr = sql.SQL(MASK_SQL[masks[col.name]].format(col="{col}")).format(col=ident)
            parts.append(sql.SQL("({})::{} as {}").format(expr, sql.SQL(col.type), ident))
        else:
            parts.append(ident)
    return sql.SQL(", ").join(parts)


def time_read(
    source: psycopg.Connection,
    schema: str,
    table: str,
    columns: list[ColumnInfo],
    masks: dict[str, str],
    plan: SamplePlan,
    seed: int,
) -> Timing:
    """COPY the sample out of the source (masks applied, as load does) and discard it: the read side
    of a load, for a table whose landing copy the target could not take or that has no key yet."""
    select = sql.SQL("select {} from {}").format(_select_list(columns, masks), sampled_from(schema, table, plan, seed))
    copy_out = sql.SQL("copy ({}) to stdout (format binary)").format(select)
    timing = Timing(how="source COPY TO STDOUT, discarded (target write not measured)")
    started = time.perf_counter()
    with source.cursor().copy(copy_out) as reader:
        for chunk in reader:
            timing.bytes += len(chunk)
    timing.seconds = time.perf_counter() - started
    timing.rows = source.execute(
        sql.SQL("select count(*) from {}").format(sampled_from(schema, table, plan, seed))
    ).fetchone()[0]
    return timing


def key_after(conn: psycopg.Connection, schema: str, table: str, column: str, rows: int) -> object | None:
    """The value of `column` `rows` rows into the table in key order (one walk of its index, when it
    has one); None when the table is not that long."""
    query = sql.SQL("select {c} from {t} where {c} is not null order by {c} offset {n} limit 1").format(
        c=sql.Identifier(column), t=qualified(schema, table), n=sql.Literal(rows)
    )
    row = conn.execute(query).fetchone()
    return row[0] if row else None


def analyze_sample_rows(conn: psycopg.Connection) -> int:
    """How many rows ANALYZE reads of a big table on this server, however big the table: 300 ×
    default_statistics_target (PostgreSQL's std_typanalyze)."""
    return 300 * int(conn.execute("show default_statistics_target").fetchone()[0])


def transform_expression(col: ColumnInfo) -> sql.Composable:
    """A typical staging cleanse of one column: trim and case for text, cents for floats, zones for times."""
    v = _ident(col)
    if col.is_text:
        return sql.SQL("upper(btrim({}))").format(v)
    if col.is_float or col.base_type == "numeric":
        return sql.SQL("(round({} * 100))::text").format(_finite(v, col))
    if col.is_timestamp_without_zone:
        return sql.SQL("({} at time zone 'America/New_York')::text").format(v)
    return sql.SQL("{}::text").format(v)


def time_select(conn: psycopg.Connection, query: sql.Composable) -> tuple[int, float]:
    started = time.perf_counter()
    (rows,) = conn.execute(query).fetchone()
    return int(rows or 0), time.perf_counter() - started


def time_transform(
    conn: psycopg.Connection, schema: str, table: str, columns: list[ColumnInfo], plan: SamplePlan, seed: int
) -> tuple[int, float]:
    """A representative cleanse-and-cast SELECT over the sample: rows and seconds."""
    exprs = sql.SQL(", ").join(transform_expression(c) for c in columns)
    query = sql.SQL("select count(*) from (select concat_ws('|', {}) as r from {}) s where length(s.r) >= 0").format(
        exprs, sampled_from(schema, table, plan, seed)
    )
    return time_select(conn, query)


def time_hash(conn: psycopg.Connection, schema: str, table: str, plan: SamplePlan, seed: int) -> tuple[int, float]:
    """What a validation pass costs: an md5 of every row's text, as reconcile's checksums do (the
    row as row(t.*): a column named t would stand for it in t::text)."""
    query = sql.SQL("select count(*) from (select md5(row(t.*)::text) as h from {}) s where s.h is not null").format(
        sampled_from(schema, table, plan, seed)
    )
    return time_select(conn, query)


def table_exists_in(conn: psycopg.Connection, schema: str, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (f'"{schema}"."{table}"',)).fetchone()[0]


# --- the run: its snapshot, the load probes' scratch tables, landing --------------------------


def begin_read_only_snapshot(conn: psycopg.Connection) -> None:
    """One snapshot for every figure, read only: the assessment must not change the source. Dates
    as text in ISO order, whatever the server's DateStyle."""
    conn.execute("set transaction isolation level repeatable read, read only")
    conn.execute("set datestyle = 'ISO, MDY'")


def export_snapshot(conn: psycopg.Connection) -> str:
    """The id by which other sessions read in this transaction's snapshot."""
    (snapshot_id,) = conn.execute("select pg_export_snapshot()").fetchone()
    return snapshot_id


def connected_user(conn: psycopg.Connection) -> str:
    return conn.info.user


def drop_schemas(conn: psycopg.Connection, schemas: Iterable[str]) -> None:
    for schema in schemas:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


def analyze_table(conn: psycopg.Connection, schema: str, table: str) -> None:
    conn.execute(sql.SQL("analyze {}").format(qualified(schema, table)))


def drop_table(conn: psycopg.Connection, schema: str, table: str) -> None:
    conn.execute(sql.SQL("drop table {}").format(qualified(schema, table)))


def estimated_rows(conn: psycopg.Connection, schema: str, tables: list[str]) -> int:
    """Rows in these tables by the planner's estimates (pg_class), without reading them."""
    rows = conn.execute(
        "select coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = any(%s) and c.relkind = 'r'",
        (schema, tables),
    ).fetchone()[0]
    return int(rows)


# --- the control schema's record of earlier runs ----------------------------------------------


def last_cutover_steps(conn: psycopg.Connection, control_schema: str) -> tuple | None:
    """(run id, finished at, seconds per step) of the last parallel-run cutover that succeeded."""
    return conn.execute(
        sql.SQL(
            "select r.run_id, r.finished_at, "
            "jsonb_object_agg(s.step, extract(epoch from s.finished_at - s.started_at)) "
            "from {runs} r join {steps} s using (run_id) "
            "where r.command = 'cutover' and r.status = 'succeeded' "
            "and coalesce(r.detail ->> 'strategy', 'parallel_run') = 'parallel_run' "
            "and s.status = 'succeeded' group by r.run_id order by r.run_id desc limit 1"
        ).format(runs=sql.Identifier(control_schema, "runs"), steps=sql.Identifier(control_schema, "steps"))
    ).fetchone()


def last_rehearsal_timings(conn: psycopg.Connection, control_schema: str) -> tuple | None:
    """(rehearsal id, finished at, seconds per step) of the last rehearsal that succeeded."""
    return conn.execute(
        sql.SQL(
            "select rehearsal_id, finished_at, timings from {} where status = 'succeeded' "
            "order by rehearsal_id desc limit 1"
        ).format(sql.Identifier(control_schema, "rehearsals"))
    ).fetchone()


def last_sync_build_timing(conn: psycopg.Connection, control_schema: str) -> tuple | None:
    """(seconds, built at) of the last timed sync build; None when there is none, or the control
    schema is from before builds were timed."""
    state = sql.Identifier(control_schema, "sync_state")
    has_timing = conn.execute(
        "select exists (select from pg_attribute where attrelid = to_regclass(%s) and attname = 'sync_build_seconds')",
        (state.as_string(conn),),
    ).fetchone()[0]
    if not has_timing:
        return None
    return conn.execute(
        sql.SQL(
            "select sync_build_seconds, sync_built_at from {} where sync_build_seconds is not null "
            "order by sync_built_at desc limit 1"
        ).format(state)
    ).fetchone()


def column_names(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select a.attname from pg_attribute a "
            "where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped",
            (f'"{schema}"."{table}"',),
        ).fetchall()
    ]


def latest_row(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    *,
    present: str,
    order_by: str,
    status: str | None = None,
    statuses: Iterable[str] = (),
) -> dict | None:
    """The newest row by `order_by` whose `present` column is not null (and, when `status` is
    given, whose status is one of `statuses`, ignoring case)."""
    conditions = [sql.SQL("{} is not null").format(sql.Identifier(present))]
    if status:
        conditions.append(
            sql.SQL("lower({}::text) = any({})").format(sql.Identifier(status), sql.Literal(list(statuses)))
        )
    query = sql.SQL("select * from {} where {} order by {} desc nulls last limit 1").format(
        sql.Identifier(schema, table), sql.SQL(" and ").join(conditions), sql.Identifier(order_by)
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query).fetchone()
