"""The assessment run: one read-only snapshot of the source, each step over one `_Run`, then the
estimates, findings and verdict gathered into an `Assessment`."""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from harness import dbt, load
from harness.assess import estimates, recommendation
from harness.assess.catalog import inventory
from harness.assess.constraints import (
    capture_paths,
    constraint_findings,
    database_findings,
)
from harness.assess.history import (
    HISTORY_LIMIT,
    compare_with_load,
    earlier_assessments,
    last_sync_build,
    latest_load_run,
    measured_window,
)
from harness.assess.mapping import mapping, target_schema
from harness.assess.model import (
    BLOCKING,
    Assessment,
    Finding,
    Relationship,
    TableAssessment,
    finding_order,
)
from harness.assess.profile import DEFAULT_SAMPLE_ROWS, SEED, profile, try_expressions
from harness.assess.relationships import relationships
from harness.assess.risks import column_findings, local_time_finding
from harness.assess.timing import plan_probes, run_probes, time_table
from harness.core import connections
from harness.core.config import Config
from harness.core.connections import Database
from harness.dbt import artifacts as dbt_artifacts
from harness.engines import source_engine
from harness.engines.postgres import assess as pg
from harness.engines.postgres.capture import CAPTURE_SCHEMA

# `migrate load`'s own defaults (workers, rows per key range): the estimate is for the load as it runs without options.
LOAD_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(load.load).parameters.items()
    if name in ("jobs", "range_rows")
}


def progress_units(config: Config) -> int:
    """How many times `run` calls its progress callback: three steps per table, then relationships."""
    return 3 * len(config.tables) + 1


@dataclass
class _Run:
    """One assessment as it runs: what it was asked, and what each step has found so far."""

    config: Config
    source: Database
    target: Database
    sample_rows: int
    jobs: int
    range_rows: int
    tick: Callable[[int], None]
    artifacts: dbt_artifacts.Artifacts
    models: list[dbt_artifacts.TargetModel]
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    server: pg.ServerInfo | None = None
    source_locale: pg.DatabaseLocale | None = None
    target_locale: pg.DatabaseLocale | None = None
    privileges: dict = field(default_factory=dict)
    tables: list[TableAssessment] = field(default_factory=list)
    columns: dict[str, list[pg.ColumnInfo]] = field(default_factory=dict)
    mapping: dict = field(default_factory=dict)
    relationships: list[Relationship] = field(default_factory=list)
    records: dict = field(default_factory=dict)  # read in the target: landing rows, ANALYZE's sample, earlier runs
    type_mapping: list[dict] = field(
        default_factory=list
    )  # each column's source type and landing type (not PostgreSQL)


def run(
    config: Config,
    source: Database,
    target: Database,
    *,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    jobs: int | None = None,
    range_rows: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Assessment:
    """`jobs` and `range_rows` are those the load will run with (load's defaults when None)."""
    started = time.perf_counter()
    assessed_at = datetime.now(UTC).isoformat(timespec="seconds")
    artifacts = dbt_artifacts.load(config.project_dir)
    state = _Run(
        config,
        source,
        target,
        sample_rows,
        jobs or LOAD_DEFAULTS["jobs"],
        range_rows or LOAD_DEFAULTS["range_rows"],
        progress or (lambda _n=1: None),
        artifacts,
        dbt_artifacts.models(artifacts),
        notes=list(artifacts.notes),
    )

    with (
        connections.connection(source, command="assess") as src,
        connections.connection(target, command="assess") as dst,
    ):
        state.target_locale = pg.database_locale(dst)
        dst.rollback()  # not idle in a transaction while the source is profiled
        if not source_engine(config).assess_source(state, src):
            _read_source(state, src)
        _read_target_records(state, dst)

    constraint_findings(config, state.privileges, state.tables, state.findings)
    capture = capture_paths(config, state.server, state.privileges, state.tables, state.columns)
    phases, options, recommended = _estimate(state, capture)
    history = earlier_assessments(config.reports_root)
    measured = compare_with_load(history, state.records["load_run"])
    current = {
        "assessed_at": assessed_at,
        "configured_strategy": config.strategy,
        "source_rows": sum(t.rows for t in state.tables),
        "estimates": {name: round(e.seconds, 1) for name, e in phases.as_dict().items()},
    }
    history = [*history, current][-HISTORY_LIMIT:]
    state.findings.sort(key=finding_order)
    return Assessment(
        assessed_at=assessed_at,
        seconds=round(time.perf_counter() - started, 1),
        migration=config.name,
        configured_strategy=config.strategy,
        downtime_limit_minutes=config.downtime_limit_minutes,
        **_sides(state, capture),
        tables=state.tables,
        relationships=state.relationships,
        target_schema=target_schema(artifacts, state.models),
        mapping=state.mapping,
        estimates={name: dataclasses.asdict(e) for name, e in phases.as_dict().items()},
        per_table_estimates=[dataclasses.asdict(t) for t in phases.tables],
        strategies=[{**dataclasses.asdict(s), "possible": s.possible} for s in options],
        recommendation=dataclasses.asdict(recommended),
        findings=state.findings,
        verdict=recommendation.verdict(state.findings, recommended),
        history=history,
        measured=measured,
        assumptions={**estimates.ASSUMPTIONS, "load_jobs": state.jobs, "load_range_rows": state.range_rows},
        notes=state.notes,
        type_mapping=state.type_mapping,
    )


def _read_source(state: _Run, src: pg.Connection) -> None:
    """The steps over a PostgreSQL source, in one read-only snapshot."""
    pg.begin_read_only_snapshot(src)
    _describe(state, src)
    _take_inventory(state, src)
    plans = _profile_tables(state, src)
    local_time_finding(state.server, state.tables, state.findings)
    state.relationships = relationships(src, state.config, state.tables, state.columns, plans, state.findings)
    state.tick(1)
    _time_tables(state, src)
    src.rollback()


def _describe(state: _Run, src: pg.Connection) -> None:
    """The server, its database's locale, and the user's privileges on the source schema."""
    config = state.config
    state.server = pg.server_info(src)
    state.source_locale = pg.database_locale(src)
    state.findings.extend(database_findings(state.source_locale, state.target_locale))
    state.notes.extend(state.server.limitations())
    state.privileges = pg.schema_privileges(src, config.source_schema, CAPTURE_SCHEMA)
    if not state.privileges["schema_exists"]:
        state.findings.append(
            Finding(
                BLOCKING,
                "configuration",
                f'schema "{config.source_schema}" does not exist in the source {state.source.describe()}',
                "fix source.schema in migration.yml (names are case-sensitive)",
            )
        )


def _take_inventory(state: _Run, src: pg.Connection) -> None:
    for table_config in state.config.tables:
        table, cols = inventory(src, state.config, table_config, state.privileges, state.findings)
        state.tables.append(table)
        state.columns[table.name] = cols
        state.tick(1)


def _profile_tables(state: _Run, src: pg.Connection) -> dict:
    """The mapping, then each readable table's profile, column risks and expected_sql trials;
    returns each profiled table's sample plan."""
    config = state.config
    state.mapping, targets, expressions = mapping(
        state.artifacts, state.models, state.tables, state.columns, state.findings
    )
    plans = {}
    for table, table_config in zip(state.tables, config.tables):
        if table.exists and table.can_select:
            cols = state.columns[table.name]
            plans[table.name] = profile(
                src, config, state.server, table, table_config, cols, targets, state.sample_rows, state.findings
            )
            column_findings(table, cols, state.findings)
            try_expressions(
                src,
                config,
                state.server,
                table,
                plans[table.name],
                [e for e in expressions if e["table"] == table.name],
                state.findings,
            )
        state.tick(1)
    return plans


def _time_tables(state: _Run, src: pg.Connection) -> None:
    """One load range of each table through load's own code, then each table's timings."""
    config = state.config
    probes = plan_probes(src, config, state.tables, state.columns, state.range_rows)
    run_probes(config, state.source, state.target, src, probes, state.jobs)
    probe_of = {p.table.name: p for p in probes}
    for table, table_config in zip(state.tables, config.tables):
        if table.exists and table.can_select:
            time_table(src, config, table, table_config, state.columns[table.name], probe_of.get(table.name))
        state.tick(1)


def _read_target_records(state: _Run, dst: pg.Connection) -> None:
    control_schema = state.config.control_schema
    state.records = {
        "analyze_rows": pg.analyze_sample_rows(dst),
        # Rows now in landing: the volume the last dbt build ran on.
        "landing_rows": pg.estimated_rows(dst, state.config.landing_schema, [t.name for t in state.config.tables]),
        "load_run": latest_load_run(dst, control_schema),
        "window": measured_window(dst, control_schema),
        "sync_build": last_sync_build(dst, control_schema),
    }


def _estimate(
    state: _Run, capture: dict
) -> tuple[estimates.Phases, list[estimates.StrategyEstimate], estimates.Recommendation]:
    """The phases' estimates, each strategy's, and the recommendation (with its findings)."""
    config, records = state.config, state.records
    work = recommendation.table_work(state.tables)
    dbt_build = dbt_artifacts.build_timing(state.artifacts)
    use_dbt = dbt_build is not None and dbt_build["failed"] == 0 and records["landing_rows"] > 0
    phases = estimates.estimate_phases(
        work,
        dbt_build["seconds"] if use_dbt else None,
        records["landing_rows"] if use_dbt else None,
        jobs=state.jobs,
        analyze_rows=records["analyze_rows"],
        window=records["window"],
        sync_build=records["sync_build"],
        has_models=dbt.has_models(config.project_dir),
    )
    phases = recommendation.read_only_caveat(phases, state.tables)
    wave_list, waves_from = recommendation.wave_plan(config, state.tables, state.relationships)
    limit_seconds = config.downtime_limit_minutes * 60 if config.downtime_limit_minutes is not None else None
    options = estimates.strategies(phases, wave_list, capture["missing"], limit_seconds, waves_from=waves_from)
    if not work:
        return (
            phases,
            options,
            estimates.Recommendation(None, ["no table could be measured: fix the blocking problems first"]),
        )
    recommendation.strategy_findings(config, options, limit_seconds, capture, state.findings)
    return phases, options, estimates.recommend(options, limit_seconds, config.strategy)


def _sides(state: _Run, capture: dict) -> dict:
    """The Assessment's source, target, privileges and sampling entries."""
    config, server = state.config, state.server
    return {
        "source": {
            "database": state.source.describe(),
            "schema": config.source_schema,
            "engine": getattr(server, "engine", "PostgreSQL"),
            "server_version": server.version,
            "user": server.user,
            "superuser": server.superuser,
            "replication": server.replication,
            "settings": server.settings,
            "locale": dataclasses.asdict(state.source_locale.options),
        },
        "target": {
            "database": state.target.describe(),
            "server_version": state.target_locale.version,
            "locale": dataclasses.asdict(state.target_locale.options),
            "landing_schema": config.landing_schema,
            "control_schema": config.control_schema,
            "landing_rows": state.records["landing_rows"],
        },
        "privileges": {**state.privileges, **capture},
        "sampling": {
            "target_rows": state.sample_rows,
            "seed": SEED,
            "confidence": 0.95,
            "margin": "Wilson score interval with finite-population correction; 0 when every row was read",
        },
    }
