"""The sample comparison's queries on the target (harness/reconcile/samples.py compares): a random
sample of an app table's keys drawn into a temporary table, the values the mapping metadata
expects for those rows computed from their landing rows, and the app's own values for them."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from harness.core.errors import QueryFailed
from harness.engines import postgres
from harness.engines.postgres.engine import first_line
from harness.target import landing

KEY_PREFIX = "__key_"
SAMPLE_TABLE = "_rc_sample"

table_exists = postgres.table_exists
primary_key = postgres.primary_key


@dataclass(frozen=True)
class Sampled:
    """An app table and how its rows find their landing row."""

    alias: str  # the model's name, which `join` refers to the app table by
    schema: str
    table: str
    landing_schema: str
    source_table: str  # the landing table, which `join` refers to by its quoted name
    join: str  # SQL: the join condition (meta.source_join)


def column_types(conn: psycopg.Connection, schema: str, table: str) -> dict[str, str]:
    return {c.name: c.type for c in postgres.columns(conn, schema, table)}


def key_alias(name: str) -> str:
    """The key column's name in the compared frames, apart from the value columns; unique within 63 bytes."""
    return postgres.fitting_name(f"{KEY_PREFIX}{name}", name)


def draw(conn: psycopg.Connection, app: Sampled, key: list[str], size: int, seed: int) -> tuple[int, int, bool]:
    """Fill the sample table (dropped at commit) with keys of the app table: (rows in the table,
    rows sampled, whether all were taken)."""
    relation = postgres.qualified(app.schema, app.table)
    estimate = postgres.estimated_rows(conn, app.schema, app.table)
    if estimate is None or estimate < 0 or estimate <= 4 * size:
        (estimate,) = conn.execute(sql.SQL("select count(*) from {}").format(relation)).fetchone()
    whole = estimate <= size
    columns = postgres.column_list(key)
    if whole:
        chosen = sql.SQL("select {} from {}").format(columns, relation)
    else:
        # Bernoulli keeps each row with the given chance: a little above size/rows, then a limit.
        percent = min(100.0, 100.0 * size * 1.2 / max(estimate, 1) + 0.01)
        chosen = sql.SQL("select {} from {} tablesample bernoulli ({}) repeatable ({}) limit {}").format(
            columns, relation, sql.Literal(percent), sql.Literal(seed), sql.Literal(size)
        )
    conn.execute(sql.SQL("create temp table {} on commit drop as {}").format(sql.Identifier(SAMPLE_TABLE), chosen))
    (sampled,) = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(SAMPLE_TABLE))).fetchone()
    return int(estimate), sampled, whole


def expected(
    conn: psycopg.Connection, app: Sampled, key: list[str], expressions: dict[str, str], types: dict[str, str]
) -> tuple[list[str], list[tuple]]:
    """The sampled keys and the values `expressions` (column → expected_sql over the landing row)
    give them: (column names, rows). A failing expression raises QueryFailed, the sample kept."""
    return _rows(conn, _expected_query(app, key, expressions, types))


def failing_expressions(
    conn: psycopg.Connection, app: Sampled, key: list[str], expressions: dict[str, str], types: dict[str, str]
) -> dict[str, str]:
    """Each expression run on its own over the sample: the ones that fail, with why."""
    failing = {}
    for column, expression in expressions.items():
        try:
            _rows(conn, _expected_query(app, key, {column: expression}, types))
        except QueryFailed as exc:
            failing[column] = str(exc)
    return failing


def actual(conn: psycopg.Connection, app: Sampled, key: list[str], columns: list[str]) -> tuple[list[str], list[tuple]]:
    """The sampled keys and the app's values of `columns`: (column names, rows)."""
    with conn.cursor() as cur:
        cur.execute(_actual_query(app, key, columns))
        return [d.name for d in cur.description], cur.fetchall()


def expected_sql(
    conn: psycopg.Connection, app: Sampled, key: list[str], expressions: dict[str, str], types: dict[str, str]
) -> str:
    """`expected`'s query as text, for a reader of its own (Spark's JDBC reads, harness/reconcile/spark.py)."""
    return _expected_query(app, key, expressions, types).as_string(conn)


def actual_sql(conn: psycopg.Connection, app: Sampled, key: list[str], columns: list[str]) -> str:
    """`actual`'s query as text, for a reader of its own."""
    return _actual_query(app, key, columns).as_string(conn)


def _rows(conn: psycopg.Connection, query: sql.Composed) -> tuple[list[str], list[tuple]]:
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(query)
            return [d.name for d in cur.description], cur.fetchall()
    except psycopg.Error as exc:
        raise QueryFailed(first_line(exc)) from exc


def _joins(app: Sampled, key: list[str]) -> sql.Composed:
    app_alias = sql.Identifier(app.alias)
    on_key = sql.SQL(" and ").join(
        sql.SQL("{}.{} = s.{}").format(app_alias, sql.Identifier(k), sql.Identifier(k)) for k in key
    )
    legacy = sql.Identifier(app.source_table)
    return sql.SQL(
        "{sample} as s join {app} as {alias} on {on_key} "
        "join {landing} as {legacy} on ({join}) and not {legacy}.{deleted}"
    ).format(
        sample=sql.Identifier(SAMPLE_TABLE),
        app=postgres.qualified(app.schema, app.table),
        alias=app_alias,
        on_key=on_key,
        landing=postgres.qualified(app.landing_schema, app.source_table),
        legacy=legacy,
        join=sql.SQL(app.join),
        deleted=sql.Identifier(landing.DELETED),
    )


def _key_columns(key: list[str]) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.SQL("s.{} as {}").format(sql.Identifier(k), sql.Identifier(key_alias(k))) for k in key
    )


def _expected_query(app: Sampled, key: list[str], expressions: dict[str, str], types: dict[str, str]) -> sql.Composed:
    values = sql.SQL(", ").join(
        sql.SQL("({})::{} as {}").format(sql.SQL(expression), sql.SQL(types[column]), sql.Identifier(column))
        for column, expression in expressions.items()
    )
    return sql.SQL("select {}, {} from {}").format(_key_columns(key), values, _joins(app, key))


def _actual_query(app: Sampled, key: list[str], columns: list[str]) -> sql.Composed:
    on_key = sql.SQL(" and ").join(sql.SQL("a.{0} = s.{0}").format(sql.Identifier(k)) for k in key)
    values = sql.SQL(", ").join(sql.SQL("a.{}").format(sql.Identifier(c)) for c in columns)
    return sql.SQL("select {}, {} from {} as s join {} as a on {}").format(
        _key_columns(key), values, sql.Identifier(SAMPLE_TABLE), postgres.qualified(app.schema, app.table), on_key
    )
