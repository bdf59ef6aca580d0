"""The write freeze on MySQL and MariaDB: legacy writes refused, and none commits unseen after the
final sync.

Two refusals, as on PostgreSQL:

- **Triggers that SIGNAL** (BEFORE INSERT, UPDATE and DELETE on every listed table, named
  `_migrate_freeze_<event>_<table>`): every session is refused with SQLSTATE 25006 and the
  freeze's message, whatever its privileges, except the harness's own writer (declare_writer):
  a session whose `@migrate_writer` equals the secret each freeze stores anew in
  `_migrate`.`freeze_secret`. A trigger runs with its definer's rights, so it reads the secret
  while the applications cannot. TRUNCATE fires no trigger: revoking DROP (below) is what refuses
  the legacy role's.
- **Revoked grants**: with `legacy_role` (migration.yml `roles.legacy_app_role`, a user name, its
  accounts on every host), the INSERT, UPDATE, DELETE and DROP (TRUNCATE's privilege) it holds on
  each frozen table are recorded in `_migrate`.`frozen_grants`, then revoked; unfreeze grants
  exactly those back. MySQL checks a table grant at every statement, so a revoked write fails at
  once, even inside a transaction already open. Grants on the whole database or server are not
  revoked: they would reach tables outside the freeze, and MySQL applies a database-level revoke
  to a session only at its next `USE`; the triggers refuse those writes (the freeze notes them).

All tables are frozen at once: the triggers are created under one `LOCK TABLES ... WRITE` of every
table, which MySQL grants only once no transaction that touched them is open (their metadata
locks), so once `freeze` returns everything committed before is in the binary log, and nothing can
commit after. While it waits, new statements on the tables wait behind it (the legacy role's writes
are refused at once by the revoke). With a drain timeout, the transactions still holding the
tables after it are ended (KILL CONNECTION: never committed, so never acknowledged) and the lock
is granted; they are found by their metadata locks where the server shows them
(performance_schema.metadata_locks, MariaDB's metadata_lock_info plugin), else as the InnoDB
transactions (information_schema.innodb_trx) open since before the freeze in sessions whose
default database is the schema. Without it, or when they cannot be ended, the freeze gives up after
`lock_timeout_seconds`, freezes nothing and grants back what it revoked.

Decommission (`retire`) replaces the freeze triggers by guards of their own
(`_migrate_read_only_<event>_<table>`, no writer let through, no reference to `_migrate`), under
the same lock, and `_migrate` goes once nothing uses it.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import threading
import time

import pymysql

from harness.core import connections
from harness.core.errors import HarnessError
from harness.engines.base import Frozen
from harness.engines.mysql import catalog
from harness.engines.mysql.session import MysqlSession
from harness.engines.postgres import capture as postgres_capture
from harness.engines.postgres import catalog as names

CONTROL = "_migrate"  # the database of the freeze's secret and the grants it revoked
FREEZE_PREFIX = "_migrate_freeze_"
GUARD_PREFIX = "_migrate_read_only_"
EVENTS = ("insert", "update", "delete")
WRITER_VARIABLE = "@migrate_writer"  # the one session the freeze lets through sets it to the secret
WRITE_PRIVILEGES = ("INSERT", "UPDATE", "DELETE", "DROP")  # DROP: TRUNCATE's privilege in MySQL
MESSAGE = f"{postgres_capture.FROZEN_MESSAGE}: {postgres_capture.FROZEN_HINT}"
MESSAGE_CHARACTERS = 128  # what SIGNAL's MESSAGE_TEXT holds
READ_ONLY_SQLSTATE = "25006"  # read_only_sql_transaction, as PostgreSQL's freeze raises
LOCK_WAIT_TIMEOUT = 1205


class FreezeFailed(HarnessError):
    exit_code = 1


CONTROL_DDL = (
    f"create database if not exists {catalog.quoted(CONTROL)} character set utf8mb4",
    f"""create table if not exists {catalog.quoted(CONTROL)}.freeze_secret (
        singleton tinyint primary key check (singleton = 1),
        secret    varchar(64) not null
    ) engine=InnoDB""",
    # The legacy role's privileges the freeze revoked, granted back by unfreeze.
    f"""create table if not exists {catalog.quoted(CONTROL)}.frozen_grants (
        table_schema varchar(64) not null,
        table_name   varchar(64) not null,
        grantee      varchar(300) not null,
        privilege    varchar(16) not null,
        primary key (table_schema, table_name, grantee, privilege)
    ) engine=InnoDB""",
)


def _trigger_name(prefix: str, event: str, table: str) -> str:
    return names.fitting_name(f"{prefix}{event}_{table}", prefix, event, table)


def _triggers(conn: MysqlSession, schema: str, prefix: str, tables: list[str] | None = None) -> dict[str, set[str]]:
    """The harness's triggers of this prefix in the schema: table → trigger names."""
    rows = conn.execute(
        "select event_object_table, trigger_name from information_schema.triggers "
        "where trigger_schema = %s and trigger_name like %s",
        (schema, prefix.replace("_", "\\_") + "%"),
    )
    found: dict[str, set[str]] = {}
    for table, trigger in rows:
        if tables is None or table in tables:
            found.setdefault(table, set()).add(trigger)
    return found


def _create_refusals(
    conn: MysqlSession, schema: str, table: str, prefix: str, message: str, existing: set[str], *, writer: bool
) -> None:
    """The table's three BEFORE triggers of `prefix` that refuse every row written (`writer`: but the
    session that declared itself the harness's writer), those missing only."""
    text = conn.escape(message[:MESSAGE_CHARACTERS])
    refuse = f"signal sqlstate '{READ_ONLY_SQLSTATE}' set message_text = {text}"
    if writer:
        secret = f"(select secret from {catalog.quoted(CONTROL)}.freeze_secret)"
        refuse = f"if not ({WRITER_VARIABLE} <=> {secret}) then {refuse}; end if"
    for event in EVENTS:
        name = _trigger_name(prefix, event, table)
        if name in existing:
            continue
        conn.execute(
            f"create trigger {catalog.qualified(schema, name)} before {event} on {catalog.qualified(schema, table)} "
            f"for each row {refuse}"
        )


def _drop_triggers(conn: MysqlSession, schema: str, triggers: set[str]) -> None:
    for name in sorted(triggers):
        conn.execute(f"drop trigger if exists {catalog.qualified(schema, name)}")


@contextlib.contextmanager
def _all_locked(conn: MysqlSession, schema: str, tables: list[str], seconds: float):
    """Every table locked for writing at once (LOCK TABLES ... WRITE): granted once no open
    transaction holds any of them; gives up after `seconds` (pymysql's 1205)."""
    conn.execute(f"set session lock_wait_timeout = {max(1, math.ceil(seconds))}")
    if tables:
        conn.execute("lock tables " + ", ".join(f"{catalog.qualified(schema, t)} write" for t in tables))
    try:
        yield
    finally:
        conn.execute("unlock tables")
        conn.execute("set session lock_wait_timeout = default")


def declare_writer(conn: MysqlSession) -> None:
    """Let this session write past the freeze (the harness's own sessions only): until it ends or
    sets the variable back, as a session variable lives in MySQL."""
    conn.execute(f"set {WRITER_VARIABLE} = (select secret from {catalog.quoted(CONTROL)}.freeze_secret)")


def freeze(
    conn: MysqlSession,
    schema: str,
    tables: list[str],
    *,
    lock_timeout_seconds: float = 30.0,
    drain_timeout_seconds: float | None = None,
    legacy_role: str | None = None,
) -> Frozen:
    """Freeze all tables at once. Run again (a freeze interrupted or repeated), it completes what
    is missing and keeps the record of what was revoked."""
    started = time.perf_counter()
    conn.rollback()  # no transaction of ours holds a table the lock waits for
    tables = [t for t in tables if catalog.table_exists(conn, schema, t)]
    was_frozen = set(frozen_tables(conn, schema))
    for statement in CONTROL_DDL:
        conn.execute(statement)
    # A new secret each freeze: one read before it no longer passes.
    conn.execute(
        f"replace into {catalog.quoted(CONTROL)}.freeze_secret values (1, %s)",
        (secrets.token_hex(32),),
    )
    conn.commit()
    frozen = Frozen(list(tables), 0.0)
    if legacy_role:
        # First: the legacy role's next write is refused at once, while the lock below waits.
        frozen.revoked, frozen.notes = _revoke_writes(conn, schema, tables, legacy_role)
    existing = _triggers(conn, schema, FREEZE_PREFIX, tables)
    ender = _StragglerEnder(conn, schema, tables, drain_timeout_seconds) if drain_timeout_seconds is not None else None
    try:
        try:
            with _all_locked(conn, schema, tables, lock_timeout_seconds):
                if ender:
                    ender.stop()
                for table in tables:
                    _create_refusals(
                        conn, schema, table, FREEZE_PREFIX, MESSAGE, existing.get(table, set()), writer=True
                    )
        finally:
            if ender:
                ender.stop()
    except pymysql.err.OperationalError as exc:
        if exc.args[0] != LOCK_WAIT_TIMEOUT:
            raise
        conn.rollback()
        if not was_frozen:
            _restore_writes(conn, schema, tables)
        if ender and ender.error:
            raise FreezeFailed(
                f"could not freeze {schema}: the transactions still open after the drain timeout could not be ended "
                f"({ender.error}); nothing was frozen; grant the migration's user CONNECTION ADMIN (or SUPER), or drop "
                "cutover.drain_timeout_seconds to wait for them"
            ) from None
        raise FreezeFailed(
            f"could not freeze {schema} within {lock_timeout_seconds:g} s: a transaction on its tables stayed open; "
            "nothing was frozen; find it in information_schema.innodb_trx or raise cutover.lock_timeout_seconds"
        ) from None
    conn.commit()
    frozen.waited_seconds = time.perf_counter() - started
    frozen.ended_transactions = ender.ended if ender else 0
    return frozen


class _StragglerEnder:
    """After `seconds`, from a session of its own, ends the sessions whose transactions still hold
    the tables while the freeze's lock waits for them (its request stays queued, so nothing new
    gets in first). Their writes were never committed, so never acknowledged: nothing is lost."""

    def __init__(self, conn: MysqlSession, schema: str, tables: list[str], seconds: float):
        from harness.engines.mysql.engine import database_of

        self.ended = 0
        self.error: str | None = None
        self._database, self._schema, self._tables = database_of(conn), schema, tables
        ((freezer, self._since),) = conn.execute("select connection_id(), now(6)")
        self._freezer = int(freezer)
        self._timer = threading.Timer(seconds, self._end)
        self._timer.start()

    def _end(self) -> None:
        try:
            with connections.connection(self._database, command="freeze drain", autocommit=True) as conn:
                for thread in self._holders(conn):
                    with contextlib.suppress(pymysql.err.InternalError):  # 1094: it ended meanwhile
                        conn.execute(f"kill connection {int(thread)}")
                        self.ended += 1
        except pymysql.err.Error as exc:
            self.error = str(exc.args[-1]).splitlines()[0]

    def _holders(self, conn: MysqlSession) -> list[int]:
        """The sessions holding the tables: by their metadata locks where the server shows them,
        else the InnoDB transactions open since before the freeze in sessions using the schema."""
        ((me,),) = conn.execute("select connection_id()")
        ours = (self._freezer, int(me))
        listed = ", ".join(["%s"] * len(self._tables))
        queries = []
        if conn.execute("select @@performance_schema")[0][0] in (1, "1"):
            queries.append(
                "select distinct t.processlist_id from performance_schema.metadata_locks m "
                "join performance_schema.threads t on t.thread_id = m.owner_thread_id "
                f"where m.object_type = 'TABLE' and m.lock_status = 'GRANTED' and m.object_schema = %s "
                f"and m.object_name in ({listed})"
            )
        if conn.execute(
            "select 1 from information_schema.tables where table_schema = 'information_schema' "
            "and table_name = 'METADATA_LOCK_INFO'"
        ):
            queries.append(
                "select distinct thread_id from information_schema.metadata_lock_info "
                f"where table_schema = %s and table_name in ({listed})"
            )
        for query in queries:
            rows = conn.execute(query, (self._schema, *self._tables))
            if rows or query is queries[-1]:
                return [int(t) for (t,) in rows if t is not None and int(t) not in ours]
        rows = conn.execute(
            "select distinct t.trx_mysql_thread_id from information_schema.innodb_trx t "
            "join information_schema.processlist p on p.id = t.trx_mysql_thread_id "
            "where t.trx_started <= %s and p.db = %s",
            (self._since, self._schema),
        )
        return [int(t) for (t,) in rows if int(t) not in ours]

    def stop(self) -> None:
        self._timer.cancel()
        self._timer.join()


# --- the legacy role's grants ----------------------------------------------------------------------


def _accounts(conn: MysqlSession, role: str) -> list[str]:
    """The role's accounts ('user'@'host', and a MariaDB role by its name), as grants name them."""
    user = role.split("@", 1)[0].strip("'`\"")
    rows = conn.execute("select user, host from mysql.user where user = %s", (user,))
    return [f"{conn.escape(u)}@{conn.escape(h)}" if h else conn.escape(u) for u, h in rows]


def _grantee_of(conn: MysqlSession, role: str) -> str:
    user = role.split("@", 1)[0].strip("'`\"")
    return conn.escape(user)  # information_schema writes grantees as 'user'@'host'


def _revoke_writes(conn: MysqlSession, schema: str, tables: list[str], role: str) -> tuple[list[str], list[str]]:
    """Revoke the role's write privileges granted on the tables, each recorded first (a freeze
    run again finds them revoked and keeps the record); returns what is revoked until unfreeze
    (by this freeze or one before it), and notes."""
    if not _accounts(conn, role) or not tables:
        return [], [f"user {role} (roles.legacy_app_role) does not exist on the source: no privilege was revoked"]
    listed = ", ".join(["%s"] * len(tables))
    privileges = ", ".join(f"'{p}'" for p in WRITE_PRIVILEGES)
    like = _grantee_of(conn, role).replace("_", "\\_").replace("%", "\\%")[:-1] + "'@%"
    granted = conn.execute(
        "select grantee, table_name, privilege_type from information_schema.table_privileges "
        f"where table_schema = %s and table_name in ({listed}) and privilege_type in ({privileges}) "
        "and (grantee like %s or grantee = %s) order by 2, 3",
        (schema, *tables, like, _grantee_of(conn, role)),
    )
    control = catalog.quoted(CONTROL)
    for grantee, table, privilege in granted:
        conn.execute(
            f"insert ignore into {control}.frozen_grants values (%s, %s, %s, %s)", (schema, table, grantee, privilege)
        )
        conn.commit()  # recorded before it is revoked: a crash between the two grants back no more than was there
        conn.execute(f"revoke {privilege} on {catalog.qualified(schema, table)} from {grantee}")
    revoked = conn.execute(
        f"select table_name, group_concat(privilege order by privilege separator ', ') from {control}.frozen_grants "
        f"where table_schema = %s and table_name in ({listed}) group by table_name order by table_name",
        (schema, *tables),
    )
    conn.commit()
    broader = conn.execute(
        "select distinct 'the database' from information_schema.schema_privileges "
        f"where table_schema = %s and privilege_type in ({privileges}) and (grantee like %s or grantee = %s) "
        "union select distinct 'the server' from information_schema.user_privileges "
        f"where privilege_type in ({privileges}) and (grantee like %s or grantee = %s)",
        (schema, like, _grantee_of(conn, role), like, _grantee_of(conn, role)),
    )
    notes = [
        f"user {role} may still write {schema} through its grants on {' and '.join(w for (w,) in broader)} "
        "(not revoked: they reach other tables): the freeze triggers refuse it"
    ]
    return sorted(f"{table}: {privileges}" for table, privileges in revoked), notes if broader else []


def _restore_writes(conn: MysqlSession, schema: str, tables: list[str]) -> None:
    """Grant back exactly what the freeze revoked from the legacy role on these tables."""
    if not tables or not conn.execute(
        "select 1 from information_schema.tables where table_schema = %s and table_name = 'frozen_grants'", (CONTROL,)
    ):
        return
    control = catalog.quoted(CONTROL)
    listed = ", ".join(["%s"] * len(tables))
    rows = conn.execute(
        f"select table_name, grantee, privilege from {control}.frozen_grants "
        f"where table_schema = %s and table_name in ({listed})",
        (schema, *tables),
    )
    for table, grantee, privilege in rows:
        user = grantee.split("@", 1)[0]
        exists = conn.execute("select 1 from mysql.user where quote(user) = %s", (user,))
        if catalog.table_exists(conn, schema, table) and exists:
            conn.execute(f"grant {privilege} on {catalog.qualified(schema, table)} to {grantee}")
        conn.execute(
            f"delete from {control}.frozen_grants where table_schema = %s and table_name = %s and grantee = %s "
            "and privilege = %s",
            (schema, table, grantee, privilege),
        )
        conn.commit()


def unfreeze(conn: MysqlSession, schema: str, tables: list[str]) -> None:
    """Lift the freeze from these tables, all at once, and grant back what it revoked (idempotent)."""
    conn.rollback()
    tables = [t for t in tables if catalog.table_exists(conn, schema, t)]
    triggers = _triggers(conn, schema, FREEZE_PREFIX, tables)
    if triggers:
        with _all_locked(conn, schema, sorted(triggers), 30.0):
            for names_of_table in triggers.values():
                _drop_triggers(conn, schema, names_of_table)
    _restore_writes(conn, schema, tables)
    conn.commit()


def frozen_tables(conn: MysqlSession, schema: str) -> list[str]:
    return sorted(_triggers(conn, schema, FREEZE_PREFIX))


# --- decommission: the legacy schema read-only for good ------------------------------------------


def retire(
    conn: MysqlSession, schema: str, table_names: list[str], *, message: str, lock_timeout_seconds: float
) -> list[str]:
    """Guard every table read-only (triggers of its own, kept after the migration) and drop the
    freeze and trigger capture's triggers, under one lock of all tables; then grant back what the
    freeze revoked (the guards refuse those writes all the same), drop the change table once no
    capture trigger is left (trigger.remove) and `_migrate` once nothing uses it. Returns the
    tables guarded."""
    from harness.engines.mysql import trigger

    conn.rollback()
    tables = [t for t in table_names if catalog.table_exists(conn, schema, t)]
    guards = _triggers(conn, schema, GUARD_PREFIX, tables)
    freezes = _triggers(conn, schema, FREEZE_PREFIX, tables)
    try:
        with _all_locked(conn, schema, tables, lock_timeout_seconds):
            for table in tables:
                _create_refusals(conn, schema, table, GUARD_PREFIX, message, guards.get(table, set()), writer=False)
                _drop_triggers(conn, schema, freezes.get(table, set()))
            trigger.remove_triggers(conn, schema, tables)
    except pymysql.err.OperationalError as exc:
        if exc.args[0] != LOCK_WAIT_TIMEOUT:
            raise
        raise FreezeFailed(
            f"could not make {schema} read-only within {lock_timeout_seconds:g} s: a transaction on its tables stayed "
            "open; find it in information_schema.innodb_trx, then run decommission again"
        ) from None
    _restore_writes(conn, schema, tables)
    trigger.remove(conn, schema, tables)
    _drop_control_if_unused(conn)
    conn.commit()
    return read_only_tables(conn, schema)


def _drop_control_if_unused(conn: MysqlSession) -> None:
    """`_migrate` goes once no schema on the server is frozen or captured by triggers and no grant
    waits to be given back."""
    if not conn.execute("select 1 from information_schema.schemata where schema_name = %s", (CONTROL,)):
        return
    from harness.engines.mysql import trigger

    in_use = conn.execute(
        "select 1 from information_schema.triggers where trigger_name like %s or trigger_name like %s limit 1",
        (FREEZE_PREFIX.replace("_", "\\_") + "%", trigger.TRIGGER_PREFIX.replace("_", "\\_") + "%"),
    )
    has_grants = conn.execute(
        "select 1 from information_schema.tables where table_schema = %s and table_name = 'frozen_grants'", (CONTROL,)
    ) and conn.execute(f"select 1 from {catalog.quoted(CONTROL)}.frozen_grants limit 1")
    if not in_use and not has_grants:
        conn.execute(f"drop database {catalog.quoted(CONTROL)}")


def read_only_tables(conn: MysqlSession, schema: str) -> list[str]:
    return sorted(_triggers(conn, schema, GUARD_PREFIX))
