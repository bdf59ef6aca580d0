"""The `migrate` command line: parse options, call one core function, render, map to an exit code."""

from __future__ import annotations

import importlib
import shlex
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import psycopg
import typer
import typer.core

from harness import dbt
from harness.cli import ui
from harness.cli.ui import errors, progress, step, summary, table
from harness.core import connections, embedded, interrupts
from harness.core.config import load_config
from harness.core.errors import EXIT_INTERRUPTED, EXIT_USAGE, ConfigError, HarnessError

# The click that typer runs on: typer 0.2x vendors its own copy, whose exceptions are not the
# installed click's, so catching `click.ClickException` from the click package would miss them.
click = getattr(typer.core, "_click", None) or importlib.import_module("click")

# The order `migrate --help` lists commands in: the order a migration uses them.
LIFECYCLE = [
    "init",
    "env",
    "demo",
    "assess",
    "backup",
    "restore",
    "provision",
    "load",
    "build",
    "sync",
    "reconcile",
    "approve",
    "cutover",
    "rollback",
    "rehearse",
    "docs",
    "decommission",
    "status",
]


class LifecycleGroup(typer.core.TyperGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: LIFECYCLE.index(name) if name in LIFECYCLE else len(LIFECYCLE))


app = typer.Typer(
    name="migrate",
    cls=LifecycleGroup,
    help="Move an operational database to a new schema without losing a row. Lifecycle, in order:",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=True,
    rich_markup_mode="rich",
)

# Every command takes --json; main reads it from the arguments before the command runs.
JSON_HELP = "Print one JSON document on stdout (the summary, tables and result, the exit code and its meaning); the rest goes to stderr."
JsonFlag = Annotated[bool, typer.Option("--json", help=JSON_HELP)]


def _versions() -> list[tuple[str, str]]:
    """The kit and the libraries it runs with; then the servers it reaches, without starting one."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in ("migrate-kit", "dbt-core", "dbt-postgres", "datacompy", "psycopg"):
        try:
            found.append((package, version(package)))
        except PackageNotFoundError:
            found.append((package, "not installed"))
    try:
        config = load_config()
    except HarnessError as exc:
        return [*found, ("servers", f"not read ({exc})")]
    urls = {"source": config.source.url, "target": config.target.url}
    if not all(urls.values()):
        state = embedded.status(config.project_dir)
        if not state.running:
            return [*found, ("servers", "embedded PostgreSQL not running (`migrate env up` starts it)")]
        urls = {side: connections.with_database(state.url, getattr(config, side).database) for side in urls}
    for side, url in urls.items():
        try:
            with psycopg.connect(url, connect_timeout=3) as conn:
                found.append((side, "PostgreSQL " + conn.execute("show server_version").fetchone()[0]))
        except psycopg.Error as exc:
            found.append((side, "not reachable: " + (str(exc).strip().splitlines() or ["?"])[0]))
    return found


def _show_versions(asked: bool) -> None:
    if asked:
        versions = _versions()
        for name, value in versions:
            typer.echo(f"{name:<14}{value}")
        ui.result(versions=dict(versions))
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            expose_value=False,
            callback=_show_versions,
            help="Show the versions of the kit, its libraries and servers, and exit.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    pass


env_app = typer.Typer(help="The database servers: the embedded PostgreSQL, or yours by URL.", no_args_is_help=True)
demo_app = typer.Typer(
    help="The worked example: a generated legacy OMS and the whole story on it.", no_args_is_help=True
)
app.add_typer(env_app, name="env", rich_help_panel="Set-up")
app.add_typer(demo_app, name="demo", rich_help_panel="Set-up")


# --- set-up -------------------------------------------------------------------------------------


@env_app.command("up")
def env_up(as_json: JsonFlag = False) -> None:
    """Start the embedded PostgreSQL (unless servers are configured) and check both databases answer."""
    config = load_config()
    source, target = connections.resolve(config)
    for db in (source, target):
        with connections.connection(db, command="env up") as conn:
            version = conn.execute("show server_version").fetchone()[0]
        step(f"{db.side}: {db.describe()} (PostgreSQL {version})")
    summary("both databases answer" + (" on the embedded server" if source.embedded else ""))


@env_app.command("down")
def env_down(as_json: JsonFlag = False) -> None:
    """Stop the embedded PostgreSQL. Its data stays in .migrate/ for the next `env up`."""
    config = load_config()
    stopped = embedded.stop(config.project_dir)
    summary("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")


@env_app.command("status")
def env_status(as_json: JsonFlag = False) -> None:
    """Show where the source and target are and whether they answer."""
    config = load_config()
    state = embedded.status(config.project_dir)
    if config.source.url or config.target.url:
        step("servers configured by URL; the embedded server is not used")
    else:
        step(
            f"embedded PostgreSQL: {'running, pid ' + str(state.pid) if state.running else 'stopped'} ({state.data_dir})"
        )
        if not state.running:
            summary("nothing running; `migrate env up` starts it")
            return
    source, target = connections.resolve(config, create_missing=False)
    for db in (source, target):
        with connections.connection(db, command="env status") as conn:
            version = conn.execute("show server_version").fetchone()[0]
        step(f"{db.side}: {db.describe()} answers (PostgreSQL {version})")
    summary("source and target reachable")


@env_app.command("shell")
def env_shell(as_json: JsonFlag = False) -> None:
    """Print the exports that let you run dbt by hand: eval "$(migrate env shell)"."""
    config = load_config()
    _, target = connections.resolve(config)
    for name, value in dbt.environment(target, config.landing_schema).items():
        print(f"export {name}={shlex.quote(value)}")


# --- demo ---------------------------------------------------------------------------------------

ScaleOption = Annotated[int, typer.Option(min=1, help="Number of legacy customers; orders ≈ 3×, lines ≈ 9×.")]
SeedOption = Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")]


def _seed_with_progress(source, scale: int, seed: int):
    from harness.demo import run as demo

    expected = scale * 16 + max(200, scale // 50)
    with progress("seeding legacy source", total=expected) as bar:
        result = demo.seed(source, scale, seed, lambda _table, rows: bar(rows))
    table("Legacy source", ["table", "rows"], sorted(result.rows.items()))
    summary(
        f"seeded {result.total:,} legacy rows in {result.seconds:.1f} s ({result.total / max(result.seconds, 1e-9):,.0f} rows/s) into {source.describe()}"
    )
    return result


@demo_app.command("seed")
def demo_seed(scale: ScaleOption = 10_000, seed: SeedOption = 42, as_json: JsonFlag = False) -> None:
    """Generate the legacy OMS database (schema "oms", every defect of the spec at its rate)."""
    config = load_config()
    source, _ = connections.resolve(config)
    _seed_with_progress(source, scale, seed)


@demo_app.command("run")
def demo_run(
    scale: ScaleOption = 10_000,
    seed: SeedOption = 42,
    jobs: Annotated[int, typer.Option(min=1)] = 2,
    rate: Annotated[float, typer.Option(min=1, help="The applications' business transactions per second.")] = 50.0,
    as_json: JsonFlag = False,
) -> None:
    """The parallel-run story end to end: seed, load under traffic, sync, reconcile, cutover, the new
    application writing, fallback, and the ledger of both applications checked; prints the timeline."""
    from harness.demo.story import run_story

    config = load_config()
    source, target = connections.resolve(config)
    with ui.live_line("the demo is starting") as show:  # the timeline is printed once, as a table, at the end
        story = run_story(
            config,
            source,
            target,
            scale=scale,
            seed=seed,
            rate=rate,
            jobs=jobs,
            on_event=lambda at, what, figures: show(f"T+{at:5.1f} s  {what}" + (f": {figures}" if figures else "")),
        )
    table(
        "Timeline",
        ["at", "event", "figures"],
        [(f"T+{at:.1f} s", what, figures) for at, what, figures in story.timeline],
    )
    table(
        "Every legacy row accounted for (reconciled before the cutover)",
        ["legacy table", "rows", "migrated", "merged", "quarantined"],
        story.dispositions,
    )
    summary(
        f"demo finished in {story.timeline[-1][0]:.0f} s: migrated, cut over, fell back, and no acknowledged write lost ({story.ledger_check.describe()})"
    )


@demo_app.command("traffic")
def demo_traffic(
    rate: Annotated[float, typer.Option(min=0.1, help="Business transactions per second.")] = 50.0,
    duration: Annotated[float, typer.Option(min=0.1, help="Seconds to run.")] = 30.0,
    workers: Annotated[int, typer.Option(min=1, help="Concurrent application sessions.")] = 4,
    ledger: Annotated[Path, typer.Option(help="Where acknowledged writes are recorded (JSON lines).")] = Path(
        ".migrate/ledger/legacy.jsonl"
    ),
    routing: Annotated[
        Path | None,
        typer.Option(
            envvar="MIGRATE_ROUTING_FILE",
            help="Follow this routing file (written by cutover and fallback): the new application writes `app` on the target when it says so.",
        ),
    ] = None,
    side: Annotated[
        str,
        typer.Option(
            help="Without a routing file: legacy (the legacy application writes the source) or new (the new application writes `app` on the target)."
        ),
    ] = "legacy",
    generic: Annotated[
        bool,
        typer.Option(
            "--generic",
            help="Write any migration's tables (those of migration.yml; `app` as the dbt project maps it), not the worked example's.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """The legacy application writing to the source (and, following a routing file, the new one writing the target), every acknowledged commit in a ledger. Ctrl-C stops it cleanly."""
    import signal
    import threading

    from harness.demo.traffic import run_traffic

    if side not in ("legacy", "new"):
        raise ConfigError(f"--side {side}: use legacy or new")
    config = load_config()
    source, target = connections.resolve(config)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())  # finish the transactions in flight, then stop
    step(
        f"traffic: {rate:g} transactions/s for {duration:g} s, ledger {ledger}"
        + (f", following {routing}" if routing else f", the {side} application")
    )
    if generic:
        from harness.demo.generic_traffic import run_generic_traffic

        report = run_generic_traffic(
            config,
            config.project_dir / ledger,
            rate=rate,
            duration=duration,
            workers=workers,
            stop=stop,
            routing_file=routing,
            start_side=side,
        )
    else:
        report = run_traffic(
            source,
            config.source_schema,
            config.project_dir / ledger,
            rate=rate,
            duration=duration,
            workers=workers,
            stop=stop,
            new_db=target,
            routing_file=routing,
            start_side=side,
        )
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(report.by_kind.items()))
    sides = ", ".join(f"{side} {n:,}" for side, n in sorted(report.by_side.items()))
    summary(
        f"{report.transactions:,} transactions ({report.writes:,} row writes, {report.slow} held open) acknowledged in "
        f"{report.seconds:.1f} s = {report.transactions / max(report.seconds, 1e-9):,.0f}/s ({sides}); {report.failed} failed; "
        f"{report.refused:,} refused by a freeze and retried; {kinds}"
    )
    for line in report.errors:
        errors.print(f"[yellow]failed:[/] {line}")


# --- 1 assess (issue 4) ------------------------------------------------------------------------


@app.command("assess", rich_help_panel="1 Assess")
def assess(
    sample_rows: Annotated[
        int, typer.Option(min=0, help="Rows profiled per table; bigger tables are sampled. 0 reads every row.")
    ] = 100_000,
    as_json: JsonFlag = False,
) -> None:
    """Profile the source, measure throughput, estimate time and downtime per strategy, recommend one."""
    from rich.markup import escape

    from harness import assess as assessment
    from harness import reports
    from harness.assess.estimates import STRATEGY_LABELS, format_duration
    from harness.core.errors import CheckFailed, ConfigError

    config = load_config()
    source, target = connections.resolve(config)
    with progress("assessing the source", total=assessment.progress_units(config)) as bar:
        result = assessment.run(config, source, target, sample_rows=sample_rows, progress=bar)
    written = reports.write(
        config.reports_root, assessment.REPORT_NAME, result.to_dict(), assessment.assessment_markdown
    )
    ui.result(
        recommendation=result.recommendation,
        strategies=result.strategies,
        estimates=result.estimates,
        report=str(written.json),
    )

    step(result.verdict["headline"])
    for reason in result.recommendation["reasons"]:
        step(f"  {escape(reason)}")
    limit = config.downtime_limit_minutes
    table(
        "Downtime per strategy" + (f" (limit {format_duration(limit * 60)})" if limit else ""),
        ["strategy", "downtime", "total", "fits", "possible"],
        [
            [
                STRATEGY_LABELS[s["name"]],
                format_duration(s["downtime_seconds"]),
                format_duration(s["total_seconds"]),
                "–" if s["within_limit"] is None else ("yes" if s["within_limit"] else "no"),
                "yes" if s["possible"] else "no",
            ]
            for s in result.strategies
        ],
    )
    phased = next((s for s in result.strategies if s["name"] == "phased" and len(s["waves"]) > 1), None)
    if phased:
        table(
            "Phased: each wave's window",
            ["wave", "tables", "rows", "freeze", "copy", "build", "validation", "window"],
            assessment.wave_rows(phased["waves"]),
        )
    phases = result.estimates
    step(
        "phases: "
        + ", ".join(
            f"{label} {format_duration(phases[key]['seconds'])} ({phases[key].get('basis', 'estimated')})"
            for key, label in (
                ("initial_load", "initial load"),
                ("build", "build"),
                ("validation", "validation"),
                ("final_sync", "final sync"),
                ("freeze", "freeze"),
            )
        )
    )
    for finding in [f for f in result.findings if f.severity != "info"][:5]:
        step(
            f"[{'red' if finding.severity == 'blocking' else 'yellow'}]{finding.severity}[/]: {escape(finding.message)}"
        )
    summary(
        f"assessed {sum(t.rows for t in result.tables):,} rows in {len(result.tables)} tables in {result.seconds:.0f} s; "
        f"reports: {written.markdown.relative_to(config.project_dir)}, {written.json.relative_to(config.project_dir)}"
    )
    if result.blocking:
        first = result.blocking[0]
        message = f"assessment found {len(result.blocking)} blocking problem(s): {first.message}" + (
            f"; {first.fix}" if first.fix else ""
        )
        raise (ConfigError if result.exit_code == EXIT_USAGE else CheckFailed)(
            f"{message}; see {written.markdown.relative_to(config.project_dir)}"
        )


# --- 1 assess (end) -----------------------------------------------------------------------------


# --- 5 pre: backups -----------------------------------------------------------------------------


class Side(StrEnum):
    source = "source"
    target = "target"


SideOption = Annotated[Side, typer.Option(help="Which database.")]


@app.command("backup", rich_help_panel="5 Pre-migration")
def backup_cmd(
    side: SideOption = Side.source,
    directory: Annotated[Path, typer.Option("--dir", help="Where the archives go.")] = Path(".migrate/backups"),
    as_json: JsonFlag = False,
) -> None:
    """Take a pg_dump archive of the source or target, with a manifest (size, sha256, row counts)."""
    from harness import backup, engines

    config = load_config()
    source, target = connections.resolve(config)
    engine = engines.source_engine(config) if side is Side.source else engines.target_engine()
    step(f"{engine.dump_tool} of the {side.value}")
    result = backup.backup(config, source, target, side.value, config.project_dir / directory)
    summary(
        f"backup {result.backup_id}: {result.file} ({result.size_bytes / 1e6:,.1f} MB, {len(result.row_counts)} tables, "
        f"{sum(result.row_counts.values()):,} rows, sha256 {result.sha256[:12]}…) in {result.seconds:.1f} s"
    )


@app.command("restore", rich_help_panel="5 Pre-migration")
def restore_cmd(
    into: Annotated[str, typer.Option(help="A new database to restore into, on the same server.")],
    backup_id: Annotated[
        int | None, typer.Option("--backup", help="The backup id; default the latest of --side.")
    ] = None,
    side: SideOption = Side.source,
    allow_source_copy: Annotated[
        bool,
        typer.Option("--allow-source-copy", help="Allow a source archive (unmasked data) onto the target's server."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Restore a backup into a new database and verify it against its manifest."""
    from harness import backup

    config = load_config()
    source, target = connections.resolve(config)
    result = backup.restore(
        config, source, target, into, backup_id=backup_id, side=side.value, allow_source_copy=allow_source_copy
    )
    summary(
        f"backup {result.backup.backup_id} restored into {into} in {result.seconds:.1f} s: "
        f"{len(result.row_counts)} tables, {sum(result.row_counts.values()):,} rows, all matching the manifest"
        + (
            " by content (checksums)"
            if result.by_content
            else " by row counts (a backup taken before checksums were recorded)"
        )
    )


# --- 5 load -------------------------------------------------------------------------------------


@app.command(
    "build", rich_help_panel="5 Load", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def build(
    ctx: typer.Context,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild the incremental models from scratch.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Run `dbt build` against the target, exactly as by hand; extra arguments go to dbt."""
    config = load_config()
    _, target = connections.resolve(config)
    args = ["build", *(["--full-refresh"] if full_refresh else []), *ctx.args]
    outcome = dbt.run(config, target, args)
    summary(f"dbt build: {outcome.succeeded} nodes passed")


@app.command("provision", rich_help_panel="5 Load")
def provision_cmd(as_json: JsonFlag = False) -> None:
    """Create the target database, its schemas and the new application's role; safe to repeat."""
    from harness.target.provision import provision

    config = load_config()
    source, target = connections.resolve(config)
    result = provision(config, source, target)
    summary(f"target provisioned: {', '.join(result.created) if result.created else 'nothing to change'}")


@app.command("load", rich_help_panel="5 Load")
def load_cmd(
    jobs: Annotated[int, typer.Option(min=1, help="Tables or key ranges copied in parallel.")] = 2,
    range_rows: Annotated[int, typer.Option(min=1000, help="Rows per key range of a large table.")] = 250_000,
    build: Annotated[bool, typer.Option("--build/--no-build", help="Run the dbt build after the copy.")] = True,
    tables: Annotated[
        list[str] | None,
        typer.Option("--table", help="(Re)load only this table into the running migration; repeatable."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Copy a consistent snapshot of every listed table into landing, start capture, then dbt build.

    A load that was killed resumes where it stopped when run again (killed in its dbt build: the
    build alone). After the load, `--table T` reloads one table while sync runs, and tables added to
    migration.yml since are loaded alone.
    """
    from harness import load

    config = load_config()
    source, target = connections.resolve(config)
    build = _build_wanted(config, build)
    alone = tables or load.added_tables(config, source, target)
    if alone:
        if not tables:
            step(
                f"the listed tables are loaded but {', '.join(alone)}, added to migration.yml since: loading {'them' if len(alone) > 1 else 'it'} alone"
            )
        _load_tables(config, source, target, alone, build)
        return

    def copied(result: load.LoadResult | None) -> None:
        if result is None:
            summary("the copy was done by the interrupted run this one resumes")
        else:
            table(
                f"Load {result.load_id}" + (" (resumed)" if result.resumed else ""),
                ["table", "rows", "MB", "ranges", "copied now"],
                [(t.name, t.rows, f"{t.bytes / 1e6:,.1f}", t.ranges, t.copied_now) for t in result.tables.values()],
            )
            rate = result.rows / max(result.seconds, 1e-9)
            summary(
                f"loaded {result.rows:,} rows in {result.seconds:.1f} s ({rate:,.0f} rows/s); change capture is running on the source"
            )
        if build:
            step("dbt build")

    with progress("loading", total=None) as bar:
        done = load.run(
            config,
            source,
            target,
            build=build,
            jobs=jobs,
            range_rows=range_rows,
            progress=bar,
            on_copied=copied,
            quiet=False,
        )
    if build:
        summary(f"dbt build: {done.nodes_built} nodes passed")


def _build_wanted(config, build: bool) -> bool:
    """--build, unless the project has no dbt models yet (then landing is all there is: said once)."""
    if build and not dbt.has_models(config.project_dir):
        step("no dbt models in this project yet: landing is filled, nothing is built (migrate init writes a dbt layer)")
        return False
    return build


def _load_tables(config, source, target, names: list[str], build: bool) -> None:
    from harness import load, sync

    with progress("loading", total=None) as bar:
        loaded = load.load_tables(config, source, target, names, progress=bar)
    table(
        "Tables loaded into the running migration",
        ["table", "rows", "MB", "landing table", "views dropped"],
        [(t.name, t.rows, f"{t.bytes / 1e6:,.1f}", t.how, ", ".join(t.dropped_views)) for t in loaded],
    )
    summary(
        f"loaded {', '.join(t.name for t in loaded)}; capture is running on {'them' if len(loaded) > 1 else 'it'} and sync carries on from the copy"
    )
    dropped = [view for t in loaded for view in t.dropped_views]
    if build:
        step("dbt build")
        outcome = sync.build(config, target, ("build",), quiet=False)
        summary(f"dbt build: {outcome.succeeded} nodes passed")
    elif dropped:
        errors.print(
            f"[yellow]views dropped with their reshaped landing tables:[/] {', '.join(dropped)}; run `migrate build` to make them again"
        )


def _note_columns_added(batch) -> None:
    for name, columns in getattr(batch, "columns_added", {}).items():
        errors.print(
            f"[yellow]note:[/] {name}: {', '.join(columns)} added at the source, now followed; capture takes "
            "them more slowly until `migrate sync --install` installs it again"
        )


@app.command("sync", rich_help_panel="5 Load")
def sync_cmd(
    follow: Annotated[bool, typer.Option("--follow", help="Keep going and show the lag until interrupted.")] = False,
    build: Annotated[
        bool, typer.Option("--build/--no-build", help="Run the incremental dbt models after applying.")
    ] = True,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between batches with --follow.")] = 1.0,
    build_every: Annotated[float, typer.Option(min=0, help="Seconds between dbt runs with --follow.")] = 30.0,
    duration: Annotated[float | None, typer.Option(min=0, help="With --follow, stop after this many seconds.")] = None,
    detect_deletes: Annotated[
        bool, typer.Option("--detect-deletes", help="Timestamp capture: compare key sets to find hard deletes.")
    ] = False,
    install: Annotated[
        bool, typer.Option("--install", help="Only install the capture triggers on the source, then stop.")
    ] = False,
    forget: Annotated[
        str | None,
        typer.Option(
            "--forget",
            metavar="CONSUMER",
            help="Only stop keeping source changes for a target that is gone (its consumer id, see `migrate status`), then stop.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Apply captured source changes to landing in commit order, then through the incremental models."""
    from harness import sync

    config = load_config()
    source, target = connections.resolve(config)
    if forget is not None:
        sync.forget_consumer(config, source, target, forget)
        summary(f"consumer {forget} forgotten: the source keeps no more changes for it")
        return
    if install:
        from harness import engines
        from harness.target import landing

        with connections.connection(source, command="sync install", autocommit=True) as conn:
            tables = [landing.describe(conn, config, t) for t in config.tables]
            engines.source_engine(config).capture("trigger").prepare(conn, config.source_schema, tables)
        summary(
            f"capture triggers installed on {len(tables)} tables of {config.source_schema}; changes are logged in _migrate.changes"
        )
        return
    build = _build_wanted(config, build)
    if not follow:
        batch = sync.apply(config, source, target, detect_deletes=detect_deletes)
        if build and batch.changes:
            sync.build(config, target)
        lag = sync.lag(config, source, target)
        summary(
            f"applied {batch.changes:,} changes in {batch.seconds:.2f} s"
            + (f" ({', '.join(f'{t}: {n:,}' for t, n in sorted(batch.per_table.items()))})" if batch.per_table else "")
            + (f"; {lag.changes_behind:,} behind" if lag.changes_behind is not None else "")
        )
        _note_columns_added(batch)
        for name, count in getattr(batch, "null_stamped", {}).items():
            if count:
                errors.print(
                    f"[yellow]blind spot:[/] {name}: {count:,} rows have no {config.capture.column}; their changes are invisible to timestamp capture"
                )
        return
    deadline = time.monotonic() + duration if duration is not None else None

    def show(batch, lag) -> None:
        _note_columns_added(batch)
        step(
            f"{batch.changes:>6,} applied | landing lag {lag.seconds_behind:5.1f} s, "
            f"{'?' if lag.changes_behind is None else format(lag.changes_behind, ',')} changes"
            + (f" | app lag {lag.app_seconds_behind:5.1f} s" if build else "")
        )

    def retry(cause: str, wait: float) -> None:
        errors.print(f"[yellow]retrying in {wait:.0f} s:[/] {cause}")

    report = sync.follow(
        config,
        source,
        target,
        interval=interval,
        build_every=build_every,
        run_dbt=build,
        until=lambda: deadline is not None and time.monotonic() >= deadline,
        on_batch=show,
        on_retry=retry,
    )
    why = "the source is frozen for the cutover, nothing left to follow: " if report.source_frozen else ""
    summary(
        f"sync stopped: {why}{report.changes:,} changes in {report.batches:,} batches, {report.builds} dbt builds, {report.retries} retries"
    )
    if report.interrupted:
        raise KeyboardInterrupt


# --- 6 validate: reconcile (issue 6) -------------------------------------------------------------


@app.command("reconcile", rich_help_panel="6 Validate")
def reconcile_cmd(
    level: Annotated[
        str,
        typer.Option(
            "--level", help="counts, checksums, sample, rules, performance, smoke or all; several with commas."
        ),
    ] = "all",
    build: Annotated[
        bool, typer.Option("--build/--no-build", help="First bring app up to landing with `dbt run` when it is behind.")
    ] = True,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the sample level's random sample; the report names the one used.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Compare source, landing and app as of one source snapshot, level by level; exit 1 if a level fails.

    Writes reports/reconciliation/<time>-<id>/reconciliation.md, .json and .html (reports/reconciliation/latest
    points to the newest), and records every verdict in the control schema.
    """
    from harness import reconcile
    from harness.core.errors import CheckFailed

    levels = reconcile.parse_levels(level)
    config = load_config()
    source, target = connections.resolve(config)
    result = reconcile.reconcile(
        config,
        source,
        target,
        levels,
        build=build,
        sample_seed=seed,
        hooks=reconcile.Hooks(step=step, progress=progress),
    )
    table(
        f"Reconciliation {result.reconcile_id}",
        ["level", "verdict", "passed", "failed", "not available", "seconds"],
        [
            (r.level, r.verdict, r.count("passed"), r.count("failed"), r.count("not available"), f"{r.seconds:,.1f}")
            for r in result.levels
        ],
    )
    failed = [(r.level, c) for r in result.levels for c in r.checks if c.verdict == "failed"]
    for level_name, check in failed[:10]:
        errors.print(f"[red]✗[/] {level_name}: {check.name}" + (f" — {check.detail}" if check.detail else ""))
    if len(failed) > 10:
        errors.print(f"  … and {len(failed) - 10} more failed checks")
    report = Path(result.files["markdown"]).relative_to(config.project_dir)
    ui.result(
        reconcile_id=result.reconcile_id,
        passed=result.passed,
        levels={r.level: r.verdict for r in result.levels},
        failed_checks=[f"{level_name}: {check.name}" for level_name, check in failed],
        report=str(report),
    )
    if not result.passed:
        bad = ", ".join(r.level for r in result.levels if r.verdict == "failed")
        raise CheckFailed(f"reconciliation failed at level(s) {bad}: {len(failed)} check(s) failed; see {report}")
    compared = [r.level for r in result.levels if r.verdict != "skipped"]
    skipped = [r for r in result.levels if r.verdict == "skipped"]
    summary(
        f"reconciliation passed in {result.seconds:,.1f} s ({', '.join(compared)}); report {report} (.json, .html)"
        + (
            f"; not compared: {', '.join(r.level for r in skipped)} ({skipped[0].checks[0].detail if skipped[0].checks else 'nothing to compare'})"
            if skipped
            else ""
        )
    )


# --- 6 validate: reconcile (end) ------------------------------------------------------------------


# --- sign-off -----------------------------------------------------------------------------------


@app.command("docs", rich_help_panel="Sign-off")
def docs_cmd(
    out: Annotated[
        Path, typer.Option(help="The folder the documents are written to (relative to the project).")
    ] = Path("docs/migration"),
    as_json: JsonFlag = False,
) -> None:
    """Write the migration documents from the recorded facts: plan, mapping, validation, rollback, runbook.

    Also the transformation index and the sign-offs. Runs `dbt parse` first when target/manifest.json is missing.
    """
    from harness import docs

    config = load_config()
    source, target = connections.resolve(config)
    folder = config.project_dir / out
    result = docs.generate(config, source, target, folder)
    if result.parsed:
        step("ran `dbt parse` first: target/manifest.json was missing")
    table(
        "Migration documents",
        ["document", "file"],
        [(what, str(path.relative_to(folder))) for what, path in result.files],
    )
    for note in result.facts["notes"]:
        errors.print(f"[yellow]note:[/] {note}")
    shown = folder.relative_to(config.project_dir) if folder.is_relative_to(config.project_dir) else folder
    summary(f"{len(result.files)} files written to {shown}; open {shown / 'index.html'} or {shown / 'README.md'}")


@app.command("approve", rich_help_panel="Sign-off")
def approve_cmd(
    role: Annotated[str, typer.Option(help="The approver's role, one of the owners in migration.yml.")],
    name: Annotated[str, typer.Option(help="Who approves.")],
    stage: Annotated[str, typer.Option(help="plan, cutover, rollback or decommission.")] = "cutover",
    note: Annotated[str | None, typer.Option(help="Why, or on what conditions.")] = None,
    revoke: Annotated[
        bool,
        typer.Option(
            "--revoke", help="Withdraw the role's standing sign-off of the stage instead (--name: who withdraws it)."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Record a sign-off for a stage of the migration in the control schema (one stands per stage and role)."""
    from harness import approvals

    config = load_config()
    _, target = connections.resolve(config)
    if revoke:
        withdrawn = approvals.revoke(config, target, stage, role, name)
        summary(
            f"approval {withdrawn.approval_id} revoked: {withdrawn.name} ({withdrawn.role}) no longer approves {withdrawn.stage}"
        )
        return
    approval = approvals.approve(config, target, stage, role, name, note)
    summary(
        f"approval {approval.approval_id}: {approval.name} ({approval.role}) approved {approval.stage} at "
        f"{approval.approved_at:%Y-%m-%d %H:%M:%S %Z}, run by {approval.os_user}@{approval.host}"
    )


# --- 5 cutover and 7 rollback -------------------------------------------------------------------


@app.command("cutover", rich_help_panel="5 Cutover")
def cutover_cmd(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the gates and print the plan; change nothing.")
    ] = False,
    wave: Annotated[
        int | None,
        typer.Option(
            "--wave", help="Strategy phased: the wave of cutover.waves to cut over (1-based); default the next one."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run the cutover runbook of the strategy in migration.yml: gates, freeze, the last data, verification, sequences, switch.

    Parallel run: catch up, freeze, final sync and build. Big bang: freeze first, then load, full
    build. Phased: one wave of tables at a time. An interrupted cutover resumes at the first step
    that did not succeed.
    """
    from harness import cutover
    from harness.assess.estimates import STRATEGY_LABELS

    config = load_config()
    source, target = connections.resolve(config)
    plan = cutover.plan(config, target, wave)
    what = STRATEGY_LABELS[plan.strategy] + (
        f", wave {plan.wave} of {plan.waves}: {', '.join(plan.tables)}" if plan.wave else ""
    )
    step(f"strategy {what}" + (f" (resuming cutover run {plan.resumes_run})" if plan.resumes_run else ""))
    if dry_run:
        found = cutover.gates(config, source, target)
        table("Gates", ["gate", "state", "why"], [(g.name, "pass" if g.passed else "FAIL", g.reason) for g in found])
        estimates = cutover.estimates(config, target)
        table(
            "Runbook",
            ["step", "estimated"],
            [(name, f"{estimates[name]:.1f} s" if name in estimates else "not measured yet") for name in plan.steps],
        )
        failed = [g.name for g in found if not g.passed]
        if failed:  # exit 1: a gate is not met
            raise cutover.GateFailed(f"dry run: nothing was changed; cutover would be refused ({', '.join(failed)})")
        summary("dry run: nothing was changed; every gate passes")
        return
    result = cutover.run(
        config, source, target, wave=plan.wave, on_step=lambda s: step(f"{s.name}: done in {s.seconds:.2f} s")
    )
    table(
        f"Cutover run {result.run_id}"
        + (f", wave {plan.wave}" if plan.wave else "")
        + (" (resumed)" if result.resumed else ""),
        ["step", "seconds"],
        [(s.name, "done earlier" if s.skipped else f"{s.seconds:.2f}") for s in result.steps],
    )
    unavailable = (
        f"{result.write_unavailable_seconds:.1f} s" if result.write_unavailable_seconds is not None else "not measured"
    )
    ui.result(
        run_id=result.run_id,
        resumed=result.resumed,
        wave=plan.wave,
        write_unavailable_seconds=result.write_unavailable_seconds,
        steps={s.name: None if s.skipped else round(s.seconds, 3) for s in result.steps},
    )
    if not plan.last:
        summary(
            f"wave {plan.wave} of {plan.waves} cut over: {', '.join(plan.tables)} written on the new system (writes to them were unavailable "
            f"for {unavailable}) and read-only on the source; the other tables stay on the legacy system; next: migrate cutover --wave {plan.wave + 1}"
        )
        return
    summary(
        ("every wave is cut over: " if plan.wave else "cutover complete: ")
        + f"the applications write to the new system; writes were unavailable for {unavailable}; the source stays read-only for the rollback window"
    )


@app.command("rollback", rich_help_panel="7 Rollback")
def rollback_cmd(
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Only evaluate the rollback criteria of migration.yml; change nothing. Exit 1 when one is met.",
        ),
    ] = False,
    decided_by: Annotated[str | None, typer.Option(help="Who decided to roll back.")] = None,
    role: Annotated[
        str | None, typer.Option(help="The decider's owner role, one of rollback.deciders in migration.yml.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check the rollback criteria (--check), or roll back.

    Before the switch: abort the cutover, unfreeze the source; capture keeps running, nothing is lost.
    After the switch: fall back: freeze the new side, carry its changes into the legacy schema
    through the reverse models, verify, switch the applications back, unfreeze the source.
    """
    from harness import rollback
    from harness.core.errors import CheckFailed, ConfigError
    from harness.rollback import criteria as rollback_criteria

    config = load_config()
    if check:
        if decided_by or role or reason:
            raise ConfigError("--check only evaluates the criteria: leave out --decided-by, --role and --reason")
        source, target = connections.resolve(config)
        if moot := rollback_criteria.nothing_to_roll_back(config, target):
            summary(f"no rollback to recommend: {moot}; nothing was changed")
            return
        verdicts = rollback_criteria.evaluate(config, source, target)
        table(
            "Rollback criteria",
            ["criterion", "kind", "state", "figure", "limit", "note"],
            [
                (
                    v.name,
                    v.kind,
                    v.state.upper() if v.state == rollback_criteria.MET else v.state,
                    v.figure,
                    v.limit,
                    v.detail,
                )
                for v in verdicts
            ],
        )
        met = rollback_criteria.met(verdicts)
        if met:
            raise CheckFailed(
                "rollback recommended: "
                + "; ".join(f"{v.name} ({v.figure})" for v in met)
                + f"; a decider ({', '.join(config.rollback.deciders)}) decides with migrate rollback --role ROLE --decided-by NAME --reason TEXT"
            )
        unknown = [v.name for v in verdicts if v.state == rollback_criteria.CANNOT_TELL]
        summary(
            "no rollback criterion is met"
            + (f"; cannot tell: {', '.join(unknown)}" if unknown else "")
            + "; nothing was changed"
        )
        return
    missing = [
        flag
        for flag, value in (("--decided-by", decided_by), ("--role", role), ("--reason", reason))
        if not (value and value.strip())
    ]
    if missing:
        raise ConfigError(
            f"a rollback needs {', '.join(missing)}: who decided, in which owner role, and why (or --check to only evaluate the criteria)"
        )
    rollback_criteria.authorize(config, role)
    source, target = connections.resolve(config)
    result = rollback.rollback(
        config,
        source,
        target,
        decided_by=f"{decided_by} ({role})",
        reason=reason,
        on_step=lambda s: step(f"{s.name}: done in {s.seconds:.2f} s"),
    )
    if isinstance(result, rollback.Aborted):
        summary(
            f"rolled back{f' cutover run {result.run_id}' if result.run_id else ''} before the switch: source writable again"
            + (f" ({', '.join(result.unfrozen)} unfrozen)" if result.unfrozen else "")
            + "; capture keeps running"
        )
        return
    table(
        f"Fallback run {result.run_id}" + (" (resumed)" if result.resumed else ""),
        ["step", "seconds"],
        [(s.name, "done earlier" if s.skipped else f"{s.seconds:.2f}") for s in result.steps],
    )
    table(
        "Carried back into the legacy schema",
        ["table", "inserted", "updated", "deleted"],
        [(name, f"{c['inserted']:,}", f"{c['updated']:,}", f"{c['deleted']:,}") for name, c in result.carried.items()],
    )
    unavailable = (
        f"{result.write_unavailable_seconds:.1f} s" if result.write_unavailable_seconds is not None else "not measured"
    )
    summary(
        f"fell back: every change of the new application is in the legacy schema and verified; the applications write the legacy "
        f"system again (writes were unavailable for {unavailable}); the new side stays frozen"
    )


@app.command("rehearse", rich_help_panel="7 Rollback")
def rehearse_cmd(
    traffic_command: Annotated[
        str | None,
        typer.Option(
            help='A command that writes to the copies meanwhile (e.g. "migrate demo traffic --duration 3600"); it gets MIGRATE_SOURCE_URL, MIGRATE_TARGET_URL and MIGRATE_ROUTING_FILE.'
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Rehearse the whole cycle on disposable copies (backup, restore, load, build, sync, reconcile, cutover through the switch, fallback, verification), timed."""
    import shlex

    from harness.rehearse import rehearse

    config = load_config()
    source, target = connections.resolve(config)
    result = rehearse(
        config,
        source,
        target,
        on_step=lambda name, seconds: step(f"{name}: {seconds:.2f} s"),
        traffic_command=shlex.split(traffic_command) if traffic_command else None,
        quiet=False,
        progress=progress,
    )
    summary(
        f"rehearsal {result.rehearsal_id} succeeded in {result.seconds:.0f} s"
        + ("" if result.fallback else " (rolled back before the switch: the project has no reverse models)")
        + f"; report {result.report.relative_to(config.project_dir)}; the cutover runbook now uses its timings"
    )


@app.command("decommission", rich_help_panel="5 Post-migration")
def decommission_cmd(
    directory: Annotated[Path, typer.Option("--dir", help="Where the final archive of the source goes.")] = Path(
        ".migrate/archive"
    ),
    force: Annotated[
        bool, typer.Option("--force", help="Cut the rollback window short; needs --decided-by and --reason.")
    ] = False,
    decided_by: Annotated[str | None, typer.Option(help="Who forces it (recorded).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why the rollback window is cut short (recorded).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """After the rollback window: a final verified archive of the source, capture removed, migration marked complete.

    The legacy schema stays read-only. An interrupted decommission resumes where it stopped.
    """
    from harness import decommission

    config = load_config()
    source, target = connections.resolve(config)
    result = decommission.decommission(
        config,
        source,
        target,
        directory=config.project_dir / directory,
        force=force,
        decided_by=decided_by,
        reason=reason,
        on_step=lambda name, seconds: step(f"{name}: done in {seconds:.2f} s"),
    )
    archive = f"archive backup #{result.backup_id} ({result.archive})" if result.backup_id else "no archive recorded"
    if result.already_done:
        summary(f"already decommissioned at {result.decommissioned_at:%Y-%m-%d %H:%M %Z}; {archive}; nothing to do")
        return
    table(
        f"Decommission run {result.run_id}",
        ["step", "seconds"],
        [(name, "done earlier" if s is None else f"{s:.2f}") for name, s in result.steps],
    )
    step(
        f"{config.source_schema} stays read-only ({len(result.read_only_tables)} tables); only `drop schema {decommission.READ_ONLY_SCHEMA} cascade` on the source lifts it"
    )
    summary(
        f"migration complete{' (rollback window cut short)' if result.forced else ''}: {archive} verified by a restore; capture removed from the source"
    )


# --- any time -----------------------------------------------------------------------------------


@app.command("status", rich_help_panel="Any time")
def status_cmd(as_json: JsonFlag = False) -> None:
    """Where the migration stands: load, capture, lag, backups, last verdicts, approvals, next step."""
    from harness.status import status, strategy_line

    config = load_config()
    source, target = connections.resolve(config)
    result = status(config, source, target)
    ui.result(**result.as_dict())
    if as_json:
        return  # main prints the document
    facts = result.facts
    load, sync_state, lag, rec, interrupted = (
        facts["load"],
        facts["sync"],
        facts.get("lag"),
        facts["reconcile"],
        facts["interrupted"],
    )
    rows = [
        ("source / target", f"{result.source} → {result.target}"),
        (
            "load",
            (f"{load['status']}, {load['rows'] or 0:,} rows in {load['seconds'] or 0:.0f} s" if load else "not started")
            + (
                f"; load run {interrupted['run_id']} interrupted at {interrupted['step']}"
                if interrupted and interrupted["command"] == "load"
                else ""
            ),
        ),
        (
            "capture",
            f"{facts['capture']['method']}"
            + (", removed by decommission" if facts["capture"].get("removed") else "")
            + (f", missing on {', '.join(facts['capture']['missing'])}" if facts["capture"].get("missing") else ""),
        ),
        *[("other target", _consumer_line(c)) for c in facts["capture"].get("consumers", []) if not c["this_target"]],
        (
            "sync",
            f"{sync_state['changes_applied']:,} changes applied, last at {sync_state['applied_at']:%H:%M:%S}"
            if sync_state
            else "not started",
        ),
        (
            "lag",
            f"landing {lag['landing_seconds']:.1f} s ({lag['changes_behind'] if lag['changes_behind'] is not None else '?'} changes)"
            + (
                f", app {lag['app_seconds']:.1f} s"
                if lag["app_seconds"] is not None
                else ", no app yet (no dbt models)"
            )
            if lag
            else "-",
        ),
        (
            "backups",
            ", ".join(
                f"{side} #{b['id']}" + (" verified" if b["verified_at"] else " unverified")
                for side, b in facts["backups"].items()
            )
            or "none",
        ),
        ("reconcile", f"#{rec['id']} {rec['status']} ({', '.join(rec['levels'])})" if rec else "never run"),
        ("approvals", ", ".join(f"{a['stage']}: {a['role']} ({a['name']})" for a in facts["approvals"]) or "none"),
        ("phase", _phase_line(facts["phase"])),
        ("strategy", strategy_line(facts["strategy"])),
    ]
    table("Migration status", ["what", "state"], rows)
    summary(f"next: {result.next_step}")


def _consumer_line(consumer: dict) -> str:
    """Another target syncing from the source, and what to do if it is gone."""
    last = (
        f"last applied {consumer['last_applied_at']:%Y-%m-%d %H:%M}" if consumer["last_applied_at"] else "never applied"
    )
    line = f"{consumer['consumer_id']} ({consumer['target']}), {last}, holds {consumer['changes_held']:,} changes in the log"
    return line + (f"; gone? `migrate sync --forget {consumer['consumer_id']}`" if consumer["changes_held"] else "")


def _phase_line(phase: dict | None) -> str:
    if phase is None:
        return "before cutover"
    line = f"{phase['phase']} since {phase['changed_at']:%Y-%m-%d %H:%M %Z}"
    if phase["rollback_window_ends"] and phase["phase"] == "switched":
        line += f"; rollback window ends {phase['rollback_window_ends']:%Y-%m-%d %H:%M %Z}"
    return line


# --- entry point --------------------------------------------------------------------------------


def _interrupted() -> int:
    """One line: what stopped, what is kept, how to resume; the exit code, 130 (Ctrl-C) or 143 (SIGTERM)."""
    command = shlex.join(["migrate", *sys.argv[1:]])
    errors.print(
        f"[bold yellow]interrupted[/] by {interrupts.signal_name()}: `{command}` stopped at a safe point; what it finished "
        "is recorded (`migrate status`) and nothing half-done is kept; run it again to resume"
    )
    return interrupts.exit_code()


EXIT_MEANINGS = {
    0: "done",
    1: "a check failed (a dbt test, a mismatch, a gate not met)",
    2: "usage or configuration error",
    130: "interrupted by Ctrl-C (SIGINT)",
    143: "interrupted by SIGTERM",
}


def _run() -> tuple[int, str | None]:
    """Run the command; its exit code and, for a failure, the one line that says why (printed too)."""
    try:
        # Not standalone: typer then returns the exit code of an Exit instead of exiting, and turns
        # a KeyboardInterrupt into Exit(130).
        code = app(standalone_mode=False, prog_name="migrate")
        if code == EXIT_INTERRUPTED:
            return _interrupted(), "interrupted"
        return (code if isinstance(code, int) else 0), None
    except HarnessError as exc:
        errors.print(f"[bold red]error:[/] {exc}")
        return exc.exit_code, str(exc)
    except (typer.Abort, KeyboardInterrupt):
        return _interrupted(), "interrupted"
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE, exc.format_message()
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        errors.print(f"[bold red]database error:[/] {first}")
        return 1, f"database error: {first}"
    except typer.Exit as exc:
        return exc.exit_code, None


def main() -> None:
    """Run the CLI; expected errors become one line on stderr and an exit code. With --json, every
    human line goes to stderr and stdout holds one JSON document."""
    import json

    interrupts.install()
    arguments = sys.argv[1 : sys.argv.index("--")] if "--" in sys.argv else sys.argv[1:]
    as_json = "--json" in arguments
    stdout = sys.stdout
    if as_json:
        sys.stdout = sys.stderr
    code, error = _run()
    if as_json:
        words = [a for a in arguments if not a.startswith("-")]
        document = {
            "command": " ".join(words[:2] if words[:1] in (["env"], ["demo"]) else words[:1]) or "migrate",
            "exit_code": code,
            "meaning": EXIT_MEANINGS.get(code, "failed"),
            **({"error": error} if error else {}),
            "summary": ui.record.summary,
            "steps": ui.record.steps,
            "tables": ui.record.tables,
            **ui.record.result,
        }
        print(json.dumps(document, default=str, indent=2), file=stdout)
    sys.exit(code)


# Commands in modules of their own register on `app` when imported.
from harness.cli import check_cmd, init_cmd  # noqa: E402, F401

if __name__ == "__main__":
    main()
