"""The write freeze: legacy writes fail fast, and none commits unseen after the final sync.

A BEFORE trigger on every listed table rejects writes with a clear error, except in a session
that declared itself the migration's own writer (`set migrate.writer = 'fallback'`: the fallback
carries the new application's changes into the frozen legacy schema). All tables are frozen in
one transaction, and only once no write transaction is in flight on them: once `freeze` returns,
everything committed before is in the change log, and nothing can commit after.

Where the capture triggers are installed, the freeze first drains the writers through the
advisory lock every captured write holds shared: taking it exclusively waits for the write
transactions in flight only, while every new write is refused at once (fail fast), with no queue
on the tables and no deadlock. Creating the triggers then waits for nobody. Without capture
triggers (timestamp capture), creating the triggers waits for the writers in flight itself.
With a drain timeout, the write transactions still open after it are ended rather than waited for.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

from harness import capture
from harness.capture import CAPTURE_SCHEMA
from harness.engines import postgres
from harness.errors import HarnessError

TRIGGER = "_migrate_freeze"
WRITER_SETTING = "migrate.writer"  # the one session the freeze lets through
MESSAGE = capture.FROZEN_MESSAGE


class FreezeFailed(HarnessError):
    exit_code = 1


@dataclass
class Frozen:
    tables: list[str]
    waited_seconds: float
    ended_transactions: int = 0  # still open after the drain timeout, so ended (never acknowledged)


FUNCTION_DDL = """
create schema if not exists {schema};
create or replace function {schema}.refuse_write() returns trigger language plpgsql as $$
begin
    if current_setting('migrate.writer', true) = 'fallback' then
        return null;
    end if;
    raise exception using errcode = 'read_only_sql_transaction', message = {message},
        hint = {hint};
end
$$;
"""


def freeze(
    conn: psycopg.Connection, schema: str, tables: list[str], *, lock_timeout_seconds: float = 30.0, drain_timeout_seconds: float | None = None
) -> Frozen:
    """Freeze all tables at once, in one transaction of its own (`conn` must be idle).

    `drain_timeout_seconds`: how long to wait for the write transactions in flight before ending
    those still open (where the capture triggers drain them; they were never acknowledged)."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise ValueError("freeze needs an idle connection: inside an open transaction it would only be a savepoint")
    started = time.perf_counter()
    drain = not capture.state(conn, schema, tables).missing
    key = capture.freeze_lock_key(sql.Literal(schema))
    conn.commit()
    stragglers = _StragglerEnder(conn, key, drain_timeout_seconds) if drain and drain_timeout_seconds is not None else None
    try:
        if drain:
            conn.execute(sql.SQL("set lock_timeout = {}").format(sql.Literal(f"{int(lock_timeout_seconds * 1000)}ms")))
            try:
                conn.execute(sql.SQL("select pg_advisory_lock({})").format(key))  # session-level: outlives the commit
            finally:
                if stragglers:
                    stragglers.stop()
            conn.commit()
        try:
            _create_triggers(conn, schema, tables, lock_timeout_seconds - (time.perf_counter() - started))
        finally:
            if drain:
                conn.execute(sql.SQL("select pg_advisory_unlock({})").format(key))
                conn.execute("reset lock_timeout")
                conn.commit()
    except psycopg.errors.LockNotAvailable:
        conn.rollback()
        if stragglers and stragglers.error:
            raise FreezeFailed(
                f"could not freeze {schema}: the write transactions still open after the drain timeout could not be ended "
                f"({stragglers.error}); nothing was frozen; grant the migration's role pg_signal_backend, or drop "
                "cutover.drain_timeout_seconds to wait for them"
            ) from None
        raise FreezeFailed(
            f"could not freeze {schema} within {lock_timeout_seconds:g} s: a write transaction stayed open; "
            "nothing was frozen; find it in pg_stat_activity or raise the lock timeout"
        ) from None
    return Frozen(list(tables), time.perf_counter() - started, stragglers.ended if stragglers else 0)


class _StragglerEnder:
    """After `seconds`, from a connection of its own, ends the sessions whose write transactions
    still hold the freeze lock shared, while the freeze's request stays queued (so new writes go on
    being refused). Their writes were never committed, so never acknowledged: nothing is lost."""

    def __init__(self, conn: psycopg.Connection, key: sql.Composable, seconds: float):
        self.ended = 0
        self.error: str | None = None
        self._dsn, self._password, self._key = conn.info.dsn, conn.info.password, key
        self._timer = threading.Timer(seconds, self._end)
        self._timer.start()

    def _end(self) -> None:
        try:
            with psycopg.connect(self._dsn, password=self._password, autocommit=True) as conn:
                (self.ended,) = conn.execute(sql.SQL(
                    """
                    select count(*) filter (where pg_terminate_backend(l.pid))
                    from pg_locks as l, (select {key} as k) as lock
                    where l.locktype = 'advisory' and l.granted and l.mode = 'ShareLock' and l.objsubid = 1
                      and l.classid = ((lock.k >> 32) & 4294967295)::oid and l.objid = (lock.k & 4294967295)::oid
                      and l.database = (select oid from pg_database where datname = current_database())
                    """).format(key=self._key)).fetchone()
        except psycopg.Error as exc:
            self.error = str(exc).splitlines()[0]

    def stop(self) -> None:
        self._timer.cancel()
        self._timer.join()


def _create_triggers(conn: psycopg.Connection, schema: str, tables: list[str], seconds: float) -> None:
    superuser = conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]
    conn.commit()
    deadline = time.perf_counter() + seconds
    while True:
        try:
            with conn.transaction():
                conn.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(f"{max(1, int((deadline - time.perf_counter()) * 1000))}ms")))
                if superuser:
                    # A writer that holds one table and waits for another we hold is a deadlock: let
                    # the writer notice it first (its transaction is retried) rather than the freeze.
                    conn.execute("set local deadlock_timeout = '10s'")
                conn.execute(sql.SQL(FUNCTION_DDL).format(
                    schema=sql.Identifier(CAPTURE_SCHEMA), message=sql.Literal(MESSAGE), hint=sql.Literal(capture.FROZEN_HINT)))
                # The lock CREATE TRIGGER takes, on all tables at once: it waits for the writers in flight.
                conn.execute(sql.SQL("lock table {} in share row exclusive mode").format(
                    sql.SQL(", ").join(postgres.qualified(schema, t) for t in tables)))
                for table in tables:
                    target = postgres.qualified(schema, table)
                    conn.execute(sql.SQL("drop trigger if exists {} on {}").format(sql.Identifier(TRIGGER), target))
                    conn.execute(
                        sql.SQL("create trigger {} before insert or update or delete or truncate on {} for each statement execute function {}.refuse_write()").format(
                            sql.Identifier(TRIGGER), target, sql.Identifier(CAPTURE_SCHEMA)
                        )
                    )
            return
        except psycopg.errors.DeadlockDetected:
            continue  # a writer held one table and wanted another we had locked: it went on, we try again


def unfreeze(conn: psycopg.Connection, schema: str, tables: list[str]) -> None:
    with conn.transaction():
        for table in tables:
            if postgres.table_exists(conn, schema, table):
                conn.execute(sql.SQL("drop trigger if exists {} on {}").format(sql.Identifier(TRIGGER), postgres.qualified(schema, table)))


def frozen_tables(conn: psycopg.Connection, schema: str) -> list[str]:
    rows = conn.execute(
        "select c.relname from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and t.tgname = %s order by 1",
        (schema, TRIGGER),
    ).fetchall()
    return [name for (name,) in rows]
