"""The switch and after: `migrate cutover` (5), `migrate rollback` and `migrate rehearse` (7),
`migrate decommission`."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from harness.cli import ui, views_cutover
from harness.cli.app import JsonFlag, app, show
from harness.core.config import load_config
from harness.core.context import Context
from harness.core.errors import ConfigError


# The help as an argument, not a docstring: a docstring wrapped to 120 columns would show its line
# breaks in the command list of `migrate --help`.
@app.command(
    "cutover",
    rich_help_panel="5 Cutover",
    help="Run the cutover runbook of the strategy in migration.yml: gates, freeze, the last data, verification, "
    "sequences, switch.\n\n"
    "Parallel run: catch up, freeze, final sync and build. Big bang: freeze first, then load, full\n"
    "build. Phased: one wave of tables at a time. An interrupted cutover resumes at the first step\n"
    "that did not succeed.",
)
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
    from harness import cutover

    context = Context.open("cutover")
    config, source, target = context.config, context.source, context.target
    plan = cutover.plan(config, target, wave)
    show([views_cutover.cutover_plan(plan)])
    if dry_run:
        found = cutover.gates(config, source, target, context=context)
        show(views_cutover.cutover_dry_run(plan, found, cutover.estimates(config, target)))
        return
    result = cutover.run(
        config,
        source,
        target,
        wave=plan.wave,
        on_step=lambda s: show([views_cutover.step_done(s.name, s.seconds)]),
        context=context,
    )
    show(views_cutover.cutover(result, plan))


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
    from harness.rollback import criteria as rollback_criteria

    config = load_config()
    if check:
        if decided_by or role or reason:
            raise ConfigError("--check only evaluates the criteria: leave out --decided-by, --role and --reason")
        context = Context.open("rollback --check", config)
        if moot := rollback_criteria.nothing_to_roll_back(config, context.target):
            show(views_cutover.nothing_to_roll_back(moot))
            return
        verdicts = rollback_criteria.evaluate(config, context.source, context.target)
        show(views_cutover.rollback_criteria(verdicts, config.rollback.deciders))
        return
    missing = [
        flag
        for flag, value in (("--decided-by", decided_by), ("--role", role), ("--reason", reason))
        if not (value and value.strip())
    ]
    if missing:
        raise ConfigError(
            f"a rollback needs {', '.join(missing)}: who decided, in which owner role, and why (or --check to "
            "only evaluate the criteria)"
        )
    rollback_criteria.authorize(config, role)
    context = Context.open("rollback", config)
    result = rollback.rollback(
        config,
        context.source,
        context.target,
        decided_by=f"{decided_by} ({role})",
        reason=reason,
        on_step=lambda s: show([views_cutover.step_done(s.name, s.seconds)]),
    )
    show(views_cutover.aborted(result) if isinstance(result, rollback.Aborted) else views_cutover.fell_back(result))


@app.command(
    "rehearse",
    rich_help_panel="7 Rollback",
    help="Rehearse the whole cycle on disposable copies (backup, restore, load, build, sync, reconcile, cutover "
    "through the switch, fallback, verification), timed.",
)
def rehearse_cmd(
    traffic_command: Annotated[
        str | None,
        typer.Option(
            help='A command that writes to the copies meanwhile (e.g. "migrate demo traffic --duration 3600"); '
            "it gets MIGRATE_SOURCE_URL, MIGRATE_TARGET_URL and MIGRATE_ROUTING_FILE."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    from harness.rehearse import rehearse

    context = Context.open("rehearse")
    result = rehearse(
        context.config,
        context.source,
        context.target,
        on_step=lambda name, seconds: show([views_cutover.step_timed(name, seconds)]),
        traffic_command=shlex.split(traffic_command) if traffic_command else None,
        quiet=False,
        progress=ui.progress,
    )
    show(views_cutover.rehearsed(result, context.config.project_dir))


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

    context = Context.open("decommission")
    config = context.config
    result = decommission.decommission(
        config,
        context.source,
        context.target,
        directory=config.project_dir / directory,
        force=force,
        decided_by=decided_by,
        reason=reason,
        on_step=lambda name, seconds: show([views_cutover.step_done(name, seconds)]),
    )
    show(views_cutover.decommissioned(result, config.source_schema, decommission.READ_ONLY_SCHEMA))
