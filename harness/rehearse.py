"""A rehearsal: the whole cycle on disposable copies, timed, so the runbook knows its durations.

The source is copied through a real backup and restore; the copy is loaded into a fresh target,
synced, reconciled and cut over up to the switch, then rolled back and checked again. The real
source and target are only read. Each step's time is recorded under a `rehearse` run in the
real control schema, and the rehearsal with the fingerprint of the models it exercised.
"""
from __future__ import annotations

import dataclasses
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from psycopg import sql

from harness import backup, connections, control, cutover, load, reconcile, rollback, sync
from harness.config import Config
from harness.connections import Database
from harness.errors import CheckFailed


@dataclass
class Rehearsal:
    rehearsal_id: int
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def _disposable(db: Database, name: str) -> Database:
    return Database(db.side, connections.with_database(db.url, name), db.setting, db.embedded)


def rehearse(config: Config, source: Database, target: Database, *, on_step: Callable[[str, float], None] | None = None) -> Rehearsal:
    started = time.perf_counter()
    schema = config.control_schema
    suffix = uuid.uuid4().hex[:6]
    copy_source_name, copy_target_name = f"{source.name}_rehearsal_{suffix}", f"{target.name}_rehearsal_{suffix}"
    # Routing of the rehearsal goes to a file of its own: the real applications must not move.
    rehearsal_config = dataclasses.replace(
        config, cutover=dataclasses.replace(config.cutover, switch_command=None, routing_file=".migrate/rehearsal-routing.json")
    )
    with connections.connection(target, command="rehearse", autocommit=True) as ctl:
        control.ensure(ctl, schema)
        run_id = control.start_run(ctl, schema, "rehearse")
        (rehearsal_id,) = ctl.execute(
            sql.SQL("insert into {} (run_id, models_fingerprint) values (%s, %s) returning rehearsal_id").format(control.table(schema, "rehearsals")),
            (run_id, cutover.models_fingerprint(config.project_dir)),
        ).fetchone()
        result = Rehearsal(rehearsal_id)
        copy_source = _disposable(source, copy_source_name)
        copy_target = _disposable(target, copy_target_name)

        def timed(name: str, action: Callable[[dict], None]) -> None:
            begun = time.perf_counter()
            with control.step(ctl, schema, run_id, name) as detail:
                action(detail)
            result.timings[name] = time.perf_counter() - begun
            if on_step:
                on_step(name, result.timings[name])

        try:
            timed("backup", lambda d: d.update(backup_id=backup.backup(config, source, target, "source", config.project_dir / ".migrate" / "backups").backup_id))
            timed("restore", lambda d: d.update(rows=sum(backup.restore(config, source, target, copy_source_name).row_counts.values())))
            connections.create_database(connections.with_database(target.url, "postgres"), copy_target_name)
            timed("load", lambda d: d.update(rows=load.load(rehearsal_config, copy_source, copy_target).rows))
            timed("build", lambda d: d.update(nodes=sync.build(rehearsal_config, copy_target, ("build", "--full-refresh")).succeeded))
            timed("sync", lambda d: d.update(changes=sync.apply(rehearsal_config, copy_source, copy_target).changes))

            def verify(detail: dict) -> None:
                outcome = reconcile.reconcile(
                    rehearsal_config, copy_source, copy_target, ["counts", "checksums"], build=False, report_name="rehearsal-reconciliation"
                )
                detail["passed"] = outcome.passed
                if not outcome.passed:
                    raise CheckFailed("the rehearsal's reconciliation failed: see reports/rehearsal-reconciliation.md")

            timed("reconcile", verify)
            steps = cutover.run(rehearsal_config, copy_source, copy_target, skip_gates=True, stop_before="switch").steps
            for step in steps:
                _record_step(ctl, schema, run_id, step.name, step.seconds)
                result.timings[step.name] = step.seconds
                if on_step:
                    on_step(step.name, step.seconds)
            timed("rollback", lambda d: d.update(unfrozen=rollback.abort(rehearsal_config, copy_source, copy_target, decided_by="rehearsal", reason="rehearsal").unfrozen))
            timed("verify_after_rollback", verify)
            result.seconds = time.perf_counter() - started
            ctl.execute(
                sql.SQL("update {} set status = 'succeeded', finished_at = clock_timestamp(), timings = %s where rehearsal_id = %s").format(
                    control.table(schema, "rehearsals")
                ),
                (json.dumps(result.timings), rehearsal_id),
            )
            control.finish_run(ctl, schema, run_id, "succeeded", {"seconds": result.seconds})
        except BaseException:
            ctl.execute(sql.SQL("update {} set status = 'failed', finished_at = clock_timestamp() where rehearsal_id = %s").format(control.table(schema, "rehearsals")), (rehearsal_id,))
            control.finish_run(ctl, schema, run_id, "failed")
            raise
        finally:
            connections.drop_database(connections.with_database(source.url, "postgres"), copy_source_name)
            connections.drop_database(connections.with_database(target.url, "postgres"), copy_target_name)
    return result


def _record_step(conn, schema: str, run_id: int, name: str, seconds: float) -> None:
    conn.execute(
        sql.SQL(
            "insert into {} (run_id, step, started_at, finished_at, status) "
            "values (%s, %s, clock_timestamp() - make_interval(secs => %s), clock_timestamp(), 'succeeded')"
        ).format(control.table(schema, "steps")),
        (run_id, name, seconds),
    )
