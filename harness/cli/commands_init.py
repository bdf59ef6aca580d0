"""`migrate init`: a new migration project from a live source (harness/scaffold)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli.app import JsonFlag, app
from harness.cli.ui import result, step, summary


@app.command("init", rich_help_panel="Set-up")
def init_cmd(
    directory: Annotated[Path, typer.Argument(help="The new project's folder (new or empty).")],
    source_url: Annotated[
        str, typer.Option("--source-url", help="The source database: postgresql://user@host:port/database.")
    ],
    target_url: Annotated[
        str | None, typer.Option("--target-url", help="The target database (default: the embedded server).")
    ] = None,
    schema: Annotated[str | None, typer.Option("--schema", help="The source schema (default: public).")] = None,
    tables: Annotated[
        list[str] | None, typer.Option("--tables", help="Only tables matching this pattern (* and ?); repeatable.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Write into a folder that is not empty.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Scaffold a migration project from the source's catalog: migration.yml and the dbt mapping."""
    from harness.scaffold import init_project

    done = init_project(directory, source_url, target_url=target_url, schema=schema, tables=tables, force=force)
    for finding in done.findings:
        step(f"[yellow]note[/] {finding}")
    result(files=done.files, tables=done.tables, masks=done.masks, strategy=done.strategy, findings=done.findings)
    summary(
        f"{done.directory}: {done.tables} table(s), {done.masks} mask(s) proposed, strategy {done.strategy}, "
        f"{len(done.files)} files; next: cd {directory} && migrate provision && migrate load"
    )
