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

from harness.core import connections
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.errors import ConfigError, QueryFailed
from harness.dbt import artifacts as dbt_artifacts
from harness.engines.base import Connection
from harness.reconcile import spark
from harness.target import landing
from harness.target import samples as target_samples


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
                except (QueryFailed, connections.DatabaseError) as exc:
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
    conn: Connection,
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

    if not target_samples.table_exists(conn, item.schema, item.table):
        result.problem = f"{result.relation} does not exist in the target: run `migrate build`"
        return
    if not landing.exists(conn, config.landing_schema, item.source_table):
        result.problem = (
            f'landing table "{item.source_table}" (meta.source_table) does not exist: '
            "fix the name or run `migrate load`"
        )
        return
    key = target_samples.primary_key(conn, item.schema, item.table)
    if not key:
        result.problem = f"{result.relation} has no primary key: its rows cannot be matched"
        return
    types = target_samples.column_types(conn, item.schema, item.table)
    expressions = {}
    for column, expression in item.expressions.items():
        if column in types:
            expressions[column] = expression
        else:
            result.notes.append(f"column {column} has expected_sql but is not in {result.relation}")
    result.not_compared = [c for c in types if c not in expressions]

    app = target_samples.Sampled(
        item.model.name, item.schema, item.table, config.landing_schema, item.source_table, item.join
    )
    result.table_rows, result.sampled, whole = target_samples.draw(conn, app, key, sample_size or sys.maxsize, seed)
    if sample_size is None:
        result.notes.append(f"--full: the whole of the {result.table_rows:,} rows of {result.relation} is compared")
    elif whole:
        result.notes.append(
            f"sample_size {sample_size:,} ≥ the {result.table_rows:,} rows of {result.relation}: "
            "the whole table is compared"
        )

    if on_spark:
        on_spark.compare(conn, app, key, expressions, types, result, report_dir)
        return

    keys = [target_samples.key_alias(name) for name in key]
    try:
        expected = _frame(pd, *target_samples.expected(conn, app, key, expressions, types))
    except QueryFailed:
        # Find the expressions that fail on these rows, compare the others.
        for column, error in target_samples.failing_expressions(conn, app, key, expressions, types).items():
            result.notes.append(f"expected_sql of {result.relation}.{column} fails, column not compared: {error}")
            del expressions[column]
        if not expressions:
            result.problem = f"no expected_sql of {result.relation} runs: see the notes"
            return
        expected = _frame(pd, *target_samples.expected(conn, app, key, expressions, types))
    result.compared_columns = list(expressions)
    actual = _frame(pd, *target_samples.actual(conn, app, key, list(expressions)))
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


def _frame(pd, names: list[str], rows: list[tuple]):
    # Binary values as hex text: datacompy finds two equal bytes objects unequal.
    rows = [tuple(bytes(v).hex() if isinstance(v, bytes | memoryview) else v for v in row) for row in rows]
    return pd.DataFrame.from_records(rows, columns=names)
