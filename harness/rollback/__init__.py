"""Rollback. Before the switch: abort the cutover cleanly, the source unfrozen and capture still
running, so nothing written before or after is lost. After the switch: fall back (harness/rollback/fallback.py),
carrying the new application's changes into the legacy schema before switching back.

"After the switch" is decided from what may have been switched, not from the last step that
finished: the switch intent recorded by the cutover (phase `switching` on), or a routing file that
sends a table to the new side which no earlier wave switched. Aborting then would leave the
applications writing the new side while the source is written again: a split brain."""

from __future__ import annotations

from dataclasses import dataclass

from harness import cutover, engines
from harness.core import connections, control, runbook
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.errors import HarnessError
from harness.engines.base import Connection
from harness.engines.postgres import capture
from harness.rollback import fallback
from harness.target.provision import APP_SCHEMA


class RollbackRefused(HarnessError):
    pass


# Phases in which the applications may write the new side (partly: some waves of a phased cutover).
AFTER_SWITCH = (cutover.SWITCHING, "switched", cutover.PARTLY_SWITCHED, "falling_back")


def rollback(
    config: Config, source: Database, target: Database, *, decided_by: str, reason: str, on_step=None
) -> Aborted | fallback.FallbackResult:
    """Abort before the switch; fall back after it (or finish a fallback that was interrupted)."""
    with connections.connection(target, command="rollback", autocommit=True) as ctl:
        control.ensure(ctl, config.control_schema)
        phase = control.phase(ctl, config.control_schema)
        if phase == "fallen_back":
            raise RollbackRefused(
                "the migration already fell back: the legacy application writes the legacy schema "
                "again; nothing to roll back"
            )
        if phase == "decommissioned":
            raise RollbackRefused(
                "the migration was decommissioned: capture is gone from the source, so no fallback is possible any more"
            )
        after_switch = falls_back(config, ctl)
    if after_switch:
        return fallback.run(config, source, target, decided_by=decided_by, reason=reason, on_step=on_step)
    return abort(config, source, target, decided_by=decided_by, reason=reason)


def falls_back(config: Config, ctl: Connection) -> str | None:
    """Why only a fallback can roll back now (None: an abort can): the applications may write the
    new side, for the switch was recorded as intended or done, or the routing file sends a table
    there that no earlier wave of a phased cutover switched (a switch made outside the harness)."""
    schema = config.control_schema
    phase = control.phase(ctl, schema)
    if phase == cutover.SWITCHING:
        return "the cutover recorded its switch (phase switching): the applications may already write the new system"
    if phase in AFTER_SWITCH:
        return f"the applications were already switched to the new system (phase {phase})"
    earlier = set(cutover.tables_of(config, control.waves_cut_over(ctl, schema)))
    routed = [table for table, side in cutover.read_routing(config).items() if side == "new" and table not in earlier]
    if routed:
        return (
            f"the routing file {config.project_dir / config.cutover.routing_file} sends {', '.join(routed)} to the new "
            "system (if that is stale, route them back to legacy first)"
        )
    return None


@dataclass
class Aborted:
    run_id: int | None
    unfrozen: list[str]


def abort(config: Config, source: Database, target: Database, *, decided_by: str, reason: str) -> Aborted:
    """Undo a cutover that has not switched the applications: unfreeze, drop reverse capture. A
    wave of a phased cutover undoes only itself: the waves cut over before it stay switched, their
    source tables frozen and their app tables captured (a fallback needs what the new side wrote)."""
    schema = config.control_schema
    tables = [t.name for t in config.tables]
    with connections.connection(target, command="rollback", autocommit=True) as ctl:
        control.ensure(ctl, schema)
        if why := falls_back(config, ctl):
            raise RollbackRefused(f"{why}: only a fallback can roll back now (migrate rollback)")
        run_id, detail = control.running_cutover(ctl, schema) or (None, {})
        earlier_waves = control.waves_cut_over(ctl, schema) if detail.get("strategy") == "phased" else {}
        if earlier_waves:
            tables = detail["tables"]
            still_captured = [
                name
                for run in earlier_waves.values()
                for name in runbook.step_details(ctl, schema, run).get("catch_up", {}).get("reverse_capture", [])
            ]
        with connections.connection(source, command="rollback", autocommit=True) as src:
            engine = engines.source_engine(config)
            frozen = [name for name in engine.frozen_tables(src, config.source_schema) if name in tables]
            engine.unfreeze(src, config.source_schema, tables)
        if earlier_waves:
            capture.remove_triggers(ctl, APP_SCHEMA, keep=still_captured)
            control.set_phase(ctl, schema, cutover.PARTLY_SWITCHED)
        else:
            capture.remove_triggers(ctl, APP_SCHEMA)
            control.set_phase(ctl, schema, "syncing")
        if run_id:
            control.finish_run(
                ctl,
                schema,
                run_id,
                "failed",
                {**detail, "rolled_back": True, "decided_by": decided_by, "reason": reason},
            )
        rollback_run = control.start_run(
            ctl, schema, "rollback", {"decided_by": decided_by, "reason": reason, "cutover_run": run_id}
        )
        control.finish_run(ctl, schema, rollback_run, "succeeded", {"unfrozen": frozen})
    return Aborted(run_id, frozen)
