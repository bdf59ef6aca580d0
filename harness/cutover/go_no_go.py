"""The go / no-go of a cutover: each gate with its reason, checked by the preflight step, the
dry run and the runbook document."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import backup, sync
from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.context import Context
from harness.core.errors import CheckFailed, HarnessError
from harness.engines.base import Connection
from harness.target import approvals, backups, history, rehearsals

# The reconciliation levels that compare content, not only counts: one of them must have passed recently.
CONTENT_LEVELS = ("checksums",)


class GateFailed(CheckFailed):
    pass


@dataclass
class Gate:
    name: str
    passed: bool
    reason: str


def models_fingerprint(project_dir: Path) -> str:
    """A hash of everything that defines the mapping: a rehearsal is valid for exactly this."""
    digest = hashlib.sha256()
    for folder in ("models", "macros", "seeds"):
        for path in sorted((project_dir / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(project_dir)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def gates(config: Config, source: Database, target: Database, *, context: Context | None = None) -> list[Gate]:
    """The go / no-go of the configured strategy, each gate with its reason.

    Parallel run and phased need the load synced (capture lag) and a recent green reconciliation.
    A big bang loads inside the window, so instead every listed table must be readable with its
    key: a problem found after the freeze would cost downtime for nothing (described once with
    `context`, whose description the big bang's load then uses).
    """
    with connections.connection(target, command="cutover gates", autocommit=True) as conn:
        control.ensure(conn, config.control_schema)
        result = [_approvals_gate(conn, config)]
        if config.strategy != "big_bang":
            result.append(_reconcile_gate(conn, config))
        result.append(_backup_gate(conn, config))
        if config.cutover.require_rehearsal:
            result.append(_rehearsal_gate(conn, config))
    result.append(
        _source_tables_gate(context or Context(config, source, target, "cutover gates"))
        if config.strategy == "big_bang"
        else _lag_gate(config, source, target)
    )
    return result


def recorded(found: list[Gate]) -> dict[str, Any]:
    """The gates as the preflight step records them."""
    return {g.name: {"passed": g.passed, "reason": g.reason} for g in found}


def refuse_unless_passed(found: list[Gate]) -> None:
    failed = [g for g in found if not g.passed]
    if failed:
        raise GateFailed("cutover refused: " + "; ".join(f"{g.name}: {g.reason}" for g in failed))


def content_reconciliation(conn: Connection, config: Config) -> tuple[int, datetime] | None:
    """The newest passed reconciliation that compared content (checksums), and when it finished."""
    found = history.newest_gate_reconciliation(conn, config.control_schema, passed_at_levels=list(CONTENT_LEVELS))
    return (found[0], found[2]) if found else None


def _older_than(moment: datetime, age: timedelta) -> bool:
    return datetime.now(UTC) - moment > age


def _approvals_gate(conn: Connection, config: Config) -> Gate:
    approved = approvals.approved_roles(conn, config.control_schema, "cutover")
    missing = [r for r in config.cutover.required_approvals if r not in approved]
    if missing:
        return Gate(
            "approvals",
            False,
            f"no cutover approval from {', '.join(missing)}: run migrate approve --role ROLE --name NAME",
        )
    return Gate("approvals", True, "all required approvals recorded")


def _reconcile_gate(conn: Connection, config: Config) -> Gate:
    max_age = config.cutover.reconcile_max_age_minutes
    last = history.newest_gate_reconciliation(conn, config.control_schema)
    if last is None:
        return Gate("reconcile", False, "no reconciliation has run: run migrate reconcile")
    if last[1] != "passed":
        return Gate("reconcile", False, "the last reconciliation failed: fix it and run migrate reconcile again")
    content = content_reconciliation(conn, config)
    if content is None:
        return Gate(
            "reconcile",
            False,
            "no green reconciliation compared content (row counts alone do not open the gate): "
            "run migrate reconcile (all levels) or migrate reconcile --level counts,checksums",
        )
    finished_at = content[1]
    if _older_than(finished_at, timedelta(minutes=max_age)):
        return Gate(
            "reconcile",
            False,
            f"the last green checksum reconciliation is older than {max_age:g} minutes: run migrate reconcile",
        )
    return Gate("reconcile", True, f"green checksum reconciliation at {finished_at:%H:%M:%S}")


def _backup_gate(conn: Connection, config: Config) -> Gate:
    max_age = config.cutover.backup_max_age_hours
    row = backups.newest_verified(conn, config.control_schema, "source")
    if row is None:
        return Gate("backup", False, f"no verified backup of the source: run {backup.VERIFY_HINT}")
    if _older_than(row[0], timedelta(hours=max_age)):
        return Gate("backup", False, f"the last verified source backup is older than {max_age:g} hours: take a new one")
    return Gate("backup", True, f"source backup taken {row[0]:%Y-%m-%d %H:%M}, verified")


def _rehearsal_gate(conn: Connection, config: Config) -> Gate:
    fingerprint = rehearsals.newest_succeeded_fingerprint(conn, config.control_schema)
    if fingerprint is None:
        return Gate("rehearsal", False, "no successful rehearsal: run migrate rehearse")
    if fingerprint != models_fingerprint(config.project_dir):
        return Gate(
            "rehearsal", False, "the models changed since the last successful rehearsal: run migrate rehearse again"
        )
    return Gate("rehearsal", True, "the current models were rehearsed")


def _lag_gate(config: Config, source: Database, target: Database) -> Gate:
    try:
        lag = sync.lag(config, source, target)
    except sync.NotLoaded as exc:
        return Gate("capture_lag", False, str(exc))
    ok = lag.seconds_behind <= config.cutover.max_lag_seconds
    return Gate(
        "capture_lag",
        ok,
        f"capture lag {lag.seconds_behind:.1f} s"
        + ("" if ok else f" is over {config.cutover.max_lag_seconds:g} s: keep migrate sync --follow running"),
    )


def _source_tables_gate(context: Context) -> Gate:
    config = context.config
    try:
        context.tables()
    except HarnessError as exc:
        return Gate("source_tables", False, str(exc))
    return Gate(
        "source_tables",
        True,
        f"all {len(config.tables)} listed tables found in {config.source_schema}, each with its key",
    )
