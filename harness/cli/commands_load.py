"""5 Load: `migrate load`, `migrate build`, `migrate sync`."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from harness import dbt
from harness.cli import ui, views
from harness.cli.app import JsonFlag, app, show
from harness.core.context import Context


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
    context = Context.open("build")
    args = ["build", *(["--full-refresh"] if full_refresh else []), *ctx.args]
    outcome = dbt.run(context.config, context.target, args)
    show(views.built(outcome.succeeded))


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

    context = Context.open("load")
    config, source, target = context.config, context.source, context.target
    build = _build_wanted(context, build)
    alone = tables or load.added_tables(config, source, target)
    if alone:
        if not tables:
            show([views.tables_added(alone)])
        _load_tables(context, alone, build)
        return
    with ui.progress("loading", total=None) as bar:
        done = load.run(
            config,
            source,
            target,
            build=build,
            jobs=jobs,
            range_rows=range_rows,
            progress=bar,
            on_copied=lambda result: show(views.copied(result, build)),
            quiet=False,
            context=context,
        )
    if build:
        show(views.built(done.nodes_built))


def _build_wanted(context: Context, build: bool) -> bool:
    """--build, unless the project has no dbt models yet (then landing is all there is: said once)."""
    if build and not dbt.has_models(context.config.project_dir):
        show([views.no_models()])
        return False
    return build


def _load_tables(context: Context, names: list[str], build: bool) -> None:
    from harness import load, sync

    config, source, target = context.config, context.source, context.target
    with ui.progress("loading", total=None) as bar:
        loaded = load.load_tables(config, source, target, names, progress=bar, context=context)
    show(views.tables_loaded(loaded))
    if build:
        show([ui.Step("dbt build")])
        show(views.built(sync.build(config, target, ("build",), quiet=False).succeeded))
    else:
        show(views.views_dropped(loaded))


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
            help="Only stop keeping source changes for a target that is gone (its consumer id, see "
            "`migrate status`), then stop.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Apply captured source changes to landing in commit order, then through the incremental models."""
    from harness import sync

    context = Context.open("sync")
    config, source, target = context.config, context.source, context.target
    if forget is not None:
        sync.forget_consumer(config, source, target, forget)
        show(views.consumer_forgotten(forget))
        return
    if install:
        show(views.capture_installed(sync.install_capture(context), config.source_schema))
        return
    build = _build_wanted(context, build)
    if not follow:
        batch = sync.apply(config, source, target, detect_deletes=detect_deletes)
        if build and batch.changes:
            sync.build(config, target)
        show(views.batch(batch, sync.lag(config, source, target), config.capture.column))
        return
    deadline = time.monotonic() + duration if duration is not None else None
    report = sync.follow(
        config,
        source,
        target,
        interval=interval,
        build_every=build_every,
        run_dbt=build,
        until=lambda: deadline is not None and time.monotonic() >= deadline,
        on_batch=lambda batch, lag: show(views.followed(batch, lag, built=build)),
        on_retry=lambda cause, wait: show(views.retrying(cause, wait)),
    )
    show(views.follow_stopped(report))
    if report.interrupted:
        raise KeyboardInterrupt
