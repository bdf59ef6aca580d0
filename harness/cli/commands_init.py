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
        str | None,
        typer.Option(
            "--source-url",
            help="The source database: postgresql://user@host:port/database (with --update: default migration.yml's).",
        ),
    ] = None,
    target_url: Annotated[
        str | None, typer.Option("--target-url", help="The target database (default: the embedded server).")
    ] = None,
    schema: Annotated[str | None, typer.Option("--schema", help="The source schema (default: public).")] = None,
    tables: Annotated[
        list[str] | None, typer.Option("--tables", help="Only tables matching this pattern (* and ?); repeatable.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Write into a folder that is not empty.")] = False,
    update: Annotated[
        bool,
        typer.Option(
            "--update",
            help=(
                "Bring the project in DIR up to the source: add what is new, report what differs, "
                "never overwrite your edits."
            ),
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Scaffold a migration project from the source's catalog: migration.yml and the dbt mapping."""
    from harness.core.errors import ConfigError
    from harness.scaffold import init_project
    from harness.scaffold.update import UPDATES

    if source_url is None and not update:
        raise ConfigError("migrate init needs --source-url (the source database), e.g. postgresql://user@host/db")
    done = init_project(
        directory, source_url, target_url=target_url, schema=schema, tables=tables, force=force, update=update
    )
    if done.update is not None:
        changes = done.update
        for line in changes.source_changes:
            step(f"source: {line}")
        for path in changes.added:
            step(f"[green]added[/] {path}")
        for path in changes.rewritten:
            step(f"updated {path} (you had not edited it)")
        for path in changes.merged:
            step(f"[yellow]new tables inserted[/] into {path} (edited by you; the rest of it left as it is)")
        for path in changes.kept:
            step(f"[yellow]kept your edits[/] in {path}: the new version is {UPDATES}/{path}, to compare and merge")
        result(
            source_changes=changes.source_changes,
            added=changes.added,
            rewritten=changes.rewritten,
            merged=changes.merged,
            kept=changes.kept,
        )
        summary(
            f"{done.directory}: {len(changes.source_changes)} source change(s); {len(changes.added)} file(s) added, "
            f"{len(changes.rewritten)} updated, {len(changes.kept)} with your edits kept; "
            "next: migrate load --no-build (new tables), migrate sync --no-build (new columns), "
            "migrate build --full-refresh"
        )
        return
    for finding in done.findings:
        step(f"[yellow]note[/] {finding}")
    result(files=done.files, tables=done.tables, masks=done.masks, strategy=done.strategy, findings=done.findings)
    summary(
        f"{done.directory}: {done.tables} table(s), {done.masks} mask(s) proposed, strategy {done.strategy}, "
        f"{len(done.files)} files; next: cd {directory} && migrate provision && migrate load"
    )
