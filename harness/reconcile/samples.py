"""Sample record comparison: migrated rows against what the mapping says they should be.

For each target model whose YAML says which legacy table feeds it (`meta.source_table`), how an
app row finds its landing row (`meta.source_join`, written over the model's name and the quoted
legacy table name) and, per column, the expected value as SQL over that landing row
(`meta.expected_sql`), a random sample of the app table's keys is drawn, the expected values are
computed inside the target database from the landing rows, and both sets of rows are compared
column by column with datacompy. Only the sampled rows ever leave the database, so memory grows
with the sample size, not with the table. datacompy's own report is kept per model.

An app row that joins several landing rows (merged duplicates) has no single expected value: it
is counted as ambiguous and left out, not reported as a mismatch.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from harness.core import connections
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.errors import ConfigError
from harness.dbt import artifacts as dbt_artifacts
from harness.engines import postgres
from harness.reconcile import spark
from harness.target import landing

KEY_PREFIX = "__key_"
SAMPLE_TABLE = "_rc_sample"


@dataclass
class ModelSample:
    model: str
    relation: str
    source_table: str | None = None
    table_rows: int | None = None
    sampled: int = 0
    compared_columns: list[str] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)  # columns without expected_sql
    mismatched: dict[str, int] = field(default_factory=dict)  # column → rows whose value differs
    only_in_app: int = 0  # sampled app rows that no landing row explains
    ambiguous: int = 0  # sampled app rows that join several landing rows
    report_file: str | None = None
    problem: str | None = None  # why the model was not compared
    notes: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return self.problem is None and not self.mismatched and self.only_in_app == 0


@dataclass(frozen=True)
class Comparable:
    """A target model the mapping metadata lets us check row by row."""

    model: dbt_artifacts.TargetModel
    schema: str
    table: str
    source_table: str
    join: str
    expressions: dict[str, str]  # column → expected_sql


def comparable_models(artifacts: dbt_artifacts.Artifacts) -> tuple[list[Comparable], list[str]]:
    """The models that can be compared, and a line for each target model that cannot."""
    found, skipped = [], []
    nodes = (artifacts.manifest or {}).get("nodes") or {}
    for model in dbt_artifacts.models(artifacts):
        if not model.is_target:
            continue
        node = nodes.get(model.unique_id) or {}
        meta = {**((node.get("config") or {}).get("meta") or {}), **(node.get("meta") or {})}
        join = meta.get("source_join")
        expressions = {c.name: c.mapping.expression for c in model.columns if c.mapping.expression}
        table = str(node.get("alias") or model.name)
        if not expressions:
            skipped.append(f"{model.relation}: no column has expected_sql")
        elif not model.source_table or "," in model.source_table:
            skipped.append(f"{model.relation}: meta.source_table must name one legacy table")
        elif not isinstance(join, str) or not join.strip():
            skipped.append(f"{model.relation}: meta.source_join is missing")
        else:
            found.append(
                Comparable(model, model.schema, table, model.source_table.strip(), " ".join(join.split()), expressions)
            )
    return found, skipped


def compare(
    config: Config,
    target: Database,
    artifacts: dbt_artifacts.Artifacts,
    *,
    sample_size: int,
    report_dir: Path,
    seed: int | None = None,
    full: Collection[str] = (),
) -> tuple[list[ModelSample], list[str]]:
    """Compare a sample of every comparable model, and the whole of those `full` names (by model name,
    table or schema.table); datacompy's reports go to `report_dir`. On Spark when migration.yml names
    a Spark master (harness.reconcile.spark), on pandas otherwise."""
    models, notes = comparable_models(artifacts)
    whole = _full_models(models, full)
    seed = random.randrange(1, 2**31) if seed is None else seed
    results = []
    report_dir.mkdir(parents=True, exist_ok=True)
    on_spark = spark.SparkComparison(config, target) if config.reconcile.spark else None
    try:
        with connections.connection(target, command="reconcile sample") as conn:
            for item in models:
                result = ModelSample(item.model.name, f"{item.schema}.{item.table}", item.source_table)
                size = None if item.model.name in whole else sample_size
                try:
                    _compare_one(conn, config, item, result, size, seed, report_dir, on_spark)
                except psycopg.Error as exc:
                    result.problem = _first_line(exc)
                finally:
                    conn.rollback()
                results.append(result)
    finally:
        if on_spark:
            on_spark.close()
    return results, notes


def _full_models(models: list[Comparable], names: Collection[str]) -> set[str]:
    """The model names `--full` chose; a name that is no comparable model is a usage error."""
    chosen = set()
    for name in names:
        found = [m.model.name for m in models if name in (m.model.name, m.table, f"{m.schema}.{m.table}")]
        if not found:
            known = ", ".join(f"{m.schema}.{m.table}" for m in models) or "none"
            raise ConfigError(f"--full {name}: no compared model has that name; the compared models: {known}")
        chosen.update(found)
    return chosen


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _compare_one(
    conn: psycopg.Connection,
    config: Config,
    item: Comparable,
    result: ModelSample,
    sample_size: int | None,  # None: the whole table (--full)
    seed: int,
    report_dir: Path,
    on_spark: spark.SparkComparison | None = None,
) -> None:
    import datacompy
    import pandas as pd

    if not postgres.table_exists(conn, item.schema, item.table):
        result.problem = f"{result.relation} does not exist in the target: run `migrate build`"
        return
    if not postgres.table_exists(conn, config.landing_schema, item.source_table):
        result.problem = f'landing table "{item.source_table}" (meta.source_table) does not exist: fix the name or run `migrate load`'
        return
    key = postgres.primary_key(conn, item.schema, item.table)
    if not key:
        result.problem = f"{result.relation} has no primary key: its rows cannot be matched"
        return
    types = {c.name: c.type for c in postgres.columns(conn, item.schema, item.table)}
    expressions = {}
    for column, expression in item.expressions.items():
        if column in types:
            expressions[column] = expression
        else:
            result.notes.append(f"column {column} has expected_sql but is not in {result.relation}")
    result.not_compared = [c for c in types if c not in expressions]

    result.table_rows, whole = _draw_sample(conn, item, key, sample_size or sys.maxsize, seed)
    if sample_size is None:
        result.notes.append(f"--full: the whole of the {result.table_rows:,} rows of {result.relation} is compared")
    elif whole:
        result.notes.append(
            f"sample_size {sample_size:,} ≥ the {result.table_rows:,} rows of {result.relation}: the whole table is compared"
        )
    (result.sampled,) = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(SAMPLE_TABLE))).fetchone()

    if on_spark:
        on_spark.compare(
            conn,
            item,
            key,
            expressions,
            result,
            report_dir,
            lambda chosen: (
                _expected_query(config, item, key, chosen, types),
                _actual_query(item, key, list(chosen)),
            ),
            lambda chosen: _failing_expressions(conn, config, item, key, chosen, types),
        )
        return
    keys = [_key_alias(name) for name in key]
    try:
        with conn.transaction():
            expected = _frame(conn, _expected_query(config, item, key, expressions, types), pd)
    except psycopg.Error:
        # Find the expressions that fail on these rows, compare the others.
        for column, error in _failing_expressions(conn, config, item, key, expressions, types).items():
            result.notes.append(f"expected_sql of {result.relation}.{column} fails, column not compared: {error}")
            del expressions[column]
        if not expressions:
            result.problem = f"no expected_sql of {result.relation} runs: see the notes"
            return
        expected = _frame(conn, _expected_query(config, item, key, expressions, types), pd)
    result.compared_columns = list(expressions)
    actual = _frame(conn, _actual_query(item, key, list(expressions)), pd)
    duplicated = expected.duplicated(keys, keep=False)
    if duplicated.any():
        ambiguous = expected.loc[duplicated, keys].drop_duplicates()
        result.ambiguous = len(ambiguous)
        expected = expected.loc[~duplicated]
        actual = actual.merge(ambiguous, on=keys, how="left", indicator=True)
        actual = actual.loc[actual["_merge"] == "left_only"].drop(columns="_merge")
    comparison = datacompy.PandasCompare(
        expected, actual, join_columns=keys, df1_name="expected", df2_name="app", cast_column_names_lower=False
    )
    result.only_in_app = len(comparison.df2_unq_rows)
    for stat in comparison.column_stats:
        if stat["column"] not in keys and int(stat["unequal_cnt"]) > 0:
            result.mismatched[stat["column"]] = int(stat["unequal_cnt"])
    path = report_dir / f"{item.model.name}.txt"
    path.write_text(comparison.report())
    result.report_file = str(path)


def _draw_sample(conn: psycopg.Connection, item: Comparable, key: list[str], size: int, seed: int) -> tuple[int, bool]:
    """Fill the sample table with keys of the app table; (rows in the table, whether all were taken)."""
    relation = postgres.qualified(item.schema, item.table)
    estimate = postgres.estimated_rows(conn, item.schema, item.table)
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
    return int(estimate), whole


def _joins(config: Config, item: Comparable, key: list[str]) -> sql.Composed:
    app_alias = sql.Identifier(item.model.name)
    on_key = sql.SQL(" and ").join(
        sql.SQL("{}.{} = s.{}").format(app_alias, sql.Identifier(k), sql.Identifier(k)) for k in key
    )
    legacy = sql.Identifier(item.source_table)
    return sql.SQL(
        "{sample} as s join {app} as {alias} on {on_key} join {landing} as {legacy} on ({join}) and not {legacy}.{deleted}"
    ).format(
        sample=sql.Identifier(SAMPLE_TABLE),
        app=postgres.qualified(item.schema, item.table),
        alias=app_alias,
        on_key=on_key,
        landing=postgres.qualified(config.landing_schema, item.source_table),
        legacy=legacy,
        join=sql.SQL(item.join),
        deleted=sql.Identifier(landing.DELETED),
    )


def _key_alias(name: str) -> str:
    """The key column's name in the compared frames, apart from the value columns; unique within 63 bytes."""
    return postgres.fitting_name(f"{KEY_PREFIX}{name}", name)


def _key_columns(key: list[str]) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.SQL("s.{} as {}").format(sql.Identifier(k), sql.Identifier(_key_alias(k))) for k in key
    )


def _expected_query(
    config: Config, item: Comparable, key: list[str], expressions: dict[str, str], types: dict[str, str]
) -> sql.Composed:
    values = sql.SQL(", ").join(
        sql.SQL("({})::{} as {}").format(sql.SQL(expression), sql.SQL(types[column]), sql.Identifier(column))
        for column, expression in expressions.items()
    )
    return sql.SQL("select {}, {} from {}").format(_key_columns(key), values, _joins(config, item, key))


def _actual_query(item: Comparable, key: list[str], columns: list[str]) -> sql.Composed:
    on_key = sql.SQL(" and ").join(sql.SQL("a.{0} = s.{0}").format(sql.Identifier(k)) for k in key)
    values = sql.SQL(", ").join(sql.SQL("a.{}").format(sql.Identifier(c)) for c in columns)
    return sql.SQL("select {}, {} from {} as s join {} as a on {}").format(
        _key_columns(key), values, sql.Identifier(SAMPLE_TABLE), postgres.qualified(item.schema, item.table), on_key
    )


def _failing_expressions(
    conn: psycopg.Connection,
    config: Config,
    item: Comparable,
    key: list[str],
    expressions: dict[str, str],
    types: dict[str, str],
) -> dict[str, str]:
    """Each expression run on its own over the sample: the ones that fail, with why."""
    failing = {}
    for column, expression in expressions.items():
        query = _expected_query(config, item, key, {column: expression}, types)
        try:
            with conn.transaction():
                conn.execute(query).fetchall()
        except psycopg.Error as exc:
            failing[column] = _first_line(exc)
    return failing


def _frame(conn: psycopg.Connection, query: sql.Composed, pd):
    with conn.cursor() as cur:
        cur.execute(query)
        names = [d.name for d in cur.description]
        return pd.DataFrame.from_records(cur.fetchall(), columns=names)
