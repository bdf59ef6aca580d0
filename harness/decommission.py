"""Decommission: once the rollback window has closed, take the harness off the legacy database.

The runbook, each step recorded and resumed like the cutover's:

1. archive_backup   a final pg_dump archive of the source, with its manifest;
2. verify_archive   the archive restored into a scratch database and checked against the
                    manifest, then the scratch database dropped;
3. remove_capture   the capture triggers, the change log and the `_migrate` schema leave the
                    source, every target's consumer with them (the legacy schema is read-only
                    from then on: nothing is left to sync); the reverse capture leaves the
                    target's `app` tables (no fallback is possible any more);
4. complete         the phase becomes 'decommissioned'.

The legacy schema stays read-only. The cutover's freeze triggers call a function in `_migrate`,
which goes; in the same transaction they are replaced by guards of their own
(`_migrate_read_only` triggers calling `_migrate_read_only.refuse_write()`), so there is no
moment at which the legacy application could write to a database nobody reads any more. The
legacy role's write grants, revoked by the freeze, are granted back as they were (the unfreeze
does it): the guards, which let no session through, refuse its writes all the same.
Making it writable again is a deliberate act: `drop schema _migrate_read_only cascade`.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import approvals, backup, engines
from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.errors import CheckFailed, ConfigError
from harness.engines.base import Connection
from harness.engines.postgres import freeze as postgres_freeze
from harness.target import app

STEPS = ("archive_backup", "verify_archive", "remove_capture", "complete")
PHASE = "decommissioned"
READ_ONLY_SCHEMA = postgres_freeze.READ_ONLY_SCHEMA  # what the operator drops to lift the guard, as the documents say


class DecommissionRefused(CheckFailed):
    pass


@dataclass
class Decommissioned:
    run_id: int | None
    already_done: bool = False
    decommissioned_at: datetime | None = None
    forced: bool = False
    window_ends: datetime | None = None
    backup_id: int | None = None
    archive: str | None = None
    read_only_tables: list[str] = field(default_factory=list)
    steps: list[tuple[str, float | None]] = field(default_factory=list)  # (step, seconds; None = done earlier)


def decommission(
    config: Config,
    source: Database,
    target: Database,
    *,
    directory: Path,
    force: bool = False,
    decided_by: str | None = None,
    reason: str | None = None,
    on_step: Callable[[str, float], None] | None = None,
) -> Decommissioned:
    schema = config.control_schema
    with connections.connection(target, command="decommission", autocommit=True) as ctl:
        control.ensure(ctl, schema)
        state = control.state(ctl, schema)
        if state and state.phase == PHASE:
            return _already_done(ctl, schema, state)
        if state is None or state.phase != "switched":
            raise DecommissionRefused(
                "decommission follows the switch, and the migration is "
                f"{'not started' if state is None else 'in phase ' + repr(state.phase)}: run migrate cutover first"
            )
        if unfinished := control.running_cutover(ctl, schema):
            # Switched, but the cutover did not reach its end (its recount after the switch).
            raise DecommissionRefused(
                f"cutover run {unfinished[0]} did not finish after the switch: run migrate cutover to finish it first"
            )
        forced = _check_window(state, force=force, decided_by=decided_by, reason=reason)
        _check_approvals(config, target)

        run_id = control.unfinished_run(ctl, schema, "decommission")
        run_id = (
            run_id
            if run_id is not None
            else control.start_run(
                ctl,
                schema,
                "decommission",
                {
                    "forced": forced,
                    "decided_by": decided_by,
                    "reason": reason,
                    "rollback_window_ends": state.rollback_window_ends.isoformat()
                    if state.rollback_window_ends
                    else None,
                },
            )
        )
        done = _done_steps(ctl, schema, run_id)
        result = Decommissioned(run_id, forced=forced, window_ends=state.rollback_window_ends)
        if "archive_backup" in done:
            result.backup_id, result.archive = done["archive_backup"]["backup_id"], done["archive_backup"]["file"]

        def archive_backup(detail: dict) -> None:
            taken = backup.backup(config, source, target, "source", directory)
            result.backup_id, result.archive = taken.backup_id, str(taken.file)
            detail.update(
                backup_id=taken.backup_id,
                file=str(taken.file),
                sha256=taken.sha256,
                size_bytes=taken.size_bytes,
                rows=sum(taken.row_counts.values()),
            )

        def verify_archive(detail: dict) -> None:
            suffix = uuid.uuid4().hex[:6]
            scratch = engines.source_engine(config).fitting_name(
                f"{source.name}_archive_check_{suffix}", source.name, suffix
            )
            try:
                # A scratch copy that only proves the archive, dropped below.
                restored = backup.restore(
                    config, source, target, scratch, backup_id=result.backup_id, allow_source_copy=True
                )
            finally:
                connections.drop_database(connections.admin_url(source.url), scratch)
            detail.update(backup_id=result.backup_id, restored_into=scratch, rows=sum(restored.row_counts.values()))

        def remove_capture(detail: dict) -> None:
            detail["read_only_tables"] = result.read_only_tables = _remove_from_source(config, source)
            detail["reverse_capture_removed_from"] = app.remove_reverse_capture(ctl)

        def complete(detail: dict) -> None:
            control.set_phase(ctl, schema, PHASE)
            detail["decommissioned_at"] = datetime.now(UTC).isoformat()

        actions = {
            "archive_backup": archive_backup,
            "verify_archive": verify_archive,
            "remove_capture": remove_capture,
            "complete": complete,
        }
        try:
            for name in STEPS:
                if name in done:
                    result.steps.append((name, None))
                    continue
                started = time.perf_counter()
                with control.step(ctl, schema, run_id, name) as detail:
                    _crash_here_if_asked(name)
                    actions[name](detail)
                seconds = time.perf_counter() - started
                result.steps.append((name, seconds))
                if on_step:
                    on_step(name, seconds)
        except BaseException:
            if not done and not result.steps:
                control.finish_run(ctl, schema, run_id, "failed")  # nothing was changed: the next run starts afresh
            raise
        control.finish_run(ctl, schema, run_id, "succeeded", {"backup_id": result.backup_id, "archive": result.archive})
        result.decommissioned_at = control.state(ctl, schema).changed_at
        if not result.read_only_tables:
            with connections.connection(source, command="decommission") as src:
                result.read_only_tables = engines.source_engine(config).read_only_tables(src, config.source_schema)
    return result


def _crash_here_if_asked(step: str) -> None:
    """A failpoint for the crash tests, as in the cutover: MIGRATE_CRASH_AT=decommission:<step>
    kills this process with SIGKILL right after the step is recorded as started."""
    if os.environ.get("MIGRATE_CRASH_AT") == f"decommission:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


def _check_window(state: control.MigrationState, *, force: bool, decided_by: str | None, reason: str | None) -> bool:
    """True when the decommission cuts the rollback window short (and may: forced, with who and why)."""
    ends = state.rollback_window_ends
    if ends is None or datetime.now(UTC) >= ends:
        return False
    if not force:
        hours = (ends - datetime.now(UTC)).total_seconds() / 3600
        raise DecommissionRefused(
            f"the rollback window is open until {ends:%Y-%m-%d %H:%M %Z} ({hours:.1f} h from now): "
            "decommission after it, or cut it short with --force --decided-by NAME --reason TEXT"
        )
    if not (decided_by and decided_by.strip() and reason and reason.strip()):
        raise ConfigError("--force needs --decided-by and --reason: who cuts the rollback window short, and why")
    return True


def _check_approvals(config: Config, target: Database) -> None:
    required = config.decommission.required_approvals
    approved = {a.role for a in approvals.approvals(config, target, "decommission")}
    missing = [r for r in required if r not in approved]
    if missing:
        raise DecommissionRefused(
            f"decommission needs a sign-off from {', '.join(missing)}: migrate approve --stage decommission "
            "--role ROLE --name NAME"
        )


def _done_steps(ctl: Connection, schema: str, run_id: int) -> dict[str, dict[str, Any]]:
    """The run's steps that succeeded, with their details."""
    succeeded = control.succeeded_steps(ctl, schema, run_id)
    return {step: detail for step, detail in control.step_details(ctl, schema, run_id).items() if step in succeeded}


def _already_done(ctl: Connection, schema: str, state: control.MigrationState) -> Decommissioned:
    run = control.latest_run(ctl, schema, "decommission")
    if run is None:
        return Decommissioned(
            None, already_done=True, decommissioned_at=state.changed_at, window_ends=state.rollback_window_ends
        )
    run_id, status, detail = run.run_id, run.status, run.detail
    archive = _done_steps(ctl, schema, run_id).get("archive_backup", {})
    if status == "running":  # killed after the phase was set: the work is done, the run just not closed
        control.finish_run(
            ctl, schema, run_id, "succeeded", {"backup_id": archive.get("backup_id"), "archive": archive.get("file")}
        )
    return Decommissioned(
        run_id,
        already_done=True,
        decommissioned_at=state.changed_at,
        window_ends=state.rollback_window_ends,
        forced=bool(detail.get("forced")),
        backup_id=archive.get("backup_id"),
        archive=archive.get("file"),
    )


def _remove_from_source(config: Config, source: Database) -> list[str]:
    """In one transaction: guard every listed table read-only, drop the freeze and the capture objects."""
    schema = config.source_schema
    message = f'the legacy schema "{schema}" was decommissioned after its migration: it is read-only'
    with connections.connection(source, command="decommission") as src:
        return engines.source_engine(config).retire(
            src,
            schema,
            [t.name for t in config.tables],
            message=message,
            lock_timeout_seconds=config.cutover.lock_timeout_seconds,
        )
