"""The write freeze: legacy writes fail fast, and none commits unseen after the final sync.

A BEFORE trigger on every listed table rejects writes with a clear error, except in the harness's
own writer session (the fallback carries the new application's changes into the frozen legacy
schema). That session proves itself with a secret: each freeze stores a new random one in
`_migrate.freeze_secret`, which no other role may read, and the trigger function (SECURITY
DEFINER, fixed search_path) lets a write pass only where `migrate.writer` equals it. The harness
sets it from that table inside the database (declare_writer), so it never travels and never
appears in pg_stat_activity. Only a superuser, or the role that owns `_migrate`, can read it (and
the tables' owner can drop the trigger): the application must use none of those roles.

With `legacy_role` (migration.yml `roles.legacy_app_role`), the freeze also revokes that role's
INSERT, UPDATE, DELETE and TRUNCATE privileges granted on each frozen table, records them in
`_migrate.frozen_grants`, and unfreeze grants exactly those back (with their grant option). What
the role may do through PUBLIC, another role it belongs to, or owning a table is not revoked:
the trigger refuses those writes all the same.

All tables are frozen in one transaction, and only once no write transaction is in flight on
them: once `freeze` returns, everything committed before is in the change log, and nothing can
commit after.

Where the capture triggers are installed, the freeze first drains the writers through the
advisory lock every captured write holds shared: taking it exclusively waits for the write
transactions in flight only, while every new write is refused at once (fail fast), with no queue
on the tables and no deadlock. Creating the triggers then waits for nobody. Without capture
triggers (timestamp capture), creating the triggers waits for the writers in flight itself.
With a drain timeout, the write transactions still open after it are ended rather than waited for.
"""

from __future__ import annotations

import secrets
import threading
import time

import psycopg
from psycopg import sql

from harness.core.errors import HarnessError
from harness.engines.base import Frozen
from harness.engines.postgres import capture, catalog
from harness.engines.postgres.capture import CAPTURE_SCHEMA

TRIGGER = "_migrate_freeze"
WRITER_SETTING = "migrate.writer"  # the one session the freeze lets through sets it to the secret
MESSAGE = capture.FROZEN_MESSAGE
WRITE_PRIVILEGES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")  # revoked from the legacy role


class FreezeFailed(HarnessError):
    exit_code = 1


FUNCTION_DDL = """
create schema if not exists {schema};
create table if not exists {schema}.freeze_secret (
    singleton boolean primary key default true check (singleton),
    secret    text not null
);
-- The legacy role's privileges the freeze revoked, granted back by unfreeze.
create table if not exists {schema}.frozen_grants (
    table_schema text not null,
    table_name   text not null,
    grantee      text not null,
    privilege    text not null,
    grantable    boolean not null,
    primary key (table_schema, table_name, grantee, privilege)
);
revoke all on {schema}.freeze_secret, {schema}.frozen_grants from public;
create or replace function {schema}.refuse_write() returns trigger language plpgsql
security definer set search_path = pg_catalog, pg_temp as $$
begin
    if current_setting('migrate.writer', true) = (select secret from {schema}.freeze_secret) then
        return null;
    end if;
    raise exception using errcode = 'read_only_sql_transaction', message = {message},
        hint = {hint};
end
$$;
revoke all on function {schema}.refuse_write() from public;
"""


def declare_writer(conn: psycopg.Connection) -> None:
    """Let this session's current transaction write past the freeze (the harness's sessions only)."""
    conn.execute(
        sql.SQL("select set_config(%s, secret, true) from {}.freeze_secret").format(sql.Identifier(CAPTURE_SCHEMA)),
        (WRITER_SETTING,),
    )


def freeze(
    conn: psycopg.Connection,
    schema: str,
    tables: list[str],
    *,
    lock_timeout_seconds: float = 30.0,
    drain_timeout_seconds: float | None = None,
    legacy_role: str | None = None,
) -> Frozen:
    """Freeze all tables at once, in one transaction of its own (`conn` must be idle).

    `drain_timeout_seconds`: how long to wait for the write transactions in flight before ending
    those still open (where the capture triggers drain them; they were never acknowledged).
    `legacy_role`: the role whose write privileges on the tables are revoked until unfreeze."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise ValueError("freeze needs an idle connection: inside an open transaction it would only be a savepoint")
    started = time.perf_counter()
    drain = not capture.state(conn, schema, tables).missing
    key = capture.freeze_lock_key(sql.Literal(schema))
    conn.commit()
    stragglers = (
        _StragglerEnder(conn, key, drain_timeout_seconds) if drain and drain_timeout_seconds is not None else None
    )
    frozen = Frozen(list(tables), 0.0)
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
            _create_triggers(
                conn, schema, tables, lock_timeout_seconds - (time.perf_counter() - started), legacy_role, frozen
            )
        finally:
            if drain:
                conn.execute(sql.SQL("select pg_advisory_unlock({})").format(key))
                conn.execute("reset lock_timeout")
                conn.commit()
    except psycopg.errors.LockNotAvailable:
        conn.rollback()
        if stragglers and stragglers.error:
            raise FreezeFailed(
                f"could not freeze {schema}: the write transactions still open after the drain timeout could not be "
                f"ended ({stragglers.error}); nothing was frozen; grant the migration's role pg_signal_backend, "
                "or drop cutover.drain_timeout_seconds to wait for them"
            ) from None
        raise FreezeFailed(
            f"could not freeze {schema} within {lock_timeout_seconds:g} s: a write transaction stayed open; "
            "nothing was frozen; find it in pg_stat_activity or raise the lock timeout"
        ) from None
    frozen.waited_seconds = time.perf_counter() - started
    frozen.ended_transactions = stragglers.ended if stragglers else 0
    return frozen


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
                (self.ended,) = conn.execute(
                    sql.SQL(
                        """
                    select count(*) filter (where pg_terminate_backend(l.pid))
                    from pg_locks as l, (select {key} as k) as lock
                    where l.locktype = 'advisory' and l.granted and l.mode = 'ShareLock' and l.objsubid = 1
                      and l.classid = ((lock.k >> 32) & 4294967295)::oid and l.objid = (lock.k & 4294967295)::oid
                      and l.database = (select oid from pg_database where datname = current_database())
                    """
                    ).format(key=self._key)
                ).fetchone()
        except psycopg.Error as exc:
            self.error = str(exc).splitlines()[0]

    def stop(self) -> None:
        self._timer.cancel()
        self._timer.join()


def _create_triggers(
    conn: psycopg.Connection, schema: str, tables: list[str], seconds: float, legacy_role: str | None, frozen: Frozen
) -> None:
    superuser = conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]
    conn.commit()
    deadline = time.perf_counter() + seconds
    while True:
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("set local lock_timeout = {}").format(
                        sql.Literal(f"{max(1, int((deadline - time.perf_counter()) * 1000))}ms")
                    )
                )
                if superuser:
                    # A writer that holds one table and waits for another we hold is a deadlock: let
                    # the writer notice it first (its transaction is retried) rather than the freeze.
                    conn.execute("set local deadlock_timeout = '10s'")
                conn.execute(
                    sql.SQL(FUNCTION_DDL).format(
                        schema=sql.Identifier(CAPTURE_SCHEMA),
                        message=sql.Literal(MESSAGE),
                        hint=sql.Literal(capture.FROZEN_HINT),
                    )
                )
                # A new secret each freeze: one read before it no longer passes.
                conn.execute(
                    sql.SQL(
                        "insert into {}.freeze_secret (secret) values (%s) on conflict (singleton) do update "
                        "set secret = excluded.secret"
                    ).format(sql.Identifier(CAPTURE_SCHEMA)),
                    (secrets.token_hex(32),),
                )
                # The lock CREATE TRIGGER takes, on all tables at once: it waits for the writers in flight.
                conn.execute(
                    sql.SQL("lock table {} in share row exclusive mode").format(
                        sql.SQL(", ").join(catalog.qualified(schema, t) for t in tables)
                    )
                )
                for table in tables:
                    _refuse_writes(conn, schema, table, TRIGGER, CAPTURE_SCHEMA)
                if legacy_role:
                    frozen.revoked, frozen.notes = _revoke_writes(conn, schema, tables, legacy_role)
            return
        except psycopg.errors.DeadlockDetected:
            continue  # a writer held one table and wanted another we had locked: it went on, we try again


def _refuse_writes(conn: psycopg.Connection, schema: str, table: str, trigger: str, function_schema: str) -> None:
    """(Re)create the statement trigger `trigger` that refuses every write to the table by
    `function_schema`.refuse_write()."""
    target = catalog.qualified(schema, table)
    conn.execute(sql.SQL("drop trigger if exists {} on {}").format(sql.Identifier(trigger), target))
    conn.execute(
        sql.SQL(
            "create trigger {} before insert or update or delete or truncate "
            "on {} for each statement execute function {}.refuse_write()"
        ).format(sql.Identifier(trigger), target, sql.Identifier(function_schema))
    )


def _revoke_writes(conn: psycopg.Connection, schema: str, tables: list[str], role: str) -> tuple[list[str], list[str]]:
    """Revoke the role's write privileges granted on the tables, each recorded first (a freeze
    run again finds them revoked and keeps the record); returns what is revoked until unfreeze
    (by this freeze or one before it), and notes."""
    if not _role_exists(conn, role):
        return [], [f"role {role} (roles.legacy_app_role) does not exist on the source: no privilege was revoked"]
    granted = conn.execute(
        """
        select distinct c.relname, a.privilege_type, a.is_grantable
        from pg_class c join pg_namespace n on n.oid = c.relnamespace, aclexplode(c.relacl) a
        where n.nspname = %s and c.relname = any(%s) and a.grantee = %s::regrole and a.privilege_type = any(%s)
        order by 1, 2
        """,
        (schema, tables, sql.Identifier(role).as_string(conn), list(WRITE_PRIVILEGES)),
    ).fetchall()
    for table, privilege, grantable in granted:
        conn.execute(
            sql.SQL("insert into {}.frozen_grants values (%s, %s, %s, %s, %s) on conflict do nothing").format(
                sql.Identifier(CAPTURE_SCHEMA)
            ),
            (schema, table, role, privilege, grantable),
        )
        conn.execute(
            sql.SQL("revoke {} on {} from {}").format(
                sql.SQL(privilege), catalog.qualified(schema, table), sql.Identifier(role)
            )
        )
    revoked = conn.execute(
        sql.SQL(
            "select table_name || ': ' || string_agg(privilege, ', ' order by privilege) from {}.frozen_grants "
            "where table_schema = %s and table_name = any(%s) and grantee = %s group by table_name order by table_name"
        ).format(sql.Identifier(CAPTURE_SCHEMA)),
        (schema, tables, role),
    ).fetchall()
    still = [
        table
        for (table,) in conn.execute(
            "select t from unnest(%s::text[]) t where has_table_privilege(%s::name, format('%%I.%%I', %s::text, t), "
            "'INSERT, UPDATE, DELETE, TRUNCATE')",
            (tables, role, schema),
        ).fetchall()
    ]
    notes = (
        [
            f"role {role} may still write {', '.join(still)} (through PUBLIC, another role or ownership): the "
            "freeze trigger refuses it"
        ]
        if still
        else []
    )
    return [line for (line,) in revoked], notes


def _restore_writes(conn: psycopg.Connection, schema: str, tables: list[str]) -> None:
    """Grant back exactly what the freeze revoked from the legacy role on these tables."""
    if conn.execute("select to_regclass(%s)", (f"{CAPTURE_SCHEMA}.frozen_grants",)).fetchone()[0] is None:
        return
    rows = conn.execute(
        sql.SQL(
            "delete from {}.frozen_grants where table_schema = %s and table_name = any(%s) "
            "returning table_name, grantee, privilege, grantable"
        ).format(sql.Identifier(CAPTURE_SCHEMA)),
        (schema, tables),
    ).fetchall()
    for table, grantee, privilege, grantable in rows:
        if catalog.table_exists(conn, schema, table) and _role_exists(conn, grantee):
            conn.execute(
                sql.SQL("grant {} on {} to {}{}").format(
                    sql.SQL(privilege),
                    catalog.qualified(schema, table),
                    sql.Identifier(grantee),
                    sql.SQL(" with grant option" if grantable else ""),
                )
            )


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone() is not None


def unfreeze(conn: psycopg.Connection, schema: str, tables: list[str]) -> None:
    with conn.transaction():
        for table in tables:
            if catalog.table_exists(conn, schema, table):
                conn.execute(
                    sql.SQL("drop trigger if exists {} on {}").format(
                        sql.Identifier(TRIGGER), catalog.qualified(schema, table)
                    )
                )
        _restore_writes(conn, schema, tables)


def frozen_tables(conn: psycopg.Connection, schema: str) -> list[str]:
    return catalog.tables_with_trigger(conn, schema, TRIGGER)


# --- decommission: the legacy schema read-only for good ------------------------------------------

READ_ONLY_SCHEMA = "_migrate_read_only"
READ_ONLY_TRIGGER = "_migrate_read_only"

GUARD_DDL = """
create schema if not exists {schema};
create or replace function {schema}.refuse_write() returns trigger language plpgsql as $$
begin
    raise exception using errcode = 'read_only_sql_transaction', message = {message},
        hint = 'the data lives in the new system now; '
            || 'the final archive of this schema is recorded in the migration''s control schema';
end
$$;
"""


def retire(
    conn: psycopg.Connection, schema: str, table_names: list[str], *, message: str, lock_timeout_seconds: float
) -> list[str]:
    """In one transaction: guard every table read-only (a refusal of its own, kept after the
    migration), drop the freeze and the capture objects; returns the tables guarded."""
    with conn.transaction():
        conn.execute(
            sql.SQL("set local lock_timeout = {}").format(sql.Literal(f"{int(lock_timeout_seconds * 1000)}ms"))
        )
        conn.execute(sql.SQL(GUARD_DDL).format(schema=sql.Identifier(READ_ONLY_SCHEMA), message=sql.Literal(message)))
        tables = [name for name in table_names if catalog.table_exists(conn, schema, name)]
        for name in tables:
            _refuse_writes(conn, schema, name, READ_ONLY_TRIGGER, READ_ONLY_SCHEMA)
        unfreeze(conn, schema, tables)
        capture.remove(conn, schema, table_names)
    return read_only_tables(conn, schema)


def read_only_tables(conn: psycopg.Connection, schema: str) -> list[str]:
    return catalog.tables_with_trigger(conn, schema, READ_ONLY_TRIGGER)
