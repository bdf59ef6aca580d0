"""Sign-offs per stage, recorded in the control schema: who approved what, when, and from where.

One sign-off stands per stage and role: a second one while the first stands is refused (it would
be a silent duplicate), and `revoke` withdraws a sign-off so that the gates stop counting it. A
decision to roll back (stage rollback) after the switch is new, whatever was approved before it.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import datetime

from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.errors import ConfigError, HarnessError
from harness.engines.base import Connection
from harness.target import approvals as recorded

STAGES = ("plan", "cutover", "rollback", "decommission")


class ApprovalRefused(HarnessError):
    pass


@dataclass(frozen=True)
class Approval:
    approval_id: int
    stage: str
    role: str
    name: str
    note: str | None
    approved_at: datetime
    os_user: str | None = None
    host: str | None = None


def _check(config: Config, stage: str, role: str, name: str) -> None:
    if stage not in STAGES:
        raise ConfigError(f"stage {stage!r} is unknown; use one of {', '.join(STAGES)}")
    if role not in config.owners:
        known = ", ".join(sorted(config.owners)) or "none"
        raise ConfigError(
            f"role {role!r} is not one of the owners in migration.yml ({known}): add it under 'owners' or pick one"
        )
    if not name.strip():
        raise ConfigError("--name must say who approves")


def _standing(conn: Connection, schema: str, stage: str, role: str) -> Approval | None:
    """The sign-off of this stage and role that counts now, if any."""
    state = control.state(conn, schema)
    since = state.switched_at if stage == "rollback" and state and state.switched_at else None
    row = recorded.standing(conn, schema, stage, role, since)
    return Approval(*row) if row else None


def _who() -> tuple[str, str]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = "unknown"
    return user, socket.gethostname()


def approve(config: Config, target: Database, stage: str, role: str, name: str, note: str | None = None) -> Approval:
    _check(config, stage, role, name)
    with connections.connection(target, command="approve", autocommit=True) as conn:
        control.ensure(conn, config.control_schema)
        if standing := _standing(conn, config.control_schema, stage, role):
            raise ApprovalRefused(
                f"{role} already approved {stage} ({standing.name}, "
                f"{standing.approved_at:%Y-%m-%d %H:%M:%S %Z}, approval {standing.approval_id}); nothing recorded: "
                f"`migrate approve --revoke --stage {stage} --role {role} --name NAME` withdraws it first"
            )
        row = recorded.record(conn, config.control_schema, stage, role, name.strip(), note, *_who())
    return Approval(*row)


def revoke(config: Config, target: Database, stage: str, role: str, name: str) -> Approval:
    """Withdraw the standing sign-off of a stage and role; `name` says who withdraws it."""
    _check(config, stage, role, name)
    with connections.connection(target, command="approve --revoke", autocommit=True) as conn:
        control.ensure(conn, config.control_schema)
        standing = _standing(conn, config.control_schema, stage, role)
        if standing is None:
            raise ApprovalRefused(
                f"{role} has no standing approval of {stage} to revoke; `migrate status` lists the approvals"
            )
        user, host = _who()
        recorded.revoke(conn, config.control_schema, standing.approval_id, f"{name.strip()} ({user}@{host})")
    return standing


def approvals(config: Config, target: Database, stage: str | None = None) -> list[Approval]:
    """The standing approval per stage and role."""
    with connections.connection(target, command="approvals", autocommit=True) as conn:
        control.ensure(conn, config.control_schema)
        rows = recorded.standing_per_role(conn, config.control_schema, stage)
    return [Approval(*row) for row in rows]
