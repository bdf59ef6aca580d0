"""Set-up and any time: `migrate env …` (the servers), `migrate demo …` (the worked example) and
`migrate status`."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from harness import dbt
from harness.cli import ui, views
from harness.cli.app import JsonFlag, app, demo_app, env_app, show
from harness.core import connections, embedded
from harness.core.config import load_config
from harness.core.context import Context
from harness.core.errors import ConfigError

# --- env ----------------------------------------------------------------------------------------


@env_app.command("up")
def env_up(as_json: JsonFlag = False) -> None:
    """Start the embedded PostgreSQL (unless servers are configured) and check both databases answer."""
    context = Context.open("env up")
    for db in (context.source, context.target):
        ui.show([views.server_answers(db, connections.server_version(db, command="env up"), up=True)])
    ui.summary("both databases answer" + (" on the embedded server" if context.source.embedded else ""))


@env_app.command("down")
def env_down(as_json: JsonFlag = False) -> None:
    """Stop the embedded PostgreSQL. Its data stays in .migrate/ for the next `env up`."""
    config = load_config()
    stopped = embedded.stop(config.project_dir)
    ui.summary("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")


@env_app.command("status")
def env_status(as_json: JsonFlag = False) -> None:
    """Show where the source and target are and whether they answer."""
    config = load_config()
    state = embedded.status(config.project_dir)
    if config.source.url or config.target.url:
        ui.step("servers configured by URL; the embedded server is not used")
    else:
        ui.show([views.embedded_state(state)])
        if not state.running:
            ui.summary("nothing running; `migrate env up` starts it")
            return
    context = Context.open("env status", config, create_missing=False)
    for db in (context.source, context.target):
        ui.show([views.server_answers(db, connections.server_version(db, command="env status"), up=False)])
    ui.summary("source and target reachable")


@env_app.command("shell")
def env_shell(as_json: JsonFlag = False) -> None:
    """Print the exports that let you run dbt by hand: eval "$(migrate env shell)"."""
    context = Context.open("env shell")
    for name, value in dbt.environment(context.target, context.config.landing_schema).items():
        print(f"export {name}={shlex.quote(value)}")


# --- demo ---------------------------------------------------------------------------------------

ScaleOption = Annotated[int, typer.Option(min=1, help="Number of legacy customers; orders ≈ 3×, lines ≈ 9×.")]
SeedOption = Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")]
SourceEngineOption = Annotated[
    str,
    typer.Option(
        help="postgres: the legacy source on the embedded PostgreSQL; mysql: on a MariaDB with the binary log on "
        "(MIGRATE_SOURCE_URL, else a private one started from the installed binaries in .migrate/mariadb)."
    ),
]


def _source_engine(engine: str) -> str:
    from harness.demo.mysql_source import ENGINES

    if engine not in ENGINES:
        raise ConfigError(f"--source-engine {engine!r} is unknown: use {' or '.join(ENGINES)}")
    return engine


@demo_app.command("seed")
def demo_seed(
    scale: ScaleOption = 10_000,
    seed: SeedOption = 42,
    source_engine: SourceEngineOption = "postgres",
    as_json: JsonFlag = False,
) -> None:
    """Generate the legacy OMS database (schema "oms", every defect of the spec at its rate)."""
    from harness.demo import run as demo
    from harness.demo.mysql_source import mysql_source, postgres_only

    if _source_engine(source_engine) == "postgres":
        context = Context.open("demo seed")
        with ui.progress("seeding legacy source", total=demo.expected_rows(scale)) as bar:
            result = demo.seed(context.source, scale, seed, lambda _table, rows: bar(rows))
        show(views.seeded(result, context.source))
        return
    context = Context.open("demo seed", postgres_only(load_config()))
    admin = connections.with_database(context.target.url, "postgres")  # the rows are computed in a scratch there
    with (
        mysql_source(context.config) as source,
        ui.progress("seeding legacy source", total=demo.expected_rows(scale)) as bar,
    ):
        result = demo.seed(source, scale, seed, lambda _table, rows: bar(rows), scratch_admin_url=admin)
    show(views.seeded(result, source))


@demo_app.command("run")
def demo_run(
    scale: ScaleOption = 10_000,
    seed: SeedOption = 42,
    jobs: Annotated[int, typer.Option(min=1)] = 2,
    rate: Annotated[float, typer.Option(min=1, help="The applications' business transactions per second.")] = 50.0,
    source_engine: SourceEngineOption = "postgres",
    as_json: JsonFlag = False,
) -> None:
    """The parallel-run story end to end: seed, load under traffic, sync, reconcile, cutover, the new
    application writing, fallback, and the ledger of both applications checked; prints the timeline."""
    from contextlib import nullcontext

    from harness.demo.mysql_source import mysql_source, postgres_only
    from harness.demo.story import mysql_source_config, run_story

    mysql = _source_engine(source_engine) == "mysql"
    context = Context.open("demo run", postgres_only(load_config()) if mysql else None)
    with mysql_source(context.config) if mysql else nullcontext(context.source) as source:
        config = mysql_source_config(context.config, source) if mysql else context.config
        with ui.live_line("the demo is starting") as line:  # the timeline is printed once, as a table, at the end
            story = run_story(
                config,
                source,
                context.target,
                scale=scale,
                seed=seed,
                rate=rate,
                jobs=jobs,
                on_event=lambda at, what, figures: line(views.story_event(at, what, figures)),
            )
        if mysql:  # while the MariaDB runs: migration.yml does not name it
            from harness import dashboard

            dashboard.write_for_command(config, source, context.target)
    show(views.story(story))


# The help as an argument, not a docstring: a docstring wrapped to 120 columns would show its line
# breaks in the command list of `migrate demo --help`.
@demo_app.command(
    "traffic",
    help="The legacy application writing to the source (and, following a routing file, the new one writing the "
    "target), every acknowledged commit in a ledger. Ctrl-C stops it cleanly.",
)
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
            help="Follow this routing file (written by cutover and fallback): the new application writes `app` on the "
            "target when it says so.",
        ),
    ] = None,
    side: Annotated[
        str,
        typer.Option(
            help="Without a routing file: legacy (the legacy application writes the source) or new (the new "
            "application writes `app` on the target)."
        ),
    ] = "legacy",
    generic: Annotated[
        bool,
        typer.Option(
            "--generic",
            help="Write any migration's tables (those of migration.yml; `app` as the dbt project maps it), not the "
            "worked example's.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    import signal
    import threading

    from harness.demo.traffic import run_traffic

    if side not in ("legacy", "new"):
        raise ConfigError(f"--side {side}: use legacy or new")
    context = Context.open("demo traffic")
    if not generic and context.config.source.engine != "postgres":
        raise ConfigError(
            f"the worked example's traffic writes a PostgreSQL source, and source.engine is "
            f"{context.config.source.engine}: use `migrate demo traffic --generic`"
        )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())  # finish the transactions in flight, then stop
    show([views.traffic_start(rate, duration, ledger, routing, side)])
    if generic:
        from harness.demo.generic_traffic import run_generic_traffic

        report = run_generic_traffic(
            context.config,
            context.config.project_dir / ledger,
            rate=rate,
            duration=duration,
            workers=workers,
            stop=stop,
            routing_file=routing,
            start_side=side,
        )
    else:
        report = run_traffic(
            context.source,
            context.config.source_schema,
            context.config.project_dir / ledger,
            rate=rate,
            duration=duration,
            workers=workers,
            stop=stop,
            new_db=context.target,
            routing_file=routing,
            start_side=side,
        )
    show(views.traffic(report))


# --- any time -----------------------------------------------------------------------------------


@app.command("status", rich_help_panel="Any time")
def status_cmd(
    watch: Annotated[
        bool, typer.Option("--watch", help="Refresh in the terminal (load, lag, the cutover's step) until Ctrl-C.")
    ] = False,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between refreshes with --watch.")] = 2.0,
    as_json: JsonFlag = False,
) -> None:
    """Where the migration stands: load, capture, lag, backups, last verdicts, approvals, next step."""
    from harness.status import status

    context = Context.open("status")
    if watch:
        from harness.cli.watch import watch_status

        watch_status(context.config, context.source, context.target, interval)
        return
    result = status(context.config, context.source, context.target)
    ui.result(**result.as_dict())
    if as_json:
        return  # main prints the document
    show(views.status(result))


@app.command("dashboard", rich_help_panel="Any time")
def dashboard_cmd(as_json: JsonFlag = False) -> None:
    """Write reports/dashboard.html: where the migration stands, with its charts, readable offline.

    Every command that changes the state writes it again when it finishes; its facts are in reports/dashboard.json.
    """
    from harness import dashboard

    context = Context.open("dashboard")
    written = dashboard.write(context.config, context.source, context.target)
    project_dir = context.config.project_dir
    shown = written.html.relative_to(project_dir) if written.html.is_relative_to(project_dir) else written.html
    ui.result(dashboard=str(shown), next_step=written.facts["next_step"])
    ui.summary(f"dashboard written to {shown}; next: {written.facts['next_step']}")
