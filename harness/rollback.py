"""Rollback. Before the switch: abort the cutover cleanly, the source unfrozen and capture still
running, so nothing written before or after is lost. After the switch: fall back (harness/fallback.py),
carrying the new application's changes into the legacy schema before switching back."""
from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from harness import capture, connections, control, fallback, freeze
from harness.config import Config
from harness.connections import Database
from harness.errors import HarnessError
from harness.provision import APP_SCHEMA


class RollbackRefused(HarnessError):
    pass


AFTER_SWITCH = ("switched", "partly_switched", "falling_back")  # partly: some waves of a phased cutover


def rollback(config: Config, source: Database, target: Database, *, decided_by: str, reason: str, on_step=None) -> Aborted | fallback.FallbackResult:
    """Abort before the switch; fall back after it (or finish a fallback that was interrupted)."""
    with connections.connection(target, command="rollback", autocommit=True) as ctl:
        control.ensure(ctl, config.control_schema)
        phase = control.phase(ctl, config.control_schema)
    if phase == "fallen_back":
        raise RollbackRefused("the migration already fell back: the legacy application writes the legacy schema again; nothing to roll back")
    if phase == "decommissioned":
        raise RollbackRefused("the migration was decommissioned: capture is gone from the source, so no fallback is possible any more")
    if phase in AFTER_SWITCH:
        return fallback.run(config, source, target, decided_by=decided_by, reason=reason, on_step=on_step)
    return abort(config, source, target, decided_by=decided_by, reason=reason)


@dataclass
class Aborted:
    run_id: int | None
    unfrozen: list[str]


def abort(config: Config, source: Database, target: Database, *, decided_by: str, reason: str) -> Aborted:
    """Undo a cutover that has not switched the applications: unfreeze, drop reverse capture."""
    schema = config.control_schema
    tables = [t.name for t in config.tables]
    with connections.connection(target, command="rollback", autocommit=True) as ctl:
        control.ensure(ctl, schema)
        if control.phase(ctl, schema) in AFTER_SWITCH:
            raise RollbackRefused("the applications were already switched to the new system: only a fallback can roll back now (migrate rollback)")
        row = ctl.execute(
            sql.SQL("select run_id from {} where command = 'cutover' and status = 'running' order by run_id desc limit 1").format(control.table(schema, "runs"))
        ).fetchone()
        with connections.connection(source, command="rollback", autocommit=True) as src:
            frozen = freeze.frozen_tables(src, config.source_schema)
            freeze.unfreeze(src, config.source_schema, tables)
        capture.remove_triggers(ctl, APP_SCHEMA)
        control.set_phase(ctl, schema, "syncing")
        if row:
            control.finish_run(ctl, schema, row[0], "failed", {"rolled_back": True, "decided_by": decided_by, "reason": reason})
        run_id = control.start_run(ctl, schema, "rollback", {"decided_by": decided_by, "reason": reason, "cutover_run": row[0] if row else None})
        control.finish_run(ctl, schema, run_id, "succeeded", {"unfrozen": frozen})
    return Aborted(row[0] if row else None, frozen)
