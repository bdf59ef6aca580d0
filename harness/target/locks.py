"""The target's advisory locks: the sync lock every batch takes, and the follow lock a cutover
holds against `sync --follow`. Session-level, named after the control schema, so a killed
process releases them and two migrations on one target never share one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from harness.core import connections
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.errors import EXIT_CHECK_FAILED, HarnessError


class FollowerBusy(HarnessError):
    """A `sync --follow` batch or build did not yield to the cutover in time."""

    exit_code = EXIT_CHECK_FAILED


@dataclass(frozen=True)
class Pause:
    """Proof that no sync batch is applying: a target session holding the sync lock."""

    conn: psycopg.Connection


def _sync_lock_name(config: Config) -> str:
    return f"migrate sync {config.control_schema}"


def hold_sync_lock(conn: psycopg.Connection, config: Config) -> None:
    """Wait for the sync lock and hold it on `conn` (until released, or its session ends)."""
    conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (_sync_lock_name(config),))


def release_sync_lock(conn: psycopg.Connection, config: Config) -> None:
    with contextlib.suppress(psycopg.Error):  # a broken session has released it already
        conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (_sync_lock_name(config),))


@contextmanager
def paused(config: Config, target: Database, *, command: str = "reconcile") -> Iterator[Pause]:
    """Hold the sync lock until the block ends: a batch in flight finishes first, later ones wait.

    Every batch takes the same lock (an advisory lock named after the control schema) before
    the transaction that moves the watermark begins, so while it is held landing and the
    watermark stand still, and the rows of a batch that waited are stamped (`_migrate_synced_at`,
    the transaction's start) after the pause ended. `sync.sync_once(..., pause=...)` applies a
    batch on the holding session itself.
    """
    conn = connections.connect(target, command=f"{command} (sync paused)", autocommit=True)
    try:
        hold_sync_lock(conn, config)
        yield Pause(conn)
    finally:
        conn.close()  # the session's end releases the lock


# The follow lock: each unit of `sync --follow`'s work (a batch, a dbt build) holds it shared; a
# cutover holds it exclusively for its whole run. A cutover waits for the unit in flight, and while
# it runs the follower neither moves landing under the cutover's build and checks nor runs a dbt
# build beside it. Session-level, so a killed cutover or follower releases it.
def _follow_lock_key(config: Config) -> str:
    return f"migrate follow {config.control_schema}"


def exclude_followers(conn: psycopg.Connection, config: Config, timeout_seconds: float) -> None:
    """Hold the follow lock on `conn` (until its session ends): waits for a follower's unit in flight."""
    conn.execute(sql.SQL("set lock_timeout = {}").format(sql.Literal(f"{int(timeout_seconds * 1000)}ms")))
    try:
        conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (_follow_lock_key(config),))
    except psycopg.errors.LockNotAvailable:
        raise FollowerBusy(
            f"a `migrate sync --follow` batch or build did not finish within {timeout_seconds:g} s "
            "(cutover.lock_timeout_seconds); nothing was changed: run migrate cutover again, or stop the follower"
        ) from None
    finally:
        conn.execute("reset lock_timeout")


@contextmanager
def follow_turn(config: Config, target: Database) -> Iterator[bool]:
    """One unit of the follower's work: True when it may run (no cutover holds the follow lock)."""
    with connections.connection(target, command="sync --follow", autocommit=True) as conn:
        (free,) = conn.execute(
            "select pg_try_advisory_lock_shared(hashtextextended(%s, 0))", (_follow_lock_key(config),)
        ).fetchone()
        yield free  # the session's end releases the lock
