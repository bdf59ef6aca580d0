"""6 Validate and sign off: `migrate reconcile`, `migrate docs`, `migrate approve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness import dbt
from harness.cli import ui, views_cutover
from harness.cli.app import JsonFlag, app, show
from harness.core.context import Context


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
    full: Annotated[
        list[str] | None,
        typer.Option(
            "--full",
            metavar="TABLE",
            help="Compare this app table whole at the sample level, not a sample (repeatable); "
            "on Spark with reconcile.spark.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Compare source, landing and app as of one source snapshot, level by level; exit 1 if a level fails.

    Writes reports/reconciliation/<time>-<id>/reconciliation.md, .json and .html (reports/reconciliation/latest
    points to the newest), and records every verdict in the control schema.
    """
    from harness import reconcile

    levels = reconcile.parse_levels(level)
    context = Context.open("reconcile")
    result = reconcile.reconcile(
        context.config,
        context.source,
        context.target,
        levels,
        build=build,
        sample_seed=seed,
        hooks=reconcile.Hooks(step=ui.step, progress=ui.progress),
        full=full or (),
    )
    show(views_cutover.reconcile(result, context.config.project_dir))


@app.command("docs", rich_help_panel="Sign-off")
def docs_cmd(
    out: Annotated[
        Path, typer.Option(help="The folder the documents are written to (relative to the project).")
    ] = Path("docs/migration"),
    dbt_site: Annotated[
        bool,
        typer.Option(
            "--dbt-site",
            help="Also build dbt's documentation site (target/static_index.html) with every column's mapping.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Write the migration documents from the recorded facts: plan, mapping, validation, rollback, runbook.

    Also the transformation index and the sign-offs. Runs `dbt parse` first when target/manifest.json is missing.
    """
    from harness import docs

    context = Context.open("docs")
    folder = context.config.project_dir / out
    result = docs.generate(context.config, context.source, context.target, folder)
    if dbt_site:
        from harness.dbt import docs_site

        dbt.run(context.config, context.target, ["docs", "generate"], quiet=True)
        site = docs_site.build_page(context.config.project_dir)
        ui.step(f"dbt docs: {site.described:,} columns described from their mapping; open {site.page}")
    show(views_cutover.documents(result, folder, context.config.project_dir))


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

    context = Context.open("approve")
    if revoke:
        show(views_cutover.revoked(approvals.revoke(context.config, context.target, stage, role, name)))
        return
    show(views_cutover.approved(approvals.approve(context.config, context.target, stage, role, name, note)))
