"""Before anything moves: `migrate assess` (1), `migrate backup` and `migrate restore`, `migrate provision`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli import ui, views
from harness.cli.app import JsonFlag, Side, SideOption, app, show
from harness.core.context import Context


@app.command("assess", rich_help_panel="1 Assess")
def assess(
    sample_rows: Annotated[
        int, typer.Option(min=0, help="Rows profiled per table; bigger tables are sampled. 0 reads every row.")
    ] = 100_000,
    as_json: JsonFlag = False,
) -> None:
    """Profile the source, measure throughput, estimate time and downtime per strategy, recommend one."""
    from harness import assess as assessment

    context = Context.open("assess")
    config = context.config
    with ui.progress("assessing the source", total=assessment.progress_units(config)) as bar:
        result = assessment.run(config, context.source, context.target, sample_rows=sample_rows, progress=bar)
    written = assessment.write_report(config.reports_root, result)
    show(views.assess(result, config, written))


@app.command("backup", rich_help_panel="5 Pre-migration")
def backup_cmd(
    side: SideOption = Side.source,
    directory: Annotated[Path, typer.Option("--dir", help="Where the archives go.")] = Path(".migrate/backups"),
    as_json: JsonFlag = False,
) -> None:
    """Take a pg_dump archive of the source or target, with a manifest (size, sha256, row counts)."""
    from harness import backup, engines

    context = Context.open("backup")
    config = context.config
    engine = engines.source_engine(config) if side is Side.source else engines.target_engine()
    show([views.backup_start(engine, side.value)])
    result = backup.backup(config, context.source, context.target, side.value, config.project_dir / directory)
    show(views.backup(result))


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

    context = Context.open("restore")
    result = backup.restore(
        context.config,
        context.source,
        context.target,
        into,
        backup_id=backup_id,
        side=side.value,
        allow_source_copy=allow_source_copy,
    )
    show(views.restore(result, into))


@app.command("provision", rich_help_panel="5 Load")
def provision_cmd(as_json: JsonFlag = False) -> None:
    """Create the target database, its schemas and the new application's role; safe to repeat."""
    from harness.target.provision import provision

    context = Context.open("provision")
    show(views.provision(provision(context.config, context.source, context.target)))
