"""A rehearsal: the whole cycle on disposable copies, timed, so the runbook knows its durations.

The source is copied through a real backup and restore; the copy is loaded into a fresh target,
synced, reconciled and cut over through the switch, then fallen back through the reverse models
and checked again. A project without reverse models is rolled back before the switch instead.
An optional traffic command (`migrate rehearse --traffic-command`) writes to the copies meanwhile,
following the rehearsal's routing file. The real source and target are only read. Each step's time
is recorded under a `rehearse` run in the real control schema, and the rehearsal with the fingerprint
of the models it exercised.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from pathlib import Path

from harness import backup, cutover, engines, load, reconcile, reports, rollback, sync
from harness.core import connections, control, processes
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.errors import CheckFailed
from harness.cutover.strategy import steps_for as strategy_steps
from harness.engines import postgres
from harness.render import heading, markdown, paragraph, table
from harness.rollback import fallback
from harness.target import rehearsals


@dataclass
class Rehearsal:
    rehearsal_id: int
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    fallback: bool = False  # fell back after the switch (else rolled back before it: no reverse models)
    report: Path | None = None  # the rehearsal's own report, in the folder that holds its copies' reports


def _disposable(db: Database, name: str) -> Database:
    return Database(db.side, connections.with_database(db.url, name), db.setting, db.embedded)


def rehearse(
    config: Config,
    source: Database,
    target: Database,
    *,
    on_step: Callable[[str, float], None] | None = None,
    traffic_command: list[str] | None = None,
    quiet: bool = True,
    progress: Callable[[str], ContextManager[load.Progress]] | None = None,
) -> Rehearsal:
    """`traffic_command` runs from the load until the end of the fallback, with MIGRATE_SOURCE_URL and
    MIGRATE_TARGET_URL set to the copies and MIGRATE_ROUTING_FILE to the rehearsal's routing file.
    Not `quiet`: the full build, its longest step, shows dbt's progress over the nodes; `progress`
    opens a bar (given its description) for the copy's rows."""
    started = time.perf_counter()
    schema = config.control_schema
    suffix = uuid.uuid4().hex[:6]
    copies_schema = engines.source_engine(config).schema_is_database
    source_base = config.source_schema if copies_schema else source.name
    copy_source_name, copy_target_name = (
        postgres.fitting_name(f"{base}_rehearsal_{suffix}", base, suffix) for base in (source_base, target.name)
    )
    # Routing of the rehearsal goes to a file of its own, and neither switch command runs: the real
    # applications must not move.
    rehearsal_config = dataclasses.replace(
        config,
        cutover=dataclasses.replace(
            config.cutover,
            switch_command=None,
            switch_back_command=None,
            routing_file=".migrate/rehearsal-routing.json",
        ),
    )
    if copies_schema:  # the copy's tables are in the copy's database: the rehearsal must not touch the source's
        rehearsal_config = dataclasses.replace(rehearsal_config, source_schema=copy_source_name)
    with connections.connection(target, command="rehearse", autocommit=True) as ctl:
        control.ensure(ctl, schema)
        run_id = control.start_run(ctl, schema, "rehearse")
        rehearsal_id = rehearsals.start(ctl, schema, run_id, cutover.models_fingerprint(config.project_dir))
        result = Rehearsal(rehearsal_id)
        # Its reports go to a folder of its own, and say where they come from: they never stand
        # for the real cutover's.
        folder = reports.run_folder(config.reports_root, "rehearsal", rehearsal_id)
        rehearsal_config = dataclasses.replace(
            rehearsal_config, reports_dir=folder, name=f"{config.name} (rehearsal {rehearsal_id}, on disposable copies)"
        )
        copy_source = _disposable(source, copy_source_name)
        copy_target = _disposable(target, copy_target_name)

        def timed(name: str, action: Callable[[dict], None]) -> None:
            begun = time.perf_counter()
            with control.step(ctl, schema, run_id, name) as detail:
                action(detail)
            result.timings[name] = time.perf_counter() - begun
            if on_step:
                on_step(name, result.timings[name])

        def record(steps) -> None:
            for step in steps:
                if step.skipped:
                    continue
                rehearsals.record_step(ctl, schema, run_id, step.name, step.seconds)
                result.timings[step.name] = step.seconds
                if on_step:
                    on_step(step.name, step.seconds)

        traffic = contextlib.ExitStack()
        try:
            timed(
                "backup",
                lambda d: d.update(
                    backup_id=backup.backup(
                        config, source, target, "source", config.project_dir / ".migrate" / "backups"
                    ).backup_id
                ),
            )
            # The source copy may share the target's server: it is disposable, dropped when the rehearsal ends.
            timed(
                "restore",
                lambda d: d.update(
                    rows=sum(
                        backup.restore(
                            config, source, target, copy_source_name, allow_source_copy=True
                        ).row_counts.values()
                    )
                ),
            )
            # Made as provision makes the target: the source's encoding and locale, target.database_options over them.
            connections.create_target_database(config, copy_source, connections.admin_url(target.url), copy_target_name)
            if traffic_command:
                routing = config.project_dir / rehearsal_config.cutover.routing_file
                routing.unlink(missing_ok=True)
                env = {
                    **os.environ,
                    "MIGRATE_SOURCE_URL": copy_source.url,
                    "MIGRATE_TARGET_URL": copy_target.url,
                    "MIGRATE_ROUTING_FILE": str(routing),
                }
                traffic.enter_context(
                    processes.background(
                        traffic_command,
                        env=env,
                        cwd=config.project_dir,
                        log=folder / "traffic.log",
                        what="the rehearsal's traffic command",
                    )
                )

            def copy(detail: dict) -> None:
                with progress("loading the copies") if progress else contextlib.nullcontext() as bar:
                    detail.update(rows=load.load(rehearsal_config, copy_source, copy_target, progress=bar).rows)

            # Named apart from the big bang cutover's own load and build steps, which run later in this run.
            def own(name: str) -> str:
                return f"initial_{name}" if name in strategy_steps(config.strategy) else name

            timed(own("load"), copy)
            timed(
                own("build"),
                lambda d: d.update(
                    nodes=sync.build(rehearsal_config, copy_target, ("build", "--full-refresh"), quiet=quiet).succeeded
                ),
            )
            timed("sync", lambda d: d.update(changes=sync.apply(rehearsal_config, copy_source, copy_target).changes))

            def verify(detail: dict, *, build: bool = True) -> None:
                # After a fallback `app` is frozen and no longer the system of record: source and landing are compared.
                outcome = reconcile.reconcile(
                    rehearsal_config,
                    copy_source,
                    copy_target,
                    ["counts", "checksums"],
                    build=build,
                    report_name="rehearsal-reconciliation",
                )
                detail["passed"] = outcome.passed
                if not outcome.passed:
                    raise CheckFailed(f"the rehearsal's reconciliation failed: see {outcome.files.get('markdown')}")

            timed("reconcile", verify)
            falls_back = bool(fallback.reverse_models(rehearsal_config, copy_target))
            steps = cutover.run(
                rehearsal_config,
                copy_source,
                copy_target,
                skip_gates=True,
                stop_before=None if falls_back else "switch",
            ).steps
            record(steps)
            if falls_back:
                begun = time.perf_counter()
                record(
                    fallback.run(
                        rehearsal_config, copy_source, copy_target, decided_by="rehearsal", reason="rehearsal"
                    ).steps
                )
                result.timings["rollback"] = time.perf_counter() - begun
                traffic.close()
                timed(
                    "sync_after_rollback",
                    lambda d: d.update(changes=sync.apply_until_caught_up(rehearsal_config, copy_source, copy_target)),
                )
            else:
                traffic.close()
                timed(
                    "rollback",
                    lambda d: d.update(
                        unfrozen=rollback.abort(
                            rehearsal_config, copy_source, copy_target, decided_by="rehearsal", reason="rehearsal"
                        ).unfrozen
                    ),
                )
            timed("verify_after_rollback", lambda d: verify(d, build=not falls_back))
            result.fallback = falls_back
            result.seconds = time.perf_counter() - started
            rehearsals.succeeded(ctl, schema, rehearsal_id, result.timings)
            control.finish_run(ctl, schema, run_id, "succeeded", {"seconds": result.seconds})
            result.report = write_report(config, folder, result, traffic_command).markdown
        except BaseException:
            rehearsals.failed(ctl, schema, rehearsal_id)
            control.finish_run(ctl, schema, run_id, "failed")
            raise
        finally:
            traffic.close()
            # Each copy dropped from its own server's administrative session (a MySQL source's has no `postgres`).
            connections.drop_database(connections.admin_url(source.url), copy_source_name)
            connections.drop_database(connections.admin_url(target.url), copy_target_name)
    return result


def write_report(config: Config, folder: Path, result: Rehearsal, traffic_command: list[str] | None) -> reports.Written:
    data = {
        "rehearsal_id": result.rehearsal_id,
        "seconds": result.seconds,
        "fallback": result.fallback,
        "traffic_command": traffic_command,
        "timings": result.timings,
    }

    def render(d: dict) -> str:
        return markdown(
            [
                heading(f"Rehearsal {d['rehearsal_id']}", 1),
                paragraph(
                    f"The whole cycle on disposable copies took **{d['seconds']:.0f} s**; "
                    + (
                        "it cut over through the switch and fell back through the reverse models."
                        if d["fallback"]
                        else "the project has no reverse models, so it rolled back before the switch."
                    )
                    + (
                        f" Traffic: `{' '.join(d['traffic_command'])}` (output in traffic.log beside this report)."
                        if d["traffic_command"]
                        else " No traffic ran (`migrate rehearse --traffic-command ...`)."
                    )
                ),
                paragraph("The cutover runbook (`migrate cutover --dry-run`) takes its step durations from here."),
                table(("step", "seconds"), [(name, f"{seconds:.2f}") for name, seconds in d["timings"].items()]),
            ]
        )

    return reports.write_in(folder, "rehearsal", data, render)
