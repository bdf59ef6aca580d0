"""Lifecycle step 1: assess the source before anything moves.

For whatever tables migration.yml lists, in whatever schema, this reads the source catalog
(columns, keys, indexes, triggers, sizes, privileges, settings), profiles every column inside the
database over the table or a random sample of it, proposes the relationships nobody declared,
times one range of each table copied by load's own code, measures transformation and hashing
throughput, and turns all of it into findings, estimates per strategy and a recommendation. It
returns an `Assessment`; reports.py writes it. Nothing here prints, and nothing is written to the
source; in the target, the timed copies go to scratch schemas that are dropped at the end.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from harness import connections, control, dbt_artifacts, estimates, landing, load, profiling, reports
from harness.capture import CAPTURE_SCHEMA
from harness.capture import TRIGGER as CAPTURE_TRIGGER
from harness.config import Config, TableConfig
from harness.connections import Database
from harness.engines import postgres
from harness.engines import postgres_assess as pg
from harness.errors import EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, HarnessError

DEFAULT_SAMPLE_ROWS = 100_000  # per table; a proportion's 95% margin is then at most ±0.31 points
TIMING_SAMPLE_ROWS = 50_000  # rows copied, cast and hashed per table to measure throughput
EXACT_COUNT_LIMIT = 20_000_000  # above this many estimated rows, pg_class's estimate is reported instead
SEED = 20090101  # the same sample on every run, so two assessments of unchanged data agree
TOP_VALUES = 5
TOP_VALUES_MAX_DISTINCT = 5_000  # a column with more distinct values has no useful "top values"
LIKELY_REFERENCE = 0.5  # share of a column's values found in a key for the link to count as real
HISTORY_LIMIT = 50
# `migrate load`'s own defaults (workers, rows per key range): the estimate is for the load as it runs without options.
LOAD_DEFAULTS = {name: parameter.default for name, parameter in inspect.signature(load.load).parameters.items()
                 if name in ("jobs", "range_rows")}
# Scratch schemas in the target for the timed load ranges; dropped when the timing ends.
PROBE_LANDING = "_migrate_assess_landing"
PROBE_CONTROL = "_migrate_assess_control"
READS_OTHER_RELATIONS = re.compile(r"\b(from|join)\b", re.IGNORECASE)
REPORT_NAME = "assessment"

BLOCKING, WARNING, INFO = "blocking", "warning", "info"
# The order findings are listed in, within a severity: what stops the migration comes first.
AREAS = ("configuration", "privileges", "keys", "sensitive", "downtime", "conversion", "quality",
         "relationships", "mapping", "triggers", "types", "settings", "volume")


@dataclass
class Finding:
    severity: str  # blocking, warning or info
    area: str
    message: str
    fix: str = ""
    table: str | None = None
    column: str | None = None
    share: float | None = None  # fraction of the table's rows affected, when known


@dataclass
class Figure:
    """A count in the profiled rows, its share, and the 95% margin of that share for the whole table."""

    count: int
    share: float
    margin: float


@dataclass
class ColumnProfile:
    name: str
    type: str
    not_null: bool
    nulls: Figure
    distinct: int | None = None  # in the profiled rows
    blanks: Figure | None = None
    min: str | None = None
    max: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    avg_length: float | None = None
    classes: dict[str, Figure] = field(default_factory=dict)  # pattern class → share of non-null values
    invalid_dates: int | None = None
    ambiguous_dates: int | None = None
    near_cents: int | None = None
    float_noise: int | None = None
    non_finite: int | None = None
    max_scale: int | None = None
    true_count: int | None = None
    top_values: list[dict] = field(default_factory=list)
    sensitive: bool = False
    masked: str | None = None  # the mask migration.yml applies
    target: dict | None = None  # the mapped target column: model, column, type, rule
    target_checks: dict[str, Figure] = field(default_factory=dict)  # too_long, too_precise, too_large, cast_failures
    risks: list[str] = field(default_factory=list)


@dataclass
class TableAssessment:
    name: str
    exists: bool
    kind: str = "table"
    key: list[str] = field(default_factory=list)
    key_from: str | None = None  # "primary key", "migration.yml" or None when there is none
    unique_keys: list[dict] = field(default_factory=list)
    foreign_keys: list[dict] = field(default_factory=list)
    indexes: list[dict] = field(default_factory=list)
    triggers: list[dict] = field(default_factory=list)
    rules: list[dict] = field(default_factory=list)
    replica_identity: str | None = None
    can_select: bool = False
    can_trigger: bool = False
    rows: int = 0
    rows_exact: bool = False
    estimated_rows: int = 0
    bytes: dict[str, int] = field(default_factory=dict)
    sample: dict = field(default_factory=dict)
    columns: list[ColumnProfile] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    growth: dict | None = None
    expected_sql: list[dict] = field(default_factory=list)  # the mapping's expected expressions, tried on the sample
    timing: dict = field(default_factory=dict)
    changes_per_second: float = 0.0


@dataclass
class Relationship:
    child_table: str
    child_column: str
    parent_table: str
    parent_column: str
    declared: bool
    checked: int = 0  # non-null child values looked up
    matched: int = 0
    match_rate: float = 0.0
    margin: float = 0.0
    normalised_match_rate: float | None = None  # ignoring case and blanks, for text
    orphan_rate: float = 0.0  # values found in the parent under neither comparison
    likely: bool = False


@dataclass
class Assessment:
    assessed_at: str
    seconds: float
    migration: str
    configured_strategy: str
    downtime_limit_minutes: float | None
    source: dict
    target: dict
    privileges: dict
    sampling: dict
    tables: list[TableAssessment]
    relationships: list[Relationship]
    target_schema: dict
    mapping: dict
    estimates: dict
    per_table_estimates: list[dict]
    strategies: list[dict]
    recommendation: dict
    findings: list[Finding]
    verdict: dict
    history: list[dict]
    measured: dict | None
    assumptions: dict
    notes: list[str]

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == BLOCKING]

    @property
    def exit_code(self) -> int:
        """2 when migration.yml itself is wrong, 1 when the source blocks the migration, else 0."""
        if any(f.area == "configuration" for f in self.blocking):
            return EXIT_USAGE
        return EXIT_CHECK_FAILED if self.blocking else EXIT_OK

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["report"] = "assessment"
        data["version"] = 1
        data["exit_code"] = self.exit_code
        return data


def progress_units(config: Config) -> int:
    """How many times `run` calls its progress callback: three steps per table, then relationships."""
    return 3 * len(config.tables) + 1


# --- the run ----------------------------------------------------------------------------------


def run(config: Config, source: Database, target: Database, *, sample_rows: int = DEFAULT_SAMPLE_ROWS,
        jobs: int | None = None, range_rows: int | None = None, progress: Callable[[int], None] | None = None) -> Assessment:
    """`jobs` and `range_rows` are those the load will run with (load's defaults when None)."""
    started = time.perf_counter()
    jobs = jobs or LOAD_DEFAULTS["jobs"]
    range_rows = range_rows or LOAD_DEFAULTS["range_rows"]
    assessed_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    tick = progress or (lambda _n=1: None)
    findings: list[Finding] = []
    notes: list[str] = []
    artifacts = dbt_artifacts.load(config.project_dir)
    notes.extend(artifacts.notes)
    models = dbt_artifacts.models(artifacts)

    with connections.connection(source, command="assess") as src, connections.connection(target, command="assess") as dst:
        # One snapshot for every figure, read only: the assessment must not change the source.
        src.execute("set transaction isolation level repeatable read, read only")
        src.execute("set datestyle = 'ISO, MDY'")
        server = pg.server_info(src)
        source_locale, target_locale = pg.database_locale(src), pg.database_locale(dst)
        dst.rollback()  # not idle in a transaction while the source is profiled
        findings.extend(database_findings(source_locale, target_locale))
        if not server.has_input_validation:
            notes.append(f"PostgreSQL {server.version} has no pg_input_is_valid (16+): trial casts to the target types were not counted")
        privileges = pg.schema_privileges(src, config.source_schema, CAPTURE_SCHEMA)
        if not privileges["schema_exists"]:
            findings.append(Finding(BLOCKING, "configuration", f'schema "{config.source_schema}" does not exist in the source {source.describe()}',
                                    "fix source.schema in migration.yml (names are case-sensitive)"))

        tables: list[TableAssessment] = []
        columns_by_table: dict[str, list[pg.ColumnInfo]] = {}
        for table_config in config.tables:
            table, cols = _inventory(src, config, table_config, privileges, findings)
            tables.append(table)
            columns_by_table[table.name] = cols
            tick(1)

        mapping, targets, expressions = _mapping(artifacts, models, tables, columns_by_table, findings)
        plans: dict[str, profiling.SamplePlan] = {}
        for table, table_config in zip(tables, config.tables):
            if table.exists and table.can_select:
                plans[table.name] = _profile(src, config, server, table, table_config, columns_by_table[table.name], targets, sample_rows, findings)
                _try_expressions(src, config, server, table, plans[table.name], [e for e in expressions if e["table"] == table.name], findings)
            tick(1)

        _local_time_finding(server, tables, findings)
        relationships = _relationships(src, config, tables, columns_by_table, plans, findings)
        tick(1)

        probes = _plan_probes(src, config, tables, columns_by_table, range_rows)
        _run_probes(config, source, target, src, probes, jobs)
        probe_of = {p.table.name: p for p in probes}
        for table, table_config in zip(tables, config.tables):
            if table.exists and table.can_select:
                _time(src, config, table, table_config, columns_by_table[table.name], probe_of.get(table.name))
            tick(1)
        src.rollback()

        analyze_rows = pg.analyze_sample_rows(dst)
        landing_rows = _landing_rows(dst, config)
        load_run = latest_load_run(dst, config.control_schema)
        window = measured_window(dst, config.control_schema)
        sync_build = last_sync_build(dst, config.control_schema)

    _constraint_findings(config, server, privileges, tables, findings)
    capture = capture_paths(config, server, privileges, tables, columns_by_table)

    work = [
        estimates.TableWork(
            t.name, t.rows, t.timing.get("copy_rows", 0), t.timing.get("copy_seconds", 0.0),
            t.timing.get("transform_rows", 0), t.timing.get("transform_seconds", 0.0),
            t.timing.get("hash_rows", 0), t.timing.get("hash_seconds", 0.0), t.changes_per_second,
            t.timing.get("ranges", 1), t.timing.get("key_seconds", 0.0), t.timing.get("analyze_seconds", 0.0),
        )
        for t in tables if t.exists and t.can_select
    ]
    dbt_build = dbt_artifacts.build_timing(artifacts)
    use_dbt = dbt_build is not None and dbt_build["failed"] == 0 and landing_rows > 0
    phases = estimates.estimate_phases(work, dbt_build["seconds"] if use_dbt else None, landing_rows if use_dbt else None,
                                       jobs=jobs, analyze_rows=analyze_rows, window=window, sync_build=sync_build)
    read_only = [t.name for t in tables if t.timing and not t.timing["as_load"]]
    if read_only:
        load_estimate = phases.initial_load
        phases = dataclasses.replace(phases, initial_load=dataclasses.replace(
            load_estimate, how=f"{load_estimate.how}; for {', '.join(read_only)} only reading the source was timed "
            "(see its timing notes), so its share is too low"))
    if config.cutover.waves:  # the waves a phased cutover will run
        wave_list, waves_from = [list(w) for w in config.cutover.waves], "migration.yml cutover.waves"
    else:
        links = [(r.child_table, r.parent_table) for r in relationships if r.likely or r.declared]
        wave_list, waves_from = estimates.waves([t.name for t in tables if t.exists], links), "related tables grouped"
    limit_seconds = config.downtime_limit_minutes * 60 if config.downtime_limit_minutes is not None else None
    options = estimates.strategies(phases, wave_list, capture["missing"], limit_seconds, waves_from=waves_from)
    if work:
        recommendation = estimates.recommend(options, limit_seconds, config.strategy)
        _strategy_findings(config, options, limit_seconds, capture, findings)
    else:
        recommendation = estimates.Recommendation(None, ["no table could be measured: fix the blocking problems first"])

    history = _history(config.reports_root)
    current = {
        "assessed_at": assessed_at,
        "configured_strategy": config.strategy,
        "source_rows": sum(t.rows for t in tables),
        "estimates": {name: round(e.seconds, 1) for name, e in phases.as_dict().items()},
    }
    measured = compare_with_load(history, load_run)
    history = [*history, current][-HISTORY_LIMIT:]

    findings.sort(key=_finding_order)
    verdict = _verdict(findings, recommendation)
    return Assessment(
        assessed_at=assessed_at,
        seconds=round(time.perf_counter() - started, 1),
        migration=config.name,
        configured_strategy=config.strategy,
        downtime_limit_minutes=config.downtime_limit_minutes,
        source={"database": source.describe(), "schema": config.source_schema, "server_version": server.version,
                "user": server.user, "superuser": server.superuser, "replication": server.replication,
                "settings": server.settings, "locale": dataclasses.asdict(source_locale.options)},
        target={"database": target.describe(), "server_version": target_locale.version,
                "locale": dataclasses.asdict(target_locale.options), "landing_schema": config.landing_schema,
                "control_schema": config.control_schema, "landing_rows": landing_rows},
        privileges={**privileges, **capture},
        sampling={"target_rows": sample_rows, "seed": SEED, "confidence": 0.95,
                  "margin": "Wilson score interval with finite-population correction; 0 when every row was read"},
        tables=tables,
        relationships=relationships,
        target_schema=_target_schema(artifacts, models),
        mapping=mapping,
        estimates={name: dataclasses.asdict(e) for name, e in phases.as_dict().items()},
        per_table_estimates=[dataclasses.asdict(t) for t in phases.tables],
        strategies=[{**dataclasses.asdict(s), "possible": s.possible} for s in options],
        recommendation=dataclasses.asdict(recommendation),
        findings=findings,
        verdict=verdict,
        history=history,
        measured=measured,
        assumptions={**estimates.ASSUMPTIONS, "load_jobs": jobs, "load_range_rows": range_rows},
        notes=notes,
    )


# --- schema inventory -------------------------------------------------------------------------


def _inventory(conn: psycopg.Connection, config: Config, table_config: TableConfig, privileges: dict,
               findings: list[Finding]) -> tuple[TableAssessment, list[pg.ColumnInfo]]:
    schema, name = config.source_schema, table_config.name
    info = pg.table_info(conn, schema, name) if privileges["schema_exists"] else None
    if info is None:
        if privileges["schema_exists"]:
            similar = pg.similar_table_names(conn, schema, name)
            hint = f" (did you mean {', '.join(similar)}?)" if similar else ""
            findings.append(Finding(BLOCKING, "configuration", f'table "{schema}"."{name}" listed in migration.yml does not exist in the source{hint}',
                                    "fix the name under 'tables' in migration.yml (names are case-sensitive)", table=name))
        return TableAssessment(name, exists=False), []

    cols = pg.column_info(conn, schema, name)
    table = TableAssessment(
        name, exists=True, kind=info.kind, replica_identity=info.replica_identity,
        can_select=info.can_select and privileges["schema_usage"], can_trigger=info.can_trigger, estimated_rows=max(info.estimated_rows, 0),
        bytes={"heap": info.heap_bytes, "toast": info.toast_bytes, "indexes": info.index_bytes, "total": info.total_bytes},
    )
    table.unique_keys = pg.unique_keys(conn, schema, name)
    table.foreign_keys = pg.foreign_keys(conn, schema, name)
    table.indexes = pg.indexes(conn, schema, name)
    table.triggers = pg.triggers(conn, schema, name)
    table.rules = pg.rules(conn, schema, name)
    primary = next((k["columns"] for k in table.unique_keys if k["primary"]), [])
    names = {c.name for c in cols}
    if table_config.key:
        table.key = list(table_config.key)
        table.key_from = "primary key" if set(primary) == set(table_config.key) else "migration.yml"
    elif primary:
        table.key, table.key_from = primary, "primary key"
    unknown = [c for c in [*table_config.key, *table_config.masks] if c not in names]
    if unknown:
        findings.append(Finding(BLOCKING, "configuration", f"migration.yml names column(s) {', '.join(unknown)} that {name} does not have",
                                f"fix tables.{name} in migration.yml (names are case-sensitive)", table=name))
        table.key = [c for c in table.key if c in names]
    if not table.key:
        findings.append(Finding(BLOCKING, "keys", f"{name} has no primary key and migration.yml names none",
                                f"name the columns that identify a row under tables.{name}.key in migration.yml", table=name))
    if not privileges["schema_usage"]:
        return table, cols
    if not info.can_select:
        findings.append(Finding(BLOCKING, "privileges", f"{_user(conn)} may not read {name} (no SELECT privilege)",
                                f'grant select on "{schema}"."{name}" to the migration user', table=name))
        return table, cols

    table.changes_per_second = 0.0
    changes, window = pg.write_activity(conn, info.oid)
    if window > 0:
        table.changes_per_second = changes / window
    if info.estimated_rows <= EXACT_COUNT_LIMIT:
        table.rows, table.rows_exact = pg.exact_count(conn, schema, name), True
    else:
        table.rows, table.rows_exact = info.estimated_rows, False
    return table, cols


def _user(conn: psycopg.Connection) -> str:
    return f'user "{conn.info.user}"'


# --- mapping ----------------------------------------------------------------------------------


def _match_name(name: str | None, choices: dict[str, str]) -> str | None:
    """Exact name first, then ignoring case (staging YAML often lower-cases legacy names)."""
    if name is None:
        return None
    return name if name in choices.values() else choices.get(name.lower())


def _mapping(artifacts: dbt_artifacts.Artifacts, models: list[dbt_artifacts.TargetModel], tables: list[TableAssessment],
             columns: dict[str, list[pg.ColumnInfo]], findings: list[Finding]) -> tuple[dict, dict, list[dict]]:
    """Which legacy columns the models use, which have a disposition, and which are neither;
    which target columns have no source. Also returns (table, column) → the target column it maps
    to (for trial casts) and the expected_sql expressions to try on the source."""
    if artifacts.manifest is None:
        return {"checked": False, "reason": "no target/manifest.json", "mapped": [], "unmapped_source_columns": [],
                "unsourced_target_columns": [], "dispositions": {}}, {}, []
    table_names = {t.name.lower(): t.name for t in tables if t.exists}
    column_names = {t: {c.name.lower(): c.name for c in cols} for t, cols in columns.items()}
    target_models = [m for m in models if m.is_target]
    target_columns = {(m.name.lower(), c.name.lower()): (m, c) for m in target_models for c in m.columns}

    def resolve(table: str | None, column: str) -> tuple[str | None, str | None]:
        t = _match_name(table, table_names)
        if t is None and table is None:
            # A bare column name: take it when exactly one listed table has it.
            owners = [name for name in column_names if _match_name(column, column_names[name])]
            t = owners[0] if len(owners) == 1 else None
        return t, (_match_name(column, column_names.get(t, {})) if t else None)

    dispositions: dict[tuple[str, str], dbt_artifacts.Disposition] = {}
    for (table, column), found in dbt_artifacts.source_dispositions(artifacts).items():
        t = _match_name(table, table_names)
        c = "*" if column == "*" else (_match_name(column, column_names.get(t, {})) if t else None)
        if t and c:
            dispositions[(t, c)] = found

    used: set[tuple[str, str]] = set()
    targets: dict[tuple[str, str], dict] = {}
    mapped, unsourced, expressions = [], [], []

    def offer_target(key: tuple[str, str], model: dbt_artifacts.TargetModel, col: dbt_artifacts.TargetColumn) -> None:
        """Remember the target column a legacy column lands in; a plain copy or cast wins over a rule."""
        if not col.type:
            return
        plain = _plain_rule(col.mapping.rule)
        if key not in targets or (plain and not targets[key]["plain"]):
            targets[key] = {"model": model.name, "column": col.name, "type": col.type, "rule": col.mapping.rule, "plain": plain,
                            "expected_sql": bool(col.mapping.expression)}

    for model in models:
        for col in model.columns:
            # Landing's own bookkeeping columns (_migrate_synced_at ...) are not legacy data.
            refs = [(*resolve(ref.table, ref.column), str(ref)) for ref in col.mapping.sources
                    if ref.column not in (landing.SYNCED_AT, landing.DELETED)]
            used.update((t, c) for t, c, _ in refs if t and c)
            if not model.is_target:
                continue
            mapped.append({"model": model.name, "relation": model.relation, "column": col.name, "type": col.type,
                           "sources": [f"{t}.{c}" if t and c else f"{raw} (not in the source)" for t, c, raw in refs],
                           "rule": col.mapping.rule, "expression": col.mapping.expression})
            if not refs:
                unsourced.append({"model": model.name, "column": col.name, "rule": col.mapping.rule})
            resolved = [(t, c) for t, c, _ in refs if t and c]
            if len(resolved) == 1:
                offer_target(resolved[0], model, col)
            for t, c, raw in refs:
                if not (t and c):
                    findings.append(Finding(WARNING, "mapping", f"{model.name}.{col.name} maps from {raw}, which the listed source tables do not have",
                                            "fix the column's meta in the model YAML"))
            row_table = _match_name(model.source_table, table_names)
            if col.mapping.expression and row_table and col.type:
                expressions.append({"table": row_table, "alias": model.source_table, "model": model.name, "column": col.name,
                                    "type": col.type, "expression": col.mapping.expression})

    for (t, c), found in dispositions.items():
        if c == "*":
            continue
        used_by = [target_columns.get(tuple(ref.lower().split(".")[-2:])) for ref in found.targets]
        used_by = [u for u in used_by if u]
        if len(used_by) == 1:
            offer_target((t, c), *used_by[0])

    unmapped = []
    for table in tables:
        if not table.exists or (table.name, "*") in dispositions:
            continue
        missing = [c.name for c in columns[table.name] if (table.name, c.name) not in used and (table.name, c.name) not in dispositions]
        unmapped.extend({"table": table.name, "column": column} for column in missing)
        if missing:
            findings.append(Finding(WARNING, "mapping", f"{table.name}: {len(missing)} legacy column(s) with no mapping and no disposition: {', '.join(missing)}",
                                    "map them in an app column's meta (source) or give them a disposition in the sources YAML", table=table.name))
    for entry in unsourced:
        if not entry["rule"]:
            findings.append(Finding(WARNING, "mapping", f"target column {entry['model']}.{entry['column']} has no source and no rule",
                                    "name its legacy column(s) or its rule in the model YAML's column meta"))
    return {
        "checked": True,
        "mapped": mapped,
        "unmapped_source_columns": unmapped,
        "unsourced_target_columns": unsourced,
        "dispositions": {f"{t}.{c}": dataclasses.asdict(d) for (t, c), d in sorted(dispositions.items())},
    }, targets, expressions


def _plain_rule(rule: str | None) -> bool:
    """A rule that copies or casts the value as it is, so a raw trial cast says what the build will meet."""
    if not rule:
        return True
    first = rule.strip().lower().split()[0].strip(":;,.") if rule.strip() else ""
    return first in ("copy", "cast", "rename", "direct", "as-is", "identity", "same", "none", "passthrough", "pass-through")


def _target_schema(artifacts: dbt_artifacts.Artifacts, models: list[dbt_artifacts.TargetModel]) -> dict:
    return {
        "manifest": artifacts.manifest is not None,
        "catalog": artifacts.catalog is not None,
        "project": artifacts.project_name,
        "models": [
            {"name": m.name, "relation": m.relation, "layer": m.layer, "target": m.is_target, "materialized": m.materialized,
             "contract_enforced": m.contract_enforced,
             "columns": [{"name": c.name, "type": c.type, "type_from": c.type_from, "constraints": c.constraints} for c in m.columns]}
            for m in models
        ],
    }


# --- profile ----------------------------------------------------------------------------------


def _figure(count: int | None, sample: int, population: int) -> Figure:
    count = int(count or 0)
    return Figure(count, profiling.share(count, sample), profiling.proportion_margin(count, sample, population))


def _profile(conn: psycopg.Connection, config: Config, server: pg.ServerInfo, table: TableAssessment,
             table_config: TableConfig, cols: list[pg.ColumnInfo], targets: dict, sample_rows: int,
             findings: list[Finding]) -> profiling.SamplePlan:
    schema = config.source_schema
    plan = profiling.sample_plan(table.rows, table.bytes.get("heap", 0), sample_rows)
    checks = []
    for col in cols:
        target = targets.get((table.name, col.name))
        parsed = dbt_artifacts.parse_type(target["type"]) if target else None
        target_type = (pg.TargetType(parsed.type, parsed.base, parsed.length, parsed.precision, parsed.scale,
                                     trial_cast=not target["expected_sql"]) if parsed else None)
        checks.append(pg.ColumnChecks(col, masked=col.name in table_config.masks, target=target_type))

    # Wide tables are profiled in groups of columns, so no query exceeds PostgreSQL's 1664 output columns.
    n = 0
    figures: list[dict] = []
    for start in range(0, len(checks), 40):
        group = checks[start:start + 40]
        n, group_figures = pg.run_profile(conn, pg.profile_query(schema, table.name, plan, SEED, group, server), len(group))
        figures.extend(group_figures)
    texts = [i for i, check in enumerate(checks) if check.column.is_text]
    if texts:
        query = pg.text_pattern_query(schema, table.name, plan, SEED, [checks[i].column for i in texts])
        for i, patterns in zip(texts, pg.run_text_patterns(conn, query, len(texts))):
            figures[i].update(patterns)
    table.sample = {"method": plan.method, "percent": round(plan.percent, 4), "rows": n,
                    "of_rows": table.rows, "exact_rows": table.rows_exact}
    population = max(table.rows, n)

    for check, fig in zip(checks, figures):
        table.columns.append(_column_profile(check, fig, n, population, targets.get((table.name, check.column.name)), table_config))

    _top_values(conn, schema, table, plan, cols)
    _duplicates(conn, schema, table, cols, findings)
    _growth(conn, schema, table, plan, cols)
    _column_findings(table, cols, server, findings)
    return plan


def _column_profile(check: pg.ColumnChecks, fig: dict, n: int, population: int, target: dict | None,
                    table_config: TableConfig) -> ColumnProfile:
    col = check.column
    profile = ColumnProfile(col.name, col.type, col.not_null, _figure(fig.get("nulls"), n, population))
    profile.distinct = fig.get("distinct")
    profile.masked = table_config.masks.get(col.name)
    if "min" in fig:
        profile.min = _safe_text(fig["min"])
        profile.max = _safe_text(fig["max"])
    if col.category == "B":
        profile.true_count = fig.get("true")
    if col.is_text:
        profile.blanks = _figure(fig.get(f"class_{profiling.BLANK}"), n, population)
        profile.min_length, profile.max_length, profile.avg_length = fig.get("min_length"), fig.get("max_length"), fig.get("avg_length")
        non_null = n - profile.nulls.count
        for key in [p.key for p in profiling.PATTERN_CLASSES] + [profiling.OTHER]:
            count = int(fig.get(f"class_{key}") or 0)
            if count:
                profile.classes[key] = Figure(count, profiling.share(count, non_null),
                                              profiling.proportion_margin(count, non_null, max(non_null, round(non_null * population / max(n, 1)))))
        profile.invalid_dates = fig.get("invalid_dates")
        profile.ambiguous_dates = fig.get("ambiguous_dates")
        cards = profile.classes.get("card_number")
        # Random 13-19 digit identifiers pass Luhn one time in ten; real card numbers always do.
        profile.sensitive = bool(cards and cards.count >= 0.5 * int(fig.get("long_digits") or 0))
    if col.is_float:
        profile.near_cents, profile.float_noise, profile.non_finite = fig.get("near_cents"), fig.get("float_noise"), fig.get("non_finite")
    if col.base_type == "numeric":
        profile.max_scale = fig.get("max_scale")
    if target:
        profile.target = {k: v for k, v in target.items() if k not in ("plain", "expected_sql")}
        for key in ("too_long", "too_precise", "too_large", "cast_failures"):
            if key in fig:
                profile.target_checks[key] = _figure(fig[key], n, population)
    if profile.sensitive or profile.masked:
        profile.min = profile.max = None
    return profile


def _try_expressions(conn: psycopg.Connection, config: Config, server: pg.ServerInfo, table: TableAssessment,
                     plan: profiling.SamplePlan, items: list[dict], findings: list[Finding]) -> None:
    """Evaluate each app column's expected_sql over the legacy rows: an error or a value its target
    type refuses shows up now, not in the middle of the cutover's build."""
    n = table.sample.get("rows", 0)
    for item in items:
        if READS_OTHER_RELATIONS.search(item["expression"]):
            # A lookup into target tables (app.product ...) cannot run on the source.
            table.expected_sql.append({k: item[k] for k in ("model", "column", "type", "expression")}
                                      | {"rows": 0, "non_null": 0, "cast_failures": None, "error": None,
                                         "skipped": "reads other relations, which the source does not have"})
            continue
        result = pg.try_expression(conn, config.source_schema, table.name, item["alias"], plan, SEED, item["expression"], item["type"], server)
        entry = {k: item[k] for k in ("model", "column", "type", "expression")} | result
        table.expected_sql.append(entry)
        where = f"{item['model']}.{item['column']}"
        if result.get("error"):
            findings.append(Finding(WARNING, "mapping", f"the expected_sql of {where} fails on the legacy rows of {table.name}: {result['error']}",
                                    "fix the expression in the model YAML (it reads the landing row as \"" + item["alias"] + "\")", table=table.name))
        elif result.get("cast_failures"):
            share = profiling.share(result["cast_failures"], n)
            findings.append(Finding(WARNING, "conversion", f"{where}: {result['cast_failures']:,} of {n:,} profiled {table.name} rows give a value "
                                    f"that {item['type']} refuses (by its expected_sql)", "handle these values in the model or widen the target type",
                                    table=table.name, share=share))


def _safe_text(value: object) -> str | None:
    """Values shown in a report: card numbers masked, long texts cut."""
    if value is None:
        return None
    text = profiling.mask_card_numbers(str(value))
    return text if len(text) <= 80 else text[:77] + "..."


def _top_values(conn: psycopg.Connection, schema: str, table: TableAssessment, plan: profiling.SamplePlan,
                cols: list[pg.ColumnInfo]) -> None:
    by_name = {p.name: p for p in table.columns}
    n = table.sample.get("rows", 0)

    def repeats(p: ColumnProfile) -> bool:
        """Top values say something only when values repeat: at most one distinct value per two rows."""
        return p.distinct is not None and 0 < p.distinct <= min(TOP_VALUES_MAX_DISTINCT, (n - p.nulls.count) / 2)

    wanted = [c for c in cols if c.sortable and not by_name[c.name].sensitive and not by_name[c.name].masked and repeats(by_name[c.name])]
    for name, values in pg.top_values(conn, schema, table.name, plan, SEED, wanted, TOP_VALUES).items():
        by_name[name].top_values = [{"value": _safe_text(v), "count": c, "share": profiling.share(c, n)} for v, c in values]


def _duplicates(conn: psycopg.Connection, schema: str, table: TableAssessment, cols: list[pg.ColumnInfo],
                findings: list[Finding]) -> None:
    """Duplicates on the declared key (unless an index guarantees it) and on likely natural keys."""
    by_name = {c.name: c for c in cols}
    guaranteed = any(set(k["columns"]) == set(table.key) for k in table.unique_keys)
    email_pattern = next(p.regex for p in profiling.PATTERN_CLASSES if p.key == "email")
    checks: list[tuple[list[str], bool, str, str | None]] = []
    if table.key and not guaranteed:
        checks.append((table.key, False, f"declared key ({table.key_from})", None))
    if len(table.key) == 1 and by_name[table.key[0]].is_text:
        checks.append((table.key, True, "key ignoring case and blanks", None))
    profiles = {p.name: p for p in table.columns}
    for col in cols:
        p = profiles[col.name]
        if not col.is_text or p.sensitive or p.masked or [col.name] == table.key:
            continue
        non_blank = (table.sample.get("rows", 0) - p.nulls.count - (p.blanks.count if p.blanks else 0)) or 0
        emails = p.classes.get("email")
        email_like = emails is not None and emails.count >= 0.5 * max(non_blank, 1)
        distinct_ratio = profiling.share(p.distinct or 0, table.sample.get("rows", 0) - p.nulls.count)
        if email_like:
            checks.append(([col.name], True, "likely natural key: valid e-mails ignoring case and blanks", email_pattern))
        elif profiling.is_natural_key_name(col.name) and distinct_ratio >= 0.9:
            checks.append(([col.name], True, "likely natural key, ignoring case and blanks", None))
    for columns, normalise, why, pattern in checks:
        found = pg.duplicates(conn, schema, table.name, columns, normalise, pattern)
        share = profiling.share(found["extra_rows"], table.rows)
        table.duplicates.append({"columns": columns, "normalised": normalise, "why": why, **found, "extra_share": share})
        label = ", ".join(columns)
        if why.startswith("declared"):
            if found["groups"]:
                findings.append(Finding(BLOCKING, "keys", f"{table.name}: {found['extra_rows']:,} rows repeat a value of its key ({label})",
                                        "choose a key that identifies one row, or clean the duplicates at the source", table=table.name, share=share))
            if found["rows_with_null_key"]:
                findings.append(Finding(BLOCKING, "keys", f"{table.name}: {found['rows_with_null_key']:,} rows have a NULL in the key ({label})",
                                        "choose key columns that are never NULL", table=table.name,
                                        share=profiling.share(found["rows_with_null_key"], table.rows)))
        elif found["groups"]:
            findings.append(Finding(WARNING, "quality",
                                    f"{table.name}.{label}: {found['extra_rows']:,} rows ({share:.1%}) duplicate another row's value ignoring case and blanks "
                                    f"({found['groups']:,} groups)", "decide in the mapping which row survives and record the merges",
                                    table=table.name, column=label, share=share))


def _growth(conn: psycopg.Connection, schema: str, table: TableAssessment, plan: profiling.SamplePlan,
            cols: list[pg.ColumnInfo]) -> None:
    """Rows per month from the column that best tells when a row arrived, scaled from the sample."""
    profiles = {p.name: p for p in table.columns}
    candidates = []
    for col in cols:
        typed = col.base_type in ("date", "timestamp", "timestamptz")
        texty = col.is_text and _date_share(profiles[col.name]) >= 0.5
        if not (typed or texty):
            continue
        rank = profiling.creation_date_rank(col.name, typed)
        if rank is not None:
            candidates.append((rank, col.position, col))
    if not candidates:
        return
    _, _, col = min(candidates, key=lambda c: (c[0], c[1]))
    months = pg.monthly_counts(conn, schema, table.name, plan, SEED, col)
    if not months:
        return
    n = table.sample.get("rows", 0) or 1
    scale = table.rows / n if n else 1.0
    scaled = [{"month": m, "rows": round(c * scale)} for m, c in months]
    last12 = scaled[-12:]
    per_month = sum(m["rows"] for m in last12) / len(last12)
    bytes_per_row = table.bytes.get("total", 0) / table.rows if table.rows else 0
    table.growth = {
        "column": col.name, "first_month": scaled[0]["month"], "last_month": scaled[-1]["month"],
        "months": scaled, "rows_per_month_last_12": round(per_month), "bytes_per_month": round(per_month * bytes_per_row),
        "how": f"rows per calendar month of {col.name}" + (f", counted in the sample and scaled ×{scale:,.1f}" if plan.sampled else ""),
    }


def _date_share(profile: ColumnProfile) -> float:
    dates = sum(f.count for k, f in profile.classes.items() if profiling.CLASS_KINDS.get(k) == "date")
    non_blank = sum(f.count for f in profile.classes.values())
    return profiling.share(dates, non_blank)


def _column_findings(table: TableAssessment, cols: list[pg.ColumnInfo], server: pg.ServerInfo, findings: list[Finding]) -> None:
    """Conversion risks and sensitive data, column by column."""
    n = table.sample.get("rows", 0)
    by_name = {c.name: c for c in cols}
    for p in table.columns:
        col = by_name[p.name]
        where = f"{table.name}.{p.name}"
        non_blank = sum(f.count for f in p.classes.values())
        if p.sensitive:
            cards = p.classes["card_number"]
            if p.masked:
                findings.append(Finding(INFO, "sensitive", f"{where} holds full card numbers ({cards.share:.1%} of values); migration.yml masks it ({p.masked})",
                                        table=table.name, column=p.name, share=cards.share))
            else:
                findings.append(Finding(BLOCKING, "sensitive", f"{where} holds full card numbers ({cards.count:,} Luhn-valid values in the profiled rows) and migration.yml does not mask it",
                                        f"add masks: {{{p.name}: last4}} under tables.{table.name} in migration.yml", table=table.name, column=p.name, share=cards.share))
            p.risks.append("sensitive: card numbers")
        if col.is_text and non_blank:
            date_classes = {k: f for k, f in p.classes.items() if profiling.CLASS_KINDS.get(k) == "date"}
            dates = sum(f.count for f in date_classes.values())
            if dates >= 0.5 * non_blank:
                formats = ", ".join(f"{profiling.CLASS_LABELS[k]} {f.share:.1%}" for k, f in sorted(date_classes.items(), key=lambda kv: -kv[1].count))
                other = non_blank - dates
                extra = []
                if p.invalid_dates:
                    extra.append(f"{p.invalid_dates:,} impossible dates")
                if p.ambiguous_dates:
                    extra.append(f"{p.ambiguous_dates:,} could be day-first or month-first")
                if other:
                    extra.append(f"{other:,} not dates at all")
                bad = (p.invalid_dates or 0) + other
                p.risks.append("text holding dates")
                findings.append(Finding(WARNING, "conversion", f"{where} is text holding dates in {len(date_classes)} format(s): {formats}"
                                        + (f"; {', '.join(extra)} in {n:,} profiled rows" if extra else ""),
                                        "parse each format explicitly in staging; send the unparseable to quarantine or a finding",
                                        table=table.name, column=p.name, share=profiling.share(bad, n)))
            numbers = p.classes.get("number")
            formatted = p.classes.get("formatted_number")
            numeric_count = (numbers.count if numbers else 0) + (formatted.count if formatted else 0)
            if numeric_count >= 0.5 * non_blank and dates < 0.5 * non_blank and not p.sensitive:
                p.risks.append("text holding numbers")
                detail = f"; {formatted.count:,} formatted (currency signs, separators, comma decimals)" if formatted else ""
                findings.append(Finding(WARNING if formatted else INFO, "conversion",
                                        f"{where} is text holding numbers ({profiling.share(numeric_count, non_blank):.1%} of values){detail}",
                                        "parse it in staging with an explicit rule for each format", table=table.name, column=p.name,
                                        share=profiling.share(formatted.count if formatted else 0, n)))
        if col.is_float and p.near_cents is not None:
            values = n - p.nulls.count - (p.non_finite or 0)
            money = profiling.is_money_name(p.name) or (values >= 10 and p.near_cents >= 0.9 * values)
            if money and values:
                p.risks.append("float money")
                noise = (f"; {p.float_noise:,} of {n:,} profiled values carry float noise (not exactly a cent value)"
                         if p.float_noise else "")
                findings.append(Finding(WARNING, "conversion", f"{where} is float money ({p.type}){noise}",
                                        "convert to integer cents (or numeric) with explicit rounding, half away from zero",
                                        table=table.name, column=p.name, share=profiling.share(p.float_noise or 0, n)))
        if col.is_timestamp_without_zone:
            p.risks.append("timestamp without time zone")
        if p.target and p.target_checks:
            plain = _plain_rule(p.target.get("rule"))
            for key, text in (("too_long", "longer than"), ("too_precise", "more decimals than"), ("too_large", "too large for"),
                              ("cast_failures", "failing a trial cast to")):
                figure = p.target_checks.get(key)
                if figure and figure.count:
                    p.risks.append(key.replace("_", " "))
                    target = f"{p.target['model']}.{p.target['column']} {p.target['type']}"
                    rule = "" if plain else f" (before its rule: {p.target['rule']})"
                    findings.append(Finding(WARNING if plain else INFO, "conversion",
                                            f"{where}: {figure.count:,} values ({figure.share:.1%}) {text} {target}{rule}",
                                            "widen the target type or handle these values in the mapping",
                                            table=table.name, column=p.name, share=figure.share))
        if col.type_schema != "pg_catalog" or col.base_type in ("money", "oid", "xid", "tid", "cid", "char"):
            p.risks.append("unsupported type")
            what = "money depends on the server's locale" if col.base_type == "money" else (
                f"type {col.type} must exist in the target before load" if col.type_schema != "pg_catalog" else f"system type {col.type}")
            findings.append(Finding(WARNING, "types", f"{where}: {what}",
                                    "create the type in the target or cast it to a standard type in the copy", table=table.name, column=p.name))


def _local_time_finding(server: pg.ServerInfo, tables: list[TableAssessment], findings: list[Finding]) -> None:
    """One finding for every timestamp without time zone: the decision (which zone) is one too."""
    local = [f"{t.name}.{p.name}" for t in tables for p in t.columns if "timestamp without time zone" in p.risks]
    if local:
        zone = server.settings.get("TimeZone", "?")
        findings.append(Finding(WARNING, "conversion",
                                f"{len(local)} timestamp column(s) without time zone: {', '.join(local)}; the zone they were written in is not stored",
                                f"name the zone in the mapping (the source server's TimeZone is {zone}) and decide the DST gap and repeated hour"))


def database_findings(source: pg.DatabaseLocale, target: pg.DatabaseLocale) -> list[Finding]:
    """Where the target database differs from the source in server version, encoding or default
    locale, and what follows from it. (Provision creates the target with the source's encoding and
    locale; a target made otherwise, or target.database_options, differs.)"""
    findings = []
    remedy = ("let `migrate provision` create the target database (it takes the source's encoding and locale), "
              "or set target.database_options in migration.yml; keep the difference only if the new application needs it")
    s, t = source.options, target.options
    if s.encoding != t.encoding:
        findings.append(Finding(WARNING, "settings",
                                f"the source database is encoded {s.encoding}, the target {t.encoding}: text is converted on its way "
                                f"into landing, a character {t.encoding} cannot hold stops the load, lengths in bytes change, and the "
                                "checksums hash every row as UTF-8 with md5 (portable, slower)", remedy))
    differing = [name for name in ("lc_collate", "lc_ctype", "locale_provider", "icu_locale", "icu_rules", "builtin_locale")
                 if getattr(s, name) != getattr(t, name)]
    if differing:
        options = "; ".join(f"{name} {getattr(s, name) or 'unset'} on the source, {getattr(t, name) or 'unset'} on the target"
                            for name in differing)
        if source.sort_order != target.sort_order:
            consequence = (f"text sorts differently: {', '.join(pg.SORT_SAMPLE)} sort as {' < '.join(source.sort_order)} on the source "
                           f"and as {' < '.join(target.sort_order)} on the target, so `order by`, <, >, min, max, between and "
                           "unique indexes over text without a collation of its own give other results on the target")
        else:
            consequence = ("text may sort differently beyond plain ASCII (accents, other scripts): `order by`, <, >, min and max "
                           "over text without a collation of its own may give other results on the target")
        if s.lc_ctype != t.lc_ctype:
            consequence += "; upper, lower, ILIKE and regular-expression classes may treat non-ASCII letters differently"
        # The harness's own key ranges, checksum segments and hashes do not depend on the default collation.
        findings.append(Finding(WARNING if source.sort_order != target.sort_order else INFO, "settings",
                                f"the target database's default locale differs from the source's ({options}): {consequence}", remedy))
    if source.major != target.major:
        newer = target.major > source.major
        findings.append(Finding(
            INFO if newer else WARNING, "settings",
            f"the source runs PostgreSQL {source.version}, the target {target.version}: "
            + ("the models run on the newer server, whose planner, defaults and functions differ in places; its ICU or C library "
               "may sort some text differently; a rehearsal on the target's version shows both"
               if newer else
               "the target is older: a source backup cannot be restored onto its server, and features the source uses may be missing there"),
            "rehearse on the target's server version" if newer else "use a target server at least as new as the source's",
        ))
    return findings


# --- relationships ----------------------------------------------------------------------------


def reference_candidates(tables: list[TableAssessment], columns: dict[str, list[pg.ColumnInfo]]) -> list[tuple[str, str, str, str]]:
    """(child table, column, parent table, key) pairs whose names suggest a reference and whose
    types can be compared; parents are listed tables with a single-column key."""
    parents = [(t.name, t.key[0]) for t in tables if t.exists and t.can_select and len(t.key) == 1]
    result = []
    for child in tables:
        if not (child.exists and child.can_select):
            continue
        declared = {(fk["references_table"], tuple(fk["columns"])) for fk in child.foreign_keys}
        for col in columns[child.name]:
            for parent, key in parents:
                if parent == child.name:
                    continue
                key_col = next((c for c in columns[parent] if c.name == key), None)
                if key_col is None or key_col.category != col.category or (parent, (col.name,)) in declared:
                    continue
                if profiling.names_suggest_reference(col.name, parent, key):
                    result.append((child.name, col.name, parent, key))
    return result


def _relationships(conn: psycopg.Connection, config: Config, tables: list[TableAssessment], columns: dict[str, list[pg.ColumnInfo]],
                   plans: dict[str, profiling.SamplePlan], findings: list[Finding]) -> list[Relationship]:
    listed = {t.name for t in tables if t.exists}
    result = []
    for table in tables:
        for fk in table.foreign_keys:
            if fk["references_table"] in listed and fk["references_schema"] == config.source_schema and len(fk["columns"]) == 1:
                result.append(Relationship(table.name, fk["columns"][0], fk["references_table"], fk["references_columns"][0],
                                           declared=True, match_rate=1.0, likely=True))
    by_table = {t.name: t for t in tables}
    for child, column, parent, key in reference_candidates(tables, columns):
        plan = plans.get(child)
        if plan is None:
            continue
        text = next(c for c in columns[child] if c.name == column).is_text
        found = pg.reference_match(conn, config.source_schema, child, column, plan, SEED, parent, key, text)
        checked = found["checked"]
        population = max(round(checked * by_table[child].rows / max(by_table[child].sample.get("rows", 1), 1)), checked)
        rel = Relationship(child, column, parent, key, declared=False, checked=checked, matched=found["matched"],
                           match_rate=profiling.share(found["matched"], checked),
                           margin=profiling.proportion_margin(found["matched"], checked, population))
        if text:
            rel.normalised_match_rate = profiling.share(found["matched_normalised"], checked)
        rel.orphan_rate = 1.0 - max(rel.match_rate, rel.normalised_match_rate or 0.0) if checked else 0.0
        rel.likely = checked > 0 and max(rel.match_rate, rel.normalised_match_rate or 0) >= LIKELY_REFERENCE
        result.append(rel)
        if rel.likely:
            where = f"{child}.{column} → {parent}.{key}"
            if rel.orphan_rate > 0:
                findings.append(Finding(WARNING, "relationships",
                                        f"{where} (undeclared): {rel.orphan_rate:.2%} of {checked:,} values have no parent (orphans)",
                                        "decide in the mapping: quarantine the orphans or attach them to a placeholder parent",
                                        table=child, column=column, share=rel.orphan_rate))
            if text and rel.normalised_match_rate is not None and rel.normalised_match_rate - rel.match_rate > 0.0001:
                findings.append(Finding(WARNING, "relationships",
                                        f"{where}: {rel.normalised_match_rate - rel.match_rate:.2%} of values match only when case and blanks are ignored",
                                        "normalise both sides (upper, trim) in staging before joining", table=child, column=column,
                                        share=rel.normalised_match_rate - rel.match_rate))
    return result


# --- timing -----------------------------------------------------------------------------------


def _time(src: psycopg.Connection, config: Config, table: TableAssessment, table_config: TableConfig,
          cols: list[pg.ColumnInfo], probe: LoadProbe | None) -> None:
    plan = profiling.sample_plan(table.rows, table.bytes.get("heap", 0), TIMING_SAMPLE_ROWS)
    if probe is not None and probe.done:
        copy = pg.Timing(probe.rows, probe.bytes, probe.copy_seconds,
                         "one key range, as load plans them, copied by load's own code (psql COPY in binary from the source, "
                         "streamed into a landing-shaped table in a scratch schema of the target), then its key and ANALYZE; "
                         "the tables' ranges timed as many at once as load's workers")
    else:
        copy = pg.time_read(src, config.source_schema, table.name, cols, dict(table_config.masks), plan, SEED + 1)
        if probe is not None and probe.note:
            copy.notes.append(probe.note)
        if not table.key:
            copy.notes.append("target write not measured: the table has no key, so load would refuse it")
    transform_rows, transform_seconds = pg.time_transform(src, config.source_schema, table.name, cols, plan, SEED + 1)
    hash_rows, hash_seconds = pg.time_hash(src, config.source_schema, table.name, plan, SEED + 1)
    as_load = probe is not None and probe.done
    table.timing = {
        "sample": {"method": plan.method, "percent": round(plan.percent, 4)},
        "as_load": as_load,
        "ranges": probe.ranges if probe is not None else 1,
        "copy_range": [_plain(probe.lower), _plain(probe.upper)] if as_load else None,
        "copy_rows": copy.rows, "copy_bytes": copy.bytes, "copy_seconds": round(copy.seconds, 4), "copy_how": copy.how,
        "copy_rows_per_second": round(profiling.share(copy.rows, copy.seconds)),
        "copy_bytes_per_second": round(profiling.share(copy.bytes, copy.seconds)),
        "key_seconds": round(probe.key_seconds, 4) if as_load else 0.0,
        "analyze_seconds": round(probe.analyze_seconds, 4) if as_load else 0.0,
        "transform_rows": transform_rows, "transform_seconds": round(transform_seconds, 4),
        "transform_rows_per_second": round(profiling.share(transform_rows, transform_seconds)),
        "hash_rows": hash_rows, "hash_seconds": round(hash_seconds, 4),
        "hash_rows_per_second": round(profiling.share(hash_rows, hash_seconds)),
        "notes": copy.notes,
    }


def _plain(value: object) -> object:
    """A key bound as JSON holds it."""
    return value if value is None or isinstance(value, int) else str(value)


# --- the load probe: one range of each table, copied the way `migrate load` copies it ----------


@dataclass
class LoadProbe:
    table: landing.SourceTable
    ranges: int  # key ranges load plans for the table
    lower: object = None  # the range timed, as load bounds its ranges (None: open)
    upper: object = None
    rows: int = 0
    bytes: int = 0
    copy_seconds: float = 0.0
    key_seconds: float = 0.0
    analyze_seconds: float = 0.0
    done: bool = False
    note: str | None = None  # why the target side could not be timed


def _plan_probes(src: psycopg.Connection, config: Config, tables: list[TableAssessment],
                 columns: dict[str, list[pg.ColumnInfo]], range_rows: int) -> list[LoadProbe]:
    """Which range of each keyed table to time: the middle one of the ranges load plans for it; for
    a big table that load copies in one piece (its key is not an integer), its first range_rows rows."""
    probes = []
    for table in tables:
        if not (table.exists and table.can_select and table.key):
            continue
        cols = columns[table.name]
        source_table = landing.SourceTable(table.name, [postgres.Column(c.name, c.type, c.not_null) for c in cols],
                                           list(table.key), dict(config.table(table.name).masks))
        ranges = load._plan_ranges(src, config.source_schema, source_table, range_rows)
        lower, upper = ranges[len(ranges) // 2]
        leading = next(c for c in cols if c.name == table.key[0])
        if len(ranges) == 1 and table.rows > 1.5 * range_rows and leading.sortable:
            upper = pg.key_after(src, config.source_schema, table.name, leading.name, range_rows)
        probes.append(LoadProbe(source_table, len(ranges), lower, upper))
    return probes


def _run_probes(config: Config, source: Database, target: Database, src: psycopg.Connection, probes: list[LoadProbe],
                jobs: int) -> None:
    """Copy each probe's range with load's own code into a landing-shaped table in a scratch schema of
    the target, `jobs` at a time as load's workers run, then build its key and ANALYZE it the way load
    finishes a table. The source is read in the assessment's snapshot; the scratch schemas are dropped."""
    if not probes:
        return
    (snapshot_id,) = src.execute("select pg_export_snapshot()").fetchone()
    probe_config = dataclasses.replace(config, landing_schema=PROBE_LANDING, control_schema=PROBE_CONTROL)
    with connections.connection(target, command="assess", autocommit=True) as conn:
        try:
            ready = _create_probe_tables(conn, probes)
            _copy_probes(probe_config, source, target, snapshot_id, ready, jobs)
        finally:
            _drop_probe_schemas(conn)


def _not_measured(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return f"target write not measured: {lines[0] if lines else type(exc).__name__}"


def _drop_probe_schemas(conn: psycopg.Connection) -> None:
    for schema in (PROBE_LANDING, PROBE_CONTROL):
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


def _create_probe_tables(conn: psycopg.Connection, probes: list[LoadProbe]) -> list[LoadProbe]:
    """The scratch landing and control schemas, and a landing table per probe as load creates them;
    the probes whose table the target refuses (a privilege, a type it lacks) get a note instead."""
    try:
        _drop_probe_schemas(conn)  # left behind by an assessment that was killed
        control.ensure(conn, PROBE_CONTROL)  # load marks its ranges done there
    except psycopg.Error as exc:
        for probe in probes:
            probe.note = _not_measured(exc)
        return []
    ready = []
    for probe in probes:
        try:
            # As load creates its landing tables: the key and our columns come when the table is finished.
            landing.create_landing_table(conn, PROBE_LANDING, probe.table, with_key=False, with_sync_columns=False)
            ready.append(probe)
        except psycopg.Error as exc:
            probe.note = _not_measured(exc)
    return ready


def _copy_probes(probe_config: Config, source: Database, target: Database, snapshot_id: str, probes: list[LoadProbe],
                 jobs: int) -> None:
    """The probes over `jobs` workers, most ranges first, as load's worker pool takes its ranges."""

    def measure(dst: psycopg.Connection, probe: LoadProbe, _nothing_left: Callable[[], bool]) -> None:
        try:
            _copy_probe(probe_config, source, dst, snapshot_id, probe)
        except (psycopg.Error, HarnessError) as exc:
            dst.rollback()
            probe.note = _not_measured(exc)

    load.run_workers(sorted(probes, key=lambda p: -p.ranges), measure, target, "assess load probe", jobs)


def _copy_probe(probe_config: Config, source: Database, dst: psycopg.Connection, snapshot_id: str, probe: LoadProbe) -> None:
    landing_table = postgres.qualified(probe_config.landing_schema, probe.table.name)
    job = load.RangeJob(probe.table, 0, probe.lower, probe.upper)
    started = time.perf_counter()
    # load_id 0 names no load: the range is copied as load copies one, and marks nothing done.
    probe.rows, probe.bytes = load._copy_range(probe_config, source, dst, job, 0, snapshot_id, "")
    copied = time.perf_counter()
    # Finished as load finishes a table while its other workers are still copying.
    load._finish_table(dst, probe_config.landing_schema, probe.table, alone=False)
    finished = time.perf_counter()
    # ANALYZE once more on its own, to tell it apart: the key grows with the rows, ANALYZE's sample does not.
    dst.execute(sql.SQL("analyze {}").format(landing_table))
    dst.commit()
    probe.copy_seconds = copied - started
    probe.analyze_seconds = time.perf_counter() - finished
    probe.key_seconds = max(0.0, finished - copied - probe.analyze_seconds)
    probe.done = True
    dst.execute(sql.SQL("drop table {}").format(landing_table))  # its space back while the others copy
    dst.commit()


def _landing_rows(conn: psycopg.Connection, config: Config) -> int:
    """Rows now in landing (pg_class estimates): the volume the last dbt build ran on."""
    rows = conn.execute(
        "select coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = any(%s) and c.relkind = 'r'",
        (config.landing_schema, [t.name for t in config.tables]),
    ).fetchone()[0]
    return int(rows)


# --- constraints and strategies ---------------------------------------------------------------


def capture_paths(config: Config, server: pg.ServerInfo, privileges: dict, tables: list[TableAssessment],
                  columns: dict[str, list[pg.ColumnInfo]]) -> dict:
    """Whether sync can capture changes the way migration.yml says (capture.method), and what is missing.

    Trigger capture (harness/capture.py) creates schema _migrate and a trigger per table: CREATE on
    the database and TRIGGER on the tables. Timestamp capture needs capture.column on every table.
    """
    existing = [t for t in tables if t.exists]
    trigger_missing = []
    if not (privileges.get("database_create") or privileges.get("capture_schema_create")):
        trigger_missing.append(f'CREATE on database "{server.database}" (for the change-log schema {CAPTURE_SCHEMA})')
    no_trigger = [t.name for t in existing if not t.can_trigger]
    if no_trigger:
        trigger_missing.append(f"TRIGGER on {', '.join(no_trigger)}")
    stamp = config.capture.column
    no_stamp = [t.name for t in existing if stamp not in {c.name for c in columns.get(t.name, [])}]
    if not stamp:
        timestamp_missing = ["capture.column (the last-updated column) in migration.yml"]
    else:
        timestamp_missing = [f"column {stamp!r} on {', '.join(no_stamp)}"] if no_stamp else []
    chosen = trigger_missing if config.capture.method == "trigger" else timestamp_missing
    missing = [f"{config.capture.method} change capture: " + " and ".join(chosen)] if chosen else []
    keyless = [t.name for t in existing if not t.key]
    if keyless:
        missing.append(f"a key on every table to apply changes by ({', '.join(keyless)} has none)")
    return {
        "capture_method": config.capture.method,
        "capture_trigger": not trigger_missing, "capture_trigger_missing": trigger_missing,
        "capture_timestamp": not timestamp_missing, "capture_timestamp_missing": timestamp_missing,
        "logical_decoding": server.settings.get("wal_level") == "logical" and (server.superuser or server.replication),
        "missing": missing,
    }


def _constraint_findings(config: Config, server: pg.ServerInfo, privileges: dict, tables: list[TableAssessment],
                         findings: list[Finding]) -> None:
    for table in tables:
        if not table.exists:
            continue
        primary = any(k["primary"] for k in table.unique_keys)
        if table.key and not primary and not any(set(k["columns"]) == set(table.key) for k in table.unique_keys):
            findings.append(Finding(WARNING, "keys", f"{table.name} has no primary key; migration.yml names ({', '.join(table.key)}), "
                                    "which nothing in the source keeps unique",
                                    "add a unique index on those columns at the source if the owners allow; until then a duplicate written "
                                    "by the legacy application stops load or sync", table=table.name))
        for trigger in table.triggers:
            if trigger["name"].startswith(CAPTURE_TRIGGER):
                continue  # the harness's own change capture, installed by sync
            findings.append(Finding(WARNING, "triggers", f"{table.name} has trigger {trigger['name']} ({trigger['enabled']}): "
                                    f"{trigger['definition']}", "check what it writes: the target must reproduce it or the new application must own it",
                                    table=table.name))
        for rule in table.rules:
            findings.append(Finding(WARNING, "triggers", f"{table.name} has rule {rule['name']}: writes may be rewritten",
                                    "reproduce or retire the rule's effect in the target", table=table.name))
    if privileges.get("schema_exists") and not privileges.get("schema_usage"):
        findings.append(Finding(BLOCKING, "privileges", f'the migration user may not use schema "{config.source_schema}" (no USAGE)',
                                f'grant usage on schema "{config.source_schema}" to the migration user'))


def _strategy_findings(config: Config, options: list[estimates.StrategyEstimate], limit_seconds: float | None,
                       capture: dict, findings: list[Finding]) -> None:
    by_name = {s.name: s for s in options}
    chosen = by_name.get(config.strategy)
    if chosen is None:
        return
    label = estimates.STRATEGY_LABELS[config.strategy]
    if chosen.missing:
        findings.append(Finding(BLOCKING, "privileges" if "capture" in chosen.missing[0] else "keys",
                                f"migration.yml chooses {label}, which needs " + "; ".join(chosen.missing),
                                "grant the missing privileges or change the settings, or choose another strategy in migration.yml"))
    elif capture["missing"] and config.strategy != "parallel_run":
        findings.append(Finding(INFO, "privileges", "a parallel run is not possible as configured: " + "; ".join(capture["missing"])))
    if limit_seconds is not None and chosen.within_limit is False:
        fitting = [s for s in options if s.possible and s.within_limit]
        fix = (f"change strategy to {fitting[0].name} in migration.yml" if fitting
               else "no strategy fits: negotiate a longer window or speed up the load (bigger machine, parallel copy)")
        findings.append(Finding(BLOCKING, "downtime", f"{label} needs about {estimates.format_duration(chosen.downtime_seconds)} of downtime, "
                                f"over the {estimates.format_duration(limit_seconds)} limit in migration.yml", fix))


def _finding_order(f: Finding) -> tuple:
    severity = {BLOCKING: 0, WARNING: 1, INFO: 2}[f.severity]
    area = AREAS.index(f.area) if f.area in AREAS else len(AREAS)
    return (severity, area, -(f.share or 0.0), f.table or "", f.column or "")


def _verdict(findings: list[Finding], recommendation: estimates.Recommendation) -> dict:
    blocking = [f for f in findings if f.severity == BLOCKING]
    warnings = [f for f in findings if f.severity == WARNING]
    if blocking:
        status, label = "blocked", "Blocked"
        headline = f"{len(blocking)} problem(s) must be fixed before the migration can start"
    elif warnings:
        status, label = "ready_with_risks", "Ready with risks"
        headline = f"{len(warnings)} warning(s) to handle in the mapping or the plan"
    else:
        status, label = "ready", "Ready"
        headline = "no blocking problem and no warning"
    if recommendation.strategy:
        headline += f"; recommended strategy: {estimates.STRATEGY_LABELS[recommendation.strategy]}"
    return {"status": status, "label": label, "headline": f"{label}: {headline}", "blocking": len(blocking), "warnings": len(warnings),
            "info": len(findings) - len(blocking) - len(warnings)}


# --- history: estimates against measured loads ------------------------------------------------


def _history(reports_root: Path) -> list[dict]:
    path = reports.latest(reports_root, REPORT_NAME)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    history = data.get("history") if isinstance(data, dict) else None
    return [h for h in history if isinstance(h, dict) and "assessed_at" in h] if isinstance(history, list) else []


FINISHED_COLUMNS = ("finished_at", "ended_at", "completed_at", "end_time", "finished", "ended")
STARTED_COLUMNS = ("started_at", "start_time", "started", "begun_at")
SECONDS_COLUMNS = ("seconds", "duration_seconds", "elapsed_seconds", "total_seconds", "load_seconds", "duration")
STATUS_COLUMNS = ("status", "state", "outcome", "result")
OK_STATUSES = ("finished", "succeeded", "success", "ok", "done", "completed", "passed")


def measured_window(conn: psycopg.Connection, control_schema: str) -> dict | None:
    """The write window of the last parallel-run cutover that succeeded, else of the last successful
    rehearsal: each step's seconds and where they come from (None when neither ran)."""
    if not pg.table_exists_in(conn, control_schema, "runs"):
        return None
    cutover = conn.execute(sql.SQL(
        "select r.run_id, r.finished_at, jsonb_object_agg(s.step, extract(epoch from s.finished_at - s.started_at)) "
        "from {runs} r join {steps} s using (run_id) "
        "where r.command = 'cutover' and r.status = 'succeeded' and coalesce(r.detail ->> 'strategy', 'parallel_run') = 'parallel_run' "
        "and s.status = 'succeeded' group by r.run_id order by r.run_id desc limit 1"
    ).format(runs=sql.Identifier(control_schema, "runs"), steps=sql.Identifier(control_schema, "steps"))).fetchone()
    if cutover:
        return {"steps": cutover[2], "source": f"cutover run {cutover[0]} ({cutover[1]:%Y-%m-%d %H:%M})"}
    if not pg.table_exists_in(conn, control_schema, "rehearsals"):
        return None
    rehearsal = conn.execute(sql.SQL(
        "select rehearsal_id, finished_at, timings from {} where status = 'succeeded' order by rehearsal_id desc limit 1"
    ).format(sql.Identifier(control_schema, "rehearsals"))).fetchone()
    if rehearsal:
        return {"steps": rehearsal[2], "source": f"rehearsal {rehearsal[0]} ({rehearsal[1]:%Y-%m-%d %H:%M}, on disposable copies)"}
    return None


def last_sync_build(conn: psycopg.Connection, control_schema: str) -> dict | None:
    """How long the last incremental sync build took (sync_state, written by every sync batch's
    build): what the final sync's build will take, measured. None before one ran."""
    if not pg.table_exists_in(conn, control_schema, "sync_state"):
        return None
    state = sql.Identifier(control_schema, "sync_state")
    has_timing = conn.execute("select exists (select from pg_attribute where attrelid = to_regclass(%s) and attname = 'sync_build_seconds')",
                              (state.as_string(conn),)).fetchone()[0]
    if not has_timing:  # a control schema from before builds were timed
        return None
    row = conn.execute(sql.SQL("select sync_build_seconds, sync_built_at from {} where sync_build_seconds is not null "
                               "order by sync_built_at desc limit 1").format(state)).fetchone()
    if row is None:
        return None
    return {"seconds": float(row[0]), "source": f"the last sync build ({control_schema}.sync_state, {row[1]:%Y-%m-%d %H:%M})"}


def latest_load_run(conn: psycopg.Connection, control_schema: str) -> dict | None:
    """The latest finished row of <control_schema>.load_runs, written by `migrate load`, if any."""
    if not pg.table_exists_in(conn, control_schema, "load_runs"):
        return None
    names = [r[0] for r in conn.execute(
        "select a.attname from pg_attribute a where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped",
        (f'"{control_schema}"."load_runs"',)).fetchall()]
    finished = next((c for c in FINISHED_COLUMNS if c in names), None)
    started = next((c for c in STARTED_COLUMNS if c in names), None)
    seconds = next((c for c in SECONDS_COLUMNS if c in names), None)
    status = next((c for c in STATUS_COLUMNS if c in names), None)
    if finished is None and seconds is None:
        return None
    conditions = [sql.SQL("{} is not null").format(sql.Identifier(finished or seconds))]
    if status:
        conditions.append(sql.SQL("lower({}::text) = any({})").format(sql.Identifier(status), sql.Literal(list(OK_STATUSES))))
    order = sql.Identifier(finished or started or seconds)
    query = sql.SQL("select * from {} where {} order by {} desc nulls last limit 1").format(
        sql.Identifier(control_schema, "load_runs"), sql.SQL(" and ").join(conditions), order)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query).fetchone()
    if row is None:
        return None
    measured = float(row[seconds]) if seconds and row.get(seconds) is not None else None
    if measured is None and started and finished and row.get(started) and row.get(finished):
        measured = (row[finished] - row[started]).total_seconds()
    if measured is None:
        return None
    when = row.get(started) or row.get(finished)
    return {
        "seconds": measured,
        "started_at": row[started].isoformat() if started and row.get(started) else None,
        "finished_at": row[finished].isoformat() if finished and row.get(finished) else None,
        "reference": when.isoformat() if hasattr(when, "isoformat") else None,
        "copy_seconds": _number(row.get("copy_seconds")),
        "build_seconds": _number(row.get("build_seconds")),
    }


def _number(value: object) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def compare_with_load(history: list[dict], load_run: dict | None) -> dict | None:
    """The estimate made before the load, beside the load's measured time, and the error."""
    if load_run is None:
        return None
    reference = load_run.get("reference")
    earlier = [h for h in history if reference is None or h["assessed_at"] <= _utc(reference)]
    result = {"load_run": load_run, "estimate": None, "error": None}
    if not earlier:
        result["note"] = "no assessment was recorded before this load"
        return result
    estimate = earlier[-1]
    phases = estimate.get("estimates") or {}
    # load_runs.seconds is the copy into landing; the dbt build that `migrate load` runs after it is not in it.
    estimated = float(phases.get("initial_load", 0))
    result["estimate"] = {"assessed_at": estimate["assessed_at"], "seconds": estimated, "build": phases.get("build")}
    result["error"] = estimates.estimate_error(estimated, load_run["seconds"])
    return result


def _utc(stamp: str) -> str:
    """An ISO timestamp in UTC with seconds precision, comparable as text with assessed_at."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")
