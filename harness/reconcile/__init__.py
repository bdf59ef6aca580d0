"""`migrate reconcile`: is every source row where it should be, and does the target behave?

Levels, run in this order, each a list of checks with the figures of both sides and a verdict:

- counts: source rows = landing's live rows, per table; with the dbt model `quarantine.dispositions`:
  source rows = migrated + merged + quarantined, and = landing's live rows, exactly
- checksums: source and landing hashed per key segment inside each database, differing rows located
  and named (harness.reconcile.checksums)
- sample: a random sample of app rows against the values the mapping metadata expects, with
  datacompy (harness.reconcile.samples)
- rules: dbt's data tests, and the business-rule reconciliations of migration.yml (`reconcile.rules`)
- performance: the target queries of migration.yml run N times: p50, p95, max, index use; a limit
  exceeded fails
- smoke: the SQL checks and commands of migration.yml with their expected results

A level passes when none of its checks fails; a check can also be "not available" (what it
needs does not exist yet), which never passes a level on its own.

One moment for every comparison, while the legacy application writes and `sync --follow` runs:
the sync lock is taken (a batch in flight finishes, later ones wait), a source snapshot S is
exported, one sync batch brings landing to exactly S, and when a level reads `app` and app is
behind landing, `dbt run` brings it up. Every source query then runs inside S and the lock is
held until the verdicts are recorded, so landing and app stand still and both sides describe S;
a row that a later batch brings to landing is stamped (`_migrate_synced_at`) after
`reconcile_runs.finished_at`, and every row stamped before it was compared.

Everything is recorded in the control schema (a run, a step per level, `reconcile_runs`,
`reconcile_verdicts`) and written to reconciliation.json, .md and .html in a folder of the run's
own, reports/reconciliation/<time>-<id>/ (reports/reconciliation/latest points to the newest).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager as ContextManager
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from harness import dbt, engines, render, reports, sync
from harness.core import connections, control, processes
from harness.core.config import Config, Expectation, PerformanceQuery, RuleCheck, SmokeCheck
from harness.core.connections import Database
from harness.core.errors import ConfigError, DbtFailed, HarnessError, QueryFailed
from harness.dbt import artifacts as dbt_artifacts
from harness.engines.base import Connection
from harness.reconcile import checksums, samples
from harness.target import landing, user_queries
from harness.target import reconcile as target_reconcile

LEVELS = ("counts", "checksums", "sample", "rules", "performance", "smoke")
AT_A_POINT = {"counts", "checksums", "sample", "rules"}  # compare the source with landing or app
READS_APP = {"counts", "sample", "rules"}
REPORT_NAME = "reconciliation"
LISTED_GROUPS = 50  # figures per business rule shown in the report

PASSED, FAILED, NOT_AVAILABLE = "passed", "failed", "not available"


# --- results ------------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    verdict: str  # passed, failed, not available
    source: Any = None  # the source side's figure
    target: Any = None  # the target side's figure
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class LevelResult:
    level: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        if any(c.verdict == FAILED for c in self.checks):
            return "failed"
        if any(c.verdict == PASSED for c in self.checks):
            return "passed"
        return "skipped"

    def count(self, verdict: str) -> int:
        return sum(1 for c in self.checks if c.verdict == verdict)


@dataclass
class Point:
    """The moment both sides are compared as of."""

    snapshot: str | None = None  # the source snapshot S
    snapshot_id: str | None = None  # S exported, while the reconcile runs
    synced: bool = False  # landing was brought to exactly S
    changes_applied: int = 0
    built: bool = False  # app was brought up to landing by dbt run
    app_not_comparable: str | None = None  # why app cannot be held against the source (after a fallback)
    notes: list[str] = field(default_factory=list)


@dataclass
class ReconcileResult:
    reconcile_id: int
    run_id: int
    migration: str
    started_at: str
    levels: list[LevelResult]
    point: Point
    seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(level.verdict != "failed" for level in self.levels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": "reconciliation",
            "migration": self.migration,
            "reconcile_id": self.reconcile_id,
            "run_id": self.run_id,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 3),
            "verdict": "passed" if self.passed else "failed",
            "point": asdict(self.point) | {"snapshot_id": None},
            "levels": [
                {
                    "level": level.level,
                    "verdict": level.verdict,
                    "seconds": round(level.seconds, 3),
                    "passed": level.count(PASSED),
                    "failed": level.count(FAILED),
                    "not_available": level.count(NOT_AVAILABLE),
                    "notes": level.notes,
                    "checks": [_jsonable(asdict(check)) for check in level.checks],
                }
                for level in self.levels
            ],
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@dataclass
class Hooks:
    """How the caller sees progress: a line per step, and progress bars (harness.cli.ui's, from the CLI)."""

    step: Callable[[str], None] = lambda line: None
    progress: Callable[[str, int | None], ContextManager[Callable[[int], None]]] | None = None

    def bar(self, description: str, total: int | None) -> ContextManager[Callable[[int], None]]:
        if self.progress is None:
            return nullcontext(lambda done=1: None)
        return self.progress(description, total)


# --- the command ----------------------------------------------------------------------------------


def parse_levels(text: str) -> list[str]:
    """'all', one level, or several separated by commas → levels in their order."""
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    if not wanted or "all" in wanted:
        return list(LEVELS)
    unknown = [w for w in wanted if w not in LEVELS]
    if unknown:
        raise ConfigError(f"unknown level(s) {', '.join(unknown)}: use {', '.join(LEVELS)} or all")
    return [level for level in LEVELS if level in wanted]


def reconcile(
    config: Config,
    source: Database,
    target: Database,
    levels: Sequence[str],
    *,
    build: bool = True,
    hooks: Hooks | None = None,
    sample_seed: int | None = None,
    report_name: str = REPORT_NAME,
    full: Sequence[str] = (),
) -> ReconcileResult:
    """Run the levels; the report goes to a folder of this run's own, reports/<report_name>/<time>-<id>/
    (under a rehearsal's own root in a rehearsal), with reports/<report_name>/latest pointing to it.
    `full` names app tables the sample level compares whole (`--full`)."""
    if full and "sample" not in levels:
        raise ConfigError("--full compares whole tables at the sample level: add sample to --level")
    hooks = hooks or Hooks()
    levels = [level for level in LEVELS if level in set(levels)]
    render.load_charts_in_background()  # the report's chart: matplotlib loads while the databases work
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    schema = config.control_schema
    with connections.connection(target, command="reconcile", autocommit=True) as ctl:
        control.ensure(ctl, schema)
        run_id = control.start_run(ctl, schema, "reconcile", {"levels": levels})
        reconcile_id = target_reconcile.start(ctl, schema, run_id, levels)
        try:
            with _consistent_point(
                config, source, target, levels, build, hooks, _app_not_comparable(ctl, config)
            ) as point:
                if point.snapshot:
                    target_reconcile.at_snapshot(ctl, schema, reconcile_id, point.snapshot)
                folder = reports.run_folder(config.reports_root, report_name, reconcile_id)
                context = _Context(config, source, target, point, hooks, sample_seed, folder, full=tuple(full))
                results = []
                for level in levels:
                    hooks.step(f"{level}")
                    with control.step(ctl, schema, run_id, f"reconcile {level}") as detail:
                        level_started = time.perf_counter()
                        if point.app_not_comparable and level in READ_APP_ONLY:
                            result = LevelResult(
                                level, checks=[Check("app", NOT_AVAILABLE, detail=point.app_not_comparable)]
                            )
                        else:
                            result = RUNNERS[level](context)
                        result.seconds = time.perf_counter() - level_started
                        detail.update(verdict=result.verdict, passed=result.count(PASSED), failed=result.count(FAILED))
                    results.append(result)
                # Recorded while sync is still paused: every row a later batch brings is stamped after this.
                outcome = ReconcileResult(reconcile_id, run_id, config.name, started_at, results, point)
                outcome.seconds = time.perf_counter() - started
                from harness.reconcile import report as reconcile_report  # charts: loaded meanwhile (above)

                written = reconcile_report.write(folder, report_name, outcome.to_dict())
                outcome.files = {kind: str(path) for kind, path in written.items()}
                _record(ctl, schema, outcome)
        except BaseException:
            target_reconcile.failed(ctl, schema, reconcile_id)
            control.finish_run(ctl, schema, run_id, "failed")
            raise
        control.finish_run(
            ctl,
            schema,
            run_id,
            "succeeded",
            {"verdict": "passed" if outcome.passed else "failed", "report": outcome.files.get("markdown")},
        )
    return outcome


def _record(ctl: Connection, schema: str, result: ReconcileResult) -> None:
    target_reconcile.record(
        ctl,
        schema,
        result.reconcile_id,
        "passed" if result.passed else "failed",
        {level.level: level.verdict for level in result.levels},
        result.to_dict(),
        _verdict_rows(result),
    )


def _verdict_rows(result: ReconcileResult) -> Iterator[tuple[str, str, str, str | None, str | None, str]]:
    """One row per check: (level, check, verdict, source figure, target figure, detail); a name
    repeated within a level is numbered (#2, #3, ...)."""
    for level in result.levels:
        seen: dict[str, int] = {}
        for check in level.checks:
            seen[check.name] = seen.get(check.name, 0) + 1
            name = check.name if seen[check.name] == 1 else f"{check.name} #{seen[check.name]}"
            yield level.level, name, check.verdict, _text(check.source), _text(check.target), check.detail


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# --- one moment for both sides ----------------------------------------------------------------------


@contextmanager
def _consistent_point(
    config: Config,
    source: Database,
    target: Database,
    levels: Sequence[str],
    build: bool,
    hooks: Hooks,
    app_not_comparable: str | None,
) -> Iterator[Point]:
    point = Point(app_not_comparable=app_not_comparable)
    if app_not_comparable:
        point.notes.append(app_not_comparable)
    if not set(levels) & AT_A_POINT:
        yield point
        return
    with ExitStack() as stack:
        pause = stack.enter_context(sync.paused(config, target, command="reconcile"))
        holder = stack.enter_context(connections.connection(source, command="reconcile snapshot"))
        point.snapshot_id, point.snapshot = engines.source_engine(config).open_snapshot(holder)
        capture = engines.source_capture(config)
        if capture.keeps_a_log:  # a log read to an exact point: landing is brought to it
            try:
                batch = capture.apply_to_snapshot(
                    config, source, target, snapshot_id=point.snapshot_id, position=point.snapshot, pause=pause
                )
                point.synced, point.changes_applied = True, batch.changes
                hooks.step(
                    f"landing brought to the source snapshot {point.snapshot} ({batch.changes:,} changes applied)"
                )
            except sync.NotLoaded:
                point.notes.append(
                    "landing has no finished load: the source and landing are compared as they are; "
                    "run `migrate load` first"
                )
            except capture.not_installed:
                point.notes.append("no change capture on the source: landing is compared as it stands")
            except ConfigError as exc:
                point.notes.append(f"landing could not be brought to the snapshot ({exc}); it is compared as it stands")
        else:
            point.notes.append(
                "timestamp capture has no exact point in time: rows written during the comparison can show as "
                "differences; compare while the source is quiet"
            )
        if (
            build
            and not app_not_comparable
            and set(levels) & READS_APP
            and point.synced
            and _has_dbt_project(config)
            and target_reconcile.app_behind(pause.conn, config.control_schema)
        ):
            hooks.step("dbt run: bringing app up to landing")
            try:
                sync.build(config, target)
                point.built = True
            except DbtFailed as exc:
                point.notes.append(
                    f"app could not be brought up to landing ({exc}); app-side checks compare an older app"
                )
        yield point


# The levels whose every check reads `app`; counts reads it for the disposition accounting only.
READ_APP_ONLY = {"sample", "rules", "performance", "smoke"}


def _app_not_comparable(conn: Connection, config: Config) -> str | None:
    """After a fallback `app` is frozen as the fallback left it and the legacy system is the system of
    record: app no longer follows the source, so holding it against the source would report
    differences that are none. Source and landing still are compared."""
    state = control.state(conn, config.control_schema)
    if state is None or state.phase not in ("falling_back", "fallen_back"):
        return None
    return (
        f"the migration fell back at {state.changed_at:%Y-%m-%d %H:%M %Z}: app is frozen as the fallback left it and "
        "no longer follows the source, so the checks that read app are not comparable (source and landing still are); "
        "`migrate status` says how to rebuild the target before another cutover"
    )


def _has_dbt_project(config: Config) -> bool:
    return (config.project_dir / "dbt_project.yml").exists()


@dataclass
class _Context:
    config: Config
    source: Database
    target: Database
    point: Point
    hooks: Hooks
    sample_seed: int | None
    folder: Path = Path(".")  # this run's report folder
    dbt_ran: bool = False
    full: tuple[str, ...] = ()  # app tables the sample level compares whole

    @contextmanager
    def source_at_point(self, command: str) -> Iterator[Connection]:
        """A source connection inside the compared snapshot (or a plain one when there is none)."""
        with connections.connection(self.source, command=command) as conn:
            engines.source_engine(self.config).join_snapshot(conn, self.point.snapshot_id)
            yield conn
            conn.rollback()


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


# --- counts ---------------------------------------------------------------------------------------


def _counts(ctx: _Context) -> LevelResult:
    config = ctx.config
    result = LevelResult("counts")
    result.notes += ctx.point.notes
    landing_rows: dict[str, int] = {}
    engine = engines.source_engine(config)
    with (
        ctx.source_at_point("reconcile counts") as src,
        connections.connection(ctx.target, command="reconcile counts") as dst,
    ):
        for table in config.tables:
            name = f"{table.name}: source = landing"
            if not engine.table_exists(src, config.source_schema, table.name):
                result.checks.append(
                    Check(name, FAILED, detail=f'"{config.source_schema}"."{table.name}" does not exist in the source')
                )
                continue
            source_rows = engine.row_count(src, config.source_schema, table.name)
            if not landing.exists(dst, config.landing_schema, table.name):
                result.checks.append(
                    Check(name, FAILED, source_rows, detail=f"landing has no {table.name}: run `migrate load`")
                )
                continue
            live = landing.live_rows(dst, config.landing_schema, table.name)
            landing_rows[table.name] = live
            verdict = PASSED if source_rows == live else FAILED
            detail = (
                ""
                if verdict == PASSED
                else f"{abs(source_rows - live):,} rows "
                f"{'missing from' if live < source_rows else 'too many in'} landing"
            )
            result.checks.append(Check(name, verdict, source_rows, live, detail))
        if ctx.point.app_not_comparable:
            result.checks.append(Check("disposition accounting", NOT_AVAILABLE, detail=ctx.point.app_not_comparable))
        else:
            result.checks += _dispositions(dst, config, landing_rows)
    return result


def _dispositions(conn: Connection, config: Config, landing_rows: dict[str, int]) -> list[Check]:
    by_table = target_reconcile.dispositions(conn)
    if by_table is None:
        return [
            Check(
                "disposition accounting",
                NOT_AVAILABLE,
                detail="quarantine.dispositions does not exist (the dbt project has no dispositions model, "
                "or it is not built: `migrate build`)",
            )
        ]
    checks = []
    for table in config.tables:
        row = by_table.get(table.name) or by_table.get(table.name.lower())
        if row is None:
            checks.append(
                Check(
                    f"{table.name}: every row accounted for",
                    FAILED,
                    detail=f"quarantine.dispositions has no row for {table.name}: its rows are not accounted for",
                )
            )
            continue
        source_rows, migrated, merged, quarantined = (int(v or 0) for v in row)
        accounted = migrated + merged + quarantined
        checks.append(
            Check(
                f"{table.name}: rows = migrated + merged + quarantined",
                PASSED if accounted == source_rows else FAILED,
                source_rows,
                f"{migrated:,} + {merged:,} + {quarantined:,} = {accounted:,}",
                "" if accounted == source_rows else f"{source_rows - accounted:+,} rows unaccounted for",
                {"migrated": migrated, "merged": merged, "quarantined": quarantined},
            )
        )
        if table.name in landing_rows:
            live = landing_rows[table.name]
            checks.append(
                Check(
                    f"{table.name}: dispositions cover landing",
                    PASSED if live == source_rows else FAILED,
                    live,
                    source_rows,
                    ""
                    if live == source_rows
                    else "the dispositions count other rows than landing holds (app not rebuilt since the last sync?)",
                )
            )
    return checks


# --- checksums ------------------------------------------------------------------------------------


def _checksums(ctx: _Context) -> LevelResult:
    result = LevelResult("checksums")
    result.notes += ctx.point.notes
    result.notes.append(
        "values are hashed as each type stores them; the only merges: " + "; ".join(checksums.NORMALISATIONS)
    )
    with ctx.hooks.bar("hashing source and landing", None) as advance:
        tables = checksums.compare(
            ctx.config,
            ctx.source,
            ctx.target,
            snapshot_id=ctx.point.snapshot_id,
            progress=lambda _table, rows: advance(rows),
            on_total=getattr(advance, "total", None),
        )
    for table in tables:
        result.notes += [f"{table.table}: {note}" for note in table.notes]
        name = f"{table.table}: source = landing"
        if table.problem:
            result.checks.append(Check(name, FAILED, detail=table.problem))
            continue
        counts = ", ".join(f"{n} {kind}" for kind in ("missing", "extra", "changed") if (n := table.count(kind)))
        detail = f"{_plural(table.segments, 'segment')}, {table.segments_differing:,} differ" + (
            f": {counts}" if counts else ""
        )
        if table.truncated:
            detail += f" (first {len(table.differences):,} listed)"
        result.checks.append(
            Check(
                name,
                PASSED if table.matches else FAILED,
                table.source_rows,
                table.landing_rows,
                detail,
                {
                    "key": list(table.key),
                    "segments": table.segments,
                    "segments_differing": table.segments_differing,
                    "seconds": round(table.seconds, 3),
                    "truncated": table.truncated,
                    "differences": [
                        {
                            "kind": d.kind,
                            "key": dict(zip(table.key, d.key)),
                            "columns": list(d.columns),
                            "values": {
                                column: {"source": ours, "landing": theirs}
                                for column, (ours, theirs) in zip(d.columns, d.values)
                            },
                        }
                        for d in table.differences
                    ],
                },
            )
        )
    return result


# --- sample ---------------------------------------------------------------------------------------


def _sample(ctx: _Context) -> LevelResult:
    config = ctx.config
    result = LevelResult("sample")
    if _has_dbt_project(config) and not ctx.point.built:
        try:
            dbt.run(config, ctx.target, ["parse"], quiet=True)
        except DbtFailed as exc:
            result.checks.append(Check("mapping metadata", FAILED, detail=f"{exc}"))
            return result
    artifacts = dbt_artifacts.load(config.project_dir)
    if artifacts.manifest is None:
        result.checks.append(
            Check(
                "mapping metadata",
                NOT_AVAILABLE,
                detail="no target/manifest.json with the models' expected values (run `dbt parse` in a dbt project)",
            )
        )
        return result
    report_dir = ctx.folder  # datacompy's report per model, beside the run's own
    seed = ctx.sample_seed if ctx.sample_seed is not None else random.randrange(1, 2**31)
    models, skipped = samples.compare(
        config,
        ctx.target,
        artifacts,
        sample_size=config.reconcile.sample_size,
        report_dir=report_dir,
        seed=seed,
        full=ctx.full,
    )
    result.notes.append(
        f"sample of up to {config.reconcile.sample_size:,} rows per table (migration.yml "
        f"reconcile.sample_size), seed {seed}"
    )
    result.notes += [f"not compared: {line}" for line in skipped]
    if not models:
        result.checks.append(
            Check(
                "mapping metadata",
                NOT_AVAILABLE,
                detail="no target model has meta.source_table, meta.source_join and expected_sql",
            )
        )
    for model in models:
        result.notes += [f"{model.relation}: {note}" for note in model.notes]
        report = str(Path(model.report_file).relative_to(config.project_dir)) if model.report_file else None
        if model.problem:
            result.checks.append(Check(model.relation, FAILED, detail=model.problem))
            continue
        differing = ", ".join(f"{column} ({n})" for column, n in model.mismatched.items())
        parts = [f"{_plural(len(model.compared_columns), 'column')} compared"]
        if differing:
            parts.append(f"differ: {differing}")
        if model.only_in_app:
            parts.append(f"{model.only_in_app} app rows without a landing row")
        if model.ambiguous:
            parts.append(f"{model.ambiguous} rows joining several landing rows left out")
        result.checks.append(
            Check(
                model.relation,
                PASSED if model.matches else FAILED,
                f"{model.sampled:,} of {model.table_rows:,} rows ({model.source_table})",
                "all values equal"
                if model.matches
                else f"{sum(model.mismatched.values()) + model.only_in_app:,} differences",
                "; ".join(parts),
                {
                    "compared": model.compared_columns,
                    "not_compared": model.not_compared,
                    "mismatched": model.mismatched,
                    "only_in_app": model.only_in_app,
                    "ambiguous": model.ambiguous,
                    "report": report,
                },
            )
        )
    return result


# --- rules ----------------------------------------------------------------------------------------


def _rules(ctx: _Context) -> LevelResult:
    result = LevelResult("rules")
    result.checks += _dbt_tests(ctx, result)
    if not ctx.config.reconcile.rules:
        result.notes.append("no business-rule reconciliations in migration.yml (reconcile.rules)")
    for rule in ctx.config.reconcile.rules:
        result.checks.append(_rule(ctx, rule))
    return result


def _dbt_tests(ctx: _Context, result: LevelResult) -> list[Check]:
    config = ctx.config
    if not _has_dbt_project(config):
        return [Check("dbt tests", NOT_AVAILABLE, detail="no dbt_project.yml in the project folder")]
    started = datetime.now(UTC)
    failure = None
    try:
        dbt.run(config, ctx.target, ["test"], quiet=True)
    except DbtFailed as exc:
        failure = str(exc)
    run_results = dbt_artifacts.load(config.project_dir).run_results or {}
    generated = str((run_results.get("metadata") or {}).get("generated_at") or "")
    if str((run_results.get("args") or {}).get("which")) != "test" or generated < started.strftime("%Y-%m-%dT%H:%M:%S"):
        return [Check("dbt tests", FAILED, detail=failure or "dbt test wrote no target/run_results.json")]
    return dbt_test_checks(run_results)


def dbt_test_checks(run_results: dict) -> list[Check]:
    """A summary check for dbt's tests, and one check per test that failed or errored."""
    counts: dict[str, int] = {}
    failing = []
    for node in run_results.get("results") or []:
        if not str(node.get("unique_id") or "").startswith(("test.", "unit_test.")):
            continue  # hooks and other operations
        status = str(node.get("status") or "").lower()
        counts[status] = counts.get(status, 0) + 1
        if status in ("fail", "error", "runtime error"):
            failing.append(node)
    total = sum(counts.values())
    bad = len(failing)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    checks = [Check("dbt tests", PASSED if bad == 0 else FAILED, None, f"{total - bad:,} of {total:,} passed", summary)]
    for node in failing:
        unique_id = str(node.get("unique_id") or "")
        message = str(node.get("message") or "").strip().splitlines()
        failures = node.get("failures")
        checks.append(
            Check(
                unique_id.split(".", 2)[-1] if unique_id else "test",
                FAILED,
                None,
                f"{failures:,} failing rows" if isinstance(failures, int) else str(node.get("status")),
                message[0] if message else "",
                {"unique_id": unique_id},
            )
        )
    return checks


def _rule(ctx: _Context, rule: RuleCheck) -> Check:
    try:
        with ctx.source_at_point("reconcile rules") as src:
            source_rows = engines.source_engine(ctx.config).run_query(src, rule.source_sql)
    except QueryFailed as exc:
        return Check(rule.name, FAILED, detail=f"source_sql failed: {exc}")
    try:
        with connections.connection(ctx.target, command="reconcile rules") as dst:
            target_rows = user_queries.fetch_all(dst, rule.target_sql)
    except QueryFailed as exc:
        return Check(rule.name, FAILED, detail=f"target_sql failed: {exc}")
    ok, groups = compare_figures(source_rows, target_rows, rule.tolerance)
    differing = [g for g in groups if not g["equal"]]
    source_total = sum(_number(g["source"]) for g in groups)
    target_total = sum(_number(g["target"]) for g in groups)
    detail = f"{_plural(len(groups), 'group')}, {len(differing):,} differ" + (
        f" (tolerance {rule.tolerance:g})" if rule.tolerance else ""
    )
    shown = (differing + [g for g in groups if g["equal"]])[:LISTED_GROUPS]
    return Check(
        rule.name,
        PASSED if ok else FAILED,
        source_total,
        target_total,
        detail,
        {"groups": shown, "groups_total": len(groups)},
    )


def _number(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return Decimal(0)


def compare_figures(
    source_rows: Sequence[Sequence], target_rows: Sequence[Sequence], tolerance: float = 0.0
) -> tuple[bool, list[dict]]:
    """Rows of (group..., figure) from each side → whether every group's figures agree, and the groups.

    A group present on one side only counts as 0 on the other; a group returned twice is summed.
    """

    def by_group(rows: Sequence[Sequence]) -> dict[tuple, Decimal]:
        figures: dict[tuple, Decimal] = {}
        for row in rows:
            if not row:
                continue
            group = tuple("NULL" if v is None else str(v) for v in row[:-1])
            figures[group] = figures.get(group, Decimal(0)) + _number(row[-1])
        return figures

    source, target = by_group(source_rows), by_group(target_rows)
    groups = []
    for group in sorted(set(source) | set(target)):
        a, b = source.get(group, Decimal(0)), target.get(group, Decimal(0))
        groups.append(
            {
                "group": list(group),
                "source": a,
                "target": b,
                "difference": b - a,
                "equal": abs(b - a) <= Decimal(str(tolerance)),
            }
        )
    return all(g["equal"] for g in groups), groups


# --- performance ----------------------------------------------------------------------------------


def _performance(ctx: _Context) -> LevelResult:
    result = LevelResult("performance")
    queries = ctx.config.reconcile.performance_queries
    if not queries:
        result.notes.append("no performance_queries in migration.yml (reconcile.performance_queries)")
        return result
    with (
        ctx.hooks.bar("timing target queries", sum(q.runs for q in queries)) as advance,
        connections.connection(ctx.target, command="reconcile performance", autocommit=True) as conn,
    ):
        for query in queries:
            result.checks.append(_time_query(conn, query, advance))
    return result


def _time_query(conn: Connection, query: PerformanceQuery, advance: Callable[[int], None]) -> Check:
    try:
        timing = user_queries.time_query(conn, query, explain=True, advance=advance)
    except QueryFailed as exc:
        return Check(query.name, FAILED, detail=f"failed: {exc}")
    timings, indexes = timing.ms, plan_indexes(timing.plan)
    p50, p95, worst = percentile(timings, 50), percentile(timings, 95), max(timings)
    problems = []
    if p95 > query.p95_ms:
        problems.append(f"p95 {p95:,.2f} ms exceeds the limit of {query.p95_ms:,g} ms")
    if query.require_index and not indexes:
        problems.append("the plan reads no index")
    uses = f"index: {', '.join(indexes)}" if indexes else "no index (sequential scan)"
    return Check(
        query.name,
        FAILED if problems else PASSED,
        f"p95 ≤ {query.p95_ms:,g} ms",
        f"p50 {p50:,.2f} ms, p95 {p95:,.2f} ms, max {worst:,.2f} ms",
        "; ".join(problems + [f"{query.runs} runs", uses]),
        {
            "p50_ms": round(p50, 3),
            "p95_ms": round(p95, 3),
            "max_ms": round(worst, 3),
            "runs": query.runs,
            "limit_p95_ms": query.p95_ms,
            "indexes": indexes,
            "sql": query.sql,
        },
    )


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest value with at least pct% of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def plan_indexes(plan: Any) -> list[str]:
    """The indexes an EXPLAIN (FORMAT JSON) plan reads, in plan order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if "Index" in str(node.get("Node Type", "")) and node.get("Index Name"):
                found.append(str(node["Index Name"]))
            for key in ("Plan", "Plans"):
                if key in node:
                    walk(node[key])

    walk(json.loads(plan) if isinstance(plan, str) else plan)
    return list(dict.fromkeys(found))


# --- smoke ----------------------------------------------------------------------------------------


def _smoke(ctx: _Context) -> LevelResult:
    result = LevelResult("smoke")
    checks = ctx.config.reconcile.smoke
    if not checks:
        result.notes.append("no smoke checks in migration.yml (reconcile.smoke)")
        return result
    for check in checks:
        result.checks.append(_smoke_sql(ctx, check) if check.sql is not None else _smoke_command(ctx, check))
    return result


def _smoke_sql(ctx: _Context, check: SmokeCheck) -> Check:
    try:
        with connections.connection(ctx.target, command="reconcile smoke") as conn:
            rows = user_queries.fetch_all(conn, check.sql)
            conn.rollback()
    except QueryFailed as exc:
        return Check(
            check.name,
            FAILED,
            describe_expectation(check.expect),
            None,
            f"failed: {exc}",
            {"sql": check.sql},
        )
    ok, actual = expectation_met(check.expect, rows=rows)
    return Check(
        check.name, PASSED if ok else FAILED, describe_expectation(check.expect), actual, "", {"sql": check.sql}
    )


def _smoke_command(ctx: _Context, check: SmokeCheck) -> Check:
    assert check.command is not None
    try:
        finished = processes.run_status(
            list(check.command), env=processes.libpq_env(ctx.target.url), cwd=ctx.config.project_dir
        )
    except HarnessError as exc:
        return Check(
            check.name, FAILED, describe_expectation(check.expect), None, str(exc), {"command": list(check.command)}
        )
    ok, actual = expectation_met(check.expect, exit_code=finished.exit_code, output=finished.output)
    tail = finished.output.strip().splitlines()
    return Check(
        check.name,
        PASSED if ok else FAILED,
        describe_expectation(check.expect),
        actual,
        "" if ok or not tail else f"output: {tail[-1][:200]}",
        {"command": list(check.command)},
    )


def describe_expectation(expect: Expectation) -> str:
    if expect.kind == "rows":
        return f"{expect.value} rows"
    if expect.kind == "min_rows":
        return f"at least {expect.value} rows"
    if expect.kind == "exit_code":
        return f"exit {expect.value}" + (f", output contains {expect.contains!r}" if expect.contains else "")
    return repr(expect.value)


def expectation_met(
    expect: Expectation, *, rows: Sequence[Sequence] | None = None, exit_code: int | None = None, output: str = ""
) -> tuple[bool, str]:
    """Whether a smoke check's result is what migration.yml expects, and the result as text."""
    if expect.kind == "exit_code":
        ok = exit_code == expect.value and (expect.contains is None or expect.contains in output)
        return ok, f"exit {exit_code}" + (
            "" if expect.contains is None or expect.contains in output else ", text not in the output"
        )
    rows = list(rows or [])
    if expect.kind == "rows":
        return len(rows) == expect.value, f"{len(rows)} rows"
    if expect.kind == "min_rows":
        return len(rows) >= expect.value, f"{len(rows)} rows"
    if not rows or not rows[0]:
        return False, "no rows"
    actual = rows[0][0]
    return same_value(actual, expect.value), repr(_jsonable(actual))


def same_value(actual: Any, expected: Any) -> bool:
    """A database value against a YAML value: numbers by value, booleans as booleans, the rest as text."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected or (isinstance(actual, bool) and str(expected).lower() == str(actual).lower())
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float, Decimal)):
        return Decimal(str(actual)) == Decimal(str(expected))
    return str(actual) == str(expected)


RUNNERS: dict[str, Callable[[_Context], LevelResult]] = {
    "counts": _counts,
    "checksums": _checksums,
    "sample": _sample,
    "rules": _rules,
    "performance": _performance,
    "smoke": _smoke,
}
