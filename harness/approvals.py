"""Sign-offs per stage, recorded in the control schema: who approved what, and when."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import sql

from harness import connections, control
from harness.config import Config
from harness.connections import Database
from harness.errors import ConfigError

STAGES = ("plan", "cutover", "rollback", "decommission")


@dataclass(frozen=True)
class Approval:
    approval_id: int
    stage: str
    role: str
    name: str
    note: str | None
    approved_at: datetime


def approve(config: Config, target: Database, stage: str, role: str, name: str, note: str | None = None) -> Approval:
    if stage not in STAGES:
        raise ConfigError(f"stage {stage!r} is unknown; use one of {', '.join(STAGES)}")
    if role not in config.owners:
        known = ", ".join(sorted(config.owners)) or "none"
        raise ConfigError(f"role {role!r} is not one of the owners in migration.yml ({known}): add it under 'owners' or pick one")
    if not name.strip():
        raise ConfigError("--name must say who approves")
    with connections.connection(target, command="approve", autocommit=True) as conn:
        control.ensure(conn, config.control_schema)
        row = conn.execute(
            sql.SQL("insert into {} (stage, role, name, note) values (%s, %s, %s, %s) returning *").format(
                control.table(config.control_schema, "approvals")
            ),
            (stage, role, name.strip(), note),
        ).fetchone()
    return Approval(*row)


def approvals(config: Config, target: Database, stage: str | None = None) -> list[Approval]:
    """The latest approval per stage and role (a later sign-off replaces an earlier one)."""
    with connections.connection(target, command="approvals", autocommit=True) as conn:
        control.ensure(conn, config.control_schema)
        rows = conn.execute(
            sql.SQL(
                "select distinct on (stage, role) * from {} where %s::text is null or stage = %s order by stage, role, approved_at desc"
            ).format(control.table(config.control_schema, "approvals")),
            (stage, stage),
        ).fetchall()
    return [Approval(*row) for row in rows]
