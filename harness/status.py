"""Where the migration stands, from the facts in the control schema, and the next step."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from harness import capture, connections, control
from harness.config import Config
from harness.connections import Database


@dataclass
class Status:
    source: str
    target: str
    facts: dict[str, Any] = field(default_factory=dict)
    next_step: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _one(conn: psycopg.Connection, query: sql.Composable, params: tuple = ()) -> tuple | None:
    return conn.execute(query, params).fetchone()


def status(config: Config, source: Database, target: Database) -> Status:
    result = Status(source.describe(), target.describe())
    facts = result.facts
    t = lambda name: control.table(config.control_schema, name)  # noqa: E731
    with connections.connection(target, command="status", autocommit=True) as conn:
        control.ensure(conn, config.control_schema)
        load = _one(conn, sql.SQL("select load_id, status, rows_copied, seconds, finished_at from {} order by load_id desc limit 1").format(t("load_runs")))
        facts["load"] = dict(zip(["id", "status", "rows", "seconds", "finished_at"], load)) if load else None
        sync = _one(conn, sql.SQL("select applied_at, changes_applied, built_at from {} where stream = %s").format(t("sync_state")), (control.STREAM,))
        facts["sync"] = dict(zip(["applied_at", "changes_applied", "built_at"], sync)) if sync else None
        backups = conn.execute(
            sql.SQL("select distinct on (side) side, backup_id, taken_at, verified_at from {} order by side, backup_id desc").format(t("backups"))
        ).fetchall()
        facts["backups"] = {side: {"id": bid, "taken_at": taken, "verified_at": verified} for side, bid, taken, verified in backups}
        reconcile = _one(conn, sql.SQL("select reconcile_id, status, finished_at, levels from {} order by reconcile_id desc limit 1").format(t("reconcile_runs")))
        facts["reconcile"] = dict(zip(["id", "status", "finished_at", "levels"], reconcile)) if reconcile else None
        approvals = conn.execute(
            sql.SQL("select distinct on (stage, role) stage, role, name, approved_at from {} order by stage, role, approved_at desc").format(t("approvals"))
        ).fetchall()
        facts["approvals"] = [dict(zip(["stage", "role", "name", "approved_at"], row)) for row in approvals]
    if config.capture.method == "trigger":
        with connections.connection(source, command="status", autocommit=True) as conn:
            state = capture.state(conn, config.source_schema, [t.name for t in config.tables])
        facts["capture"] = {"method": "trigger", "installed": state.installed, "missing": state.missing}
    else:
        facts["capture"] = {"method": "timestamp", "column": config.capture.column}
    if facts["sync"]:
        from harness import sync

        lag = sync.lag(config, source, target)
        facts["lag"] = {"landing_seconds": lag.seconds_behind, "changes_behind": lag.changes_behind, "app_seconds": lag.app_seconds_behind}
    result.next_step = _next_step(facts)
    return result


def _next_step(facts: dict[str, Any]) -> str:
    load = facts["load"]
    if load is None:
        return "migrate load: copy the source into landing and start change capture"
    if load["status"] != "succeeded":
        return "migrate load: the last load did not finish; running it again resumes it"
    if facts["capture"].get("missing"):
        return "migrate sync --install: capture triggers are missing on " + ", ".join(facts["capture"]["missing"])
    if not any(b.get("verified_at") for b in facts["backups"].values()):
        return "migrate backup, then migrate restore --into <scratch db>: no verified backup yet"
    if facts["reconcile"] is None or facts["reconcile"]["status"] != "passed":
        return "migrate reconcile: no green reconciliation yet"
    if not facts["approvals"]:
        return "migrate approve: no sign-off recorded yet"
    return "keep `migrate sync --follow` running and re-run `migrate reconcile` before cutover"
