"""Capture by triggers on MySQL and MariaDB, the fallback where the binary log cannot be read
(no REPLICATION SLAVE / REPLICATION CLIENT grant, binary log off).

Three AFTER triggers per listed table (`_migrate_capture_<event>_<table>`) write each row changed
into one change table, `_migrate`.`changes` (the database the freeze also keeps its state in):
the operation, the key before an update or delete, and the row after an insert or update. Each
image is a JSON object of every landing column's text, built in the trigger by the very SQL the
load reads a row with (copy.image_expression over copy's text rendering), masks applied, so a
value lands the same by load and by capture. A trigger runs with its definer's rights: the
applications need no grant on `_migrate`. It keeps the sql_mode and character set of the session
that created it (the harness's, as the load's), and reads a TIMESTAMP as the stored instant, so
the writer's own session settings change no image.

Commit order. A change's id (AUTO_INCREMENT) is taken when the row is written, not at commit, so
a transaction holding id 10 can commit after one holding id 11. Each batch reads the change table
in a consistent snapshot, and the position it leaves (kept in the target's sync state, committed
with landing's changes) is exact: every id up to `high` is applied except the listed gaps, the
ids not visible then (a transaction still open, or one rolled back, or ids never used). The next
batch reads the ids above `high` and those in the gaps, so a late commit lands in the first batch
that sees it, and nothing is read twice. A gap is forgotten only when it cannot fill any more:
when every transaction open on the server (information_schema.innodb_trx, read before the
snapshot, two seconds on at least: the view is a cache of up to 0.1 s) started after the gap was
first seen, the transaction that took its ids has ended, and had it committed the snapshot would
show them. This is why the method needs the PROCESS privilege.
Changes of one row are in id order whatever the commits do: InnoDB's row locks make a second
writer of a row wait for the first one's commit, so its change takes a later id.

The load's snapshot hands over exactly: copy.open_snapshot reads the change table in the
snapshot itself and records its position (`|changes:...` after the binary log position), so the
changes the copy holds are never applied again, and those after it are.

TRUNCATE fires no trigger. It gives the table a new InnoDB table id, so each batch compares the
tables' ids with those its consumer saw last; where one changed, the table's rows counted in the
batch's snapshot are held against landing's live rows once the batch is applied, and a difference
(rows landing still holds that the source emptied) stops the sync with one line naming the table
to reload (`migrate load --table`). A table rebuilt by OPTIMIZE or ALTER keeps its rows and
passes. Where the id cannot be found (a name outside [A-Za-z0-9_$ -~] ASCII), the table is counted
at every batch.

Several targets may read one change table: each is a consumer in `_migrate`.`consumers` with its
position, and a change is deleted once every consumer of its schema has applied it.
"""

from __future__ import annotations

import datetime
import json
import time
from contextlib import ExitStack
from dataclasses import dataclass

import pymysql
from psycopg import sql

from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.errors import ConfigError, HarnessError
from harness.engines import postgres
from harness.engines.base import Batch
from harness.engines.mysql import catalog, copy
from harness.engines.mysql.freeze import CONTROL
from harness.engines.mysql.session import MysqlSession
from harness.engines.postgres import capture as pg_capture
from harness.engines.postgres import catalog as names
from harness.target import changes, landing, locks, sync_state
from harness.target.locks import Pause

TRIGGER_PREFIX = "_migrate_capture_"
EVENTS = {"insert": "I", "update": "U", "delete": "D"}
TEXT_IMAGES = "text"
BATCH_CHANGES = 200_000  # new changes read by one batch at most (the gaps' are read whole)
PURGE_ROWS = 10_000  # change rows deleted per statement
ACCESS_DENIED_TO_DATABASE, ACCESS_DENIED_TO_TABLE = 1044, 1142
POSITION_TAG = "changes:"  # a position's part that this capture reads (copy.open_snapshot writes it too)

LOG = f"{catalog.quoted(CONTROL)}.`changes`"
CONSUMERS = f"{catalog.quoted(CONTROL)}.`consumers`"
LOG_DDL = (
    f"create database if not exists {catalog.quoted(CONTROL)} character set utf8mb4",
    f"""create table if not exists {LOG} (
        change_id    bigint unsigned not null auto_increment primary key,
        table_schema varchar(64) not null,
        table_name   varchar(64) not null,
        op           char(1) not null,          -- I, U, D
        old_key      longtext,                  -- the key before an update or delete (JSON of texts)
        new_row      longtext,                  -- the row after an insert or update, masked (JSON of texts)
        captured_at  timestamp(6) not null default current_timestamp(6)
    ) engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin""",
    f"""create table if not exists {CONSUMERS} (
        consumer_id     varchar(100) not null primary key,  -- kept in the target's control schema
        source_schema   varchar(64) not null,
        position        longtext not null,                  -- what it has applied (Position.text)
        table_ids       longtext,                           -- JSON: each table's InnoDB id it last saw
        target          varchar(500),
        registered_at   timestamp(6) not null default current_timestamp(6),
        last_applied_at timestamp(6) null
    ) engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin""",
)


class NotInstalled(HarnessError):
    """A batch found no change table on the source: capture was never installed there."""


class Truncated(HarnessError):
    """A captured table was emptied by TRUNCATE, which no trigger sees."""


# --- positions ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """Every change id up to `high` applied but those in `gaps`: (first, last, the server's unix
    second when first seen not visible)."""

    high: int
    gaps: tuple[tuple[int, int, int], ...] = ()

    def text(self) -> str:
        gaps = ",".join(f"{first}-{last}@{seen}" for first, last, seen in self.gaps)
        return f"{POSITION_TAG}{self.high}" + (f";{gaps}" if gaps else "")

    @classmethod
    def parse(cls, text: str) -> Position:
        part = next((p for p in text.split("|") if p.startswith(POSITION_TAG)), None)
        if part is None:
            raise ConfigError(
                f"the sync position {text!r} was not recorded by trigger capture (capture.method changed since the "
                "load?): run `migrate load` again"
            )
        high, _, gaps = part[len(POSITION_TAG) :].partition(";")
        parsed = []
        for gap in filter(None, gaps.split(",")):
            span, _, seen = gap.partition("@")
            first, _, last = span.partition("-")
            parsed.append((int(first), int(last), int(seen)))
        return cls(int(high), tuple(parsed))

    def holds(self, change_id: int) -> bool:
        """Whether the change is applied at this position."""
        return change_id <= self.high and not any(first <= change_id <= last for first, last, _ in self.gaps)

    @property
    def floor(self) -> int:
        """Every id up to this one is applied (or was never used)."""
        return min([self.high] + [first - 1 for first, _, _ in self.gaps])

    def unapplied_sql(self) -> str:
        """The condition on change_id of the changes not applied at this position."""
        ranges = "".join(f" or change_id between {first} and {last}" for first, last, _ in self.gaps)
        return f"(change_id > {self.high}{ranges})"


def _without(first: int, last: int, visible: list[int]) -> list[tuple[int, int]]:
    """The runs of first..last that are not in `visible` (sorted)."""
    runs, start = [], first
    for i in visible:
        if i < start or i > last:
            continue
        if i > start:
            runs.append((start, i - 1))
        start = i + 1
    if start <= last:
        runs.append((start, last))
    return runs


def snapshot_position(session: MysqlSession) -> str | None:
    """The change table's position in the session's open consistent snapshot (copy.open_snapshot):
    its highest visible id, every id below it not visible a gap. None without a change table."""
    if not log_exists(session):
        return None
    ((high,),) = session.execute(f"select coalesce(max(change_id), 0) from {LOG}")
    ((now,),) = session.execute("select unix_timestamp()")
    holes = session.execute(
        "select previous + 1, change_id - 1 from (select change_id, "
        f"coalesce(lag(change_id) over (order by change_id), 0) as previous from {LOG}) ids "
        "where change_id > previous + 1"
    )
    seen = int(float(now))
    return Position(int(high), tuple((int(a), int(b), seen) for a, b in holes)).text()


# --- install, state, remove ---------------------------------------------------------------------------


def log_exists(conn: MysqlSession) -> bool:
    return catalog.table_exists(conn, CONTROL, "changes")


def _trigger_name(event: str, table: str) -> str:
    return names.fitting_name(f"{TRIGGER_PREFIX}{event}_{table}", TRIGGER_PREFIX, event, table)


def _trigger_body(schema: str, table, event: str) -> str:
    """What the trigger of `event` on `table` (landing.SourceTable, MySQL columns) does for each row:
    the key as landing holds it (masked where masked, as the binary log's capture has it too)."""
    new_row = copy.image_expression(table, "NEW") if event in ("insert", "update") else "null"
    old_key = copy.image_expression(table, "OLD", list(table.key)) if event in ("update", "delete") else "null"
    return (
        f"insert into {LOG} (table_schema, table_name, op, old_key, new_row) values "
        f"({copy.string_literal(schema)}, {copy.string_literal(table.name)}, '{EVENTS[event]}', {old_key}, {new_row})"
    )


def _existing(conn: MysqlSession, schema: str) -> dict[str, str]:
    """The capture triggers of the schema: name → body."""
    rows = conn.execute(
        "select trigger_name, action_statement from information_schema.triggers "
        "where trigger_schema = %s and trigger_name like %s",
        (schema, TRIGGER_PREFIX.replace("_", "\\_") + "%"),
    )
    return {name: body for name, body in rows}


def check_server(conn: MysqlSession) -> None:
    """The session can see which transactions are open (PROCESS), which the gaps' ends rely on."""
    try:
        conn.execute("select count(*) from information_schema.innodb_trx")
    except pymysql.err.OperationalError as exc:
        raise ConfigError(
            f"trigger capture needs the PROCESS privilege on the source ({exc.args[-1]}): grant it to the "
            "migration's user, so that sync sees which transactions are still open"
        ) from None


def install(conn: MysqlSession, schema: str, tables: list) -> None:
    """The change table and each table's three triggers, where missing or out of date (idempotent).

    MariaDB replaces a trigger in one statement (CREATE OR REPLACE), so no write commits uncaptured
    meanwhile; MySQL drops and creates it under LOCK TABLES ... WRITE, which no write passes."""
    check_server(conn)
    for table in tables:
        engine = catalog.storage_engine(conn, schema, table.name)
        if engine.lower() in ("myisam", "aria", "memory"):
            raise ConfigError(
                f"{schema}.{table.name} is a {engine} table: it has no transactions, so its changes and their "
                "capture do not commit together; convert it (ALTER TABLE ... ENGINE=InnoDB)"
            )
    try:
        for statement in LOG_DDL:
            conn.execute(statement)
    except pymysql.err.OperationalError as exc:
        if exc.args[0] not in (ACCESS_DENIED_TO_DATABASE, ACCESS_DENIED_TO_TABLE):
            raise
        raise ConfigError(
            f"trigger capture keeps its change table in the database {CONTROL} ({exc.args[-1]}): grant the "
            f"migration's user all privileges on `{CONTROL}`.*"
        ) from None
    existing = _existing(conn, schema)
    mariadb = catalog.is_mariadb(conn)
    for table in tables:
        for event in EVENTS:
            name = _trigger_name(event, table.name)
            body = _trigger_body(schema, table, event)
            if existing.get(name, "").strip() == body:
                continue
            create = (
                f"create {'or replace ' if mariadb else ''}trigger {catalog.qualified(schema, name)} "
                f"after {event} on {catalog.qualified(schema, table.name)} for each row {body}"
            )
            if mariadb or name not in existing:
                conn.execute(create)
                continue
            conn.execute(f"lock tables {catalog.qualified(schema, table.name)} write")
            try:
                conn.execute(f"drop trigger {catalog.qualified(schema, name)}")
                conn.execute(create)
            finally:
                conn.execute("unlock tables")


def captured_tables(conn: MysqlSession, schema: str) -> list[str]:
    rows = conn.execute(
        "select distinct event_object_table from information_schema.triggers "
        "where trigger_schema = %s and trigger_name like %s order by 1",
        (schema, TRIGGER_PREFIX.replace("_", "\\_") + "%"),
    )
    return [name for (name,) in rows]


def state(conn: MysqlSession, schema: str, table_names: list[str]) -> pg_capture.CaptureState:
    existing = _existing(conn, schema)
    installed = [t for t in table_names if all(_trigger_name(e, t) in existing for e in EVENTS)]
    return pg_capture.CaptureState(installed=installed, missing=[t for t in table_names if t not in installed])


def remove_triggers(conn: MysqlSession, schema: str, table_names: list[str]) -> None:
    existing = _existing(conn, schema)
    for table in table_names:
        for event in EVENTS:
            name = _trigger_name(event, table)
            if name in existing:
                conn.execute(f"drop trigger if exists {catalog.qualified(schema, name)}")


def remove(conn: MysqlSession, schema: str, table_names: list[str]) -> None:
    """Drop the tables' capture triggers, then the change table and its consumers where no capture
    trigger is left on the server (decommission); `_migrate` itself once it holds nothing."""
    remove_triggers(conn, schema, table_names)
    left = conn.execute(
        "select 1 from information_schema.triggers where trigger_name like %s limit 1",
        (TRIGGER_PREFIX.replace("_", "\\_") + "%",),
    )
    if left:
        return
    conn.execute(f"drop table if exists {LOG}, {CONSUMERS}")
    if conn.execute("select 1 from information_schema.schemata where schema_name = %s", (CONTROL,)) and not (
        conn.execute("select 1 from information_schema.tables where table_schema = %s limit 1", (CONTROL,))
    ):
        conn.execute(f"drop database {catalog.quoted(CONTROL)}")


# --- consumers ----------------------------------------------------------------------------------------


def _consumers_exist(conn: MysqlSession) -> bool:
    return catalog.table_exists(conn, CONTROL, "consumers")


def register(
    conn: MysqlSession, consumer_id: str, schema: str, label: str, position: str | None, *, replace: bool
) -> None:
    """A target as a consumer of the schema's changes from `position` (None: the change table as it
    is now, read in a snapshot of its own)."""
    if not _consumers_exist(conn):
        raise NotInstalled("capture is not installed on the source: run `migrate load` (or `migrate sync --install`)")
    if not replace and conn.execute(f"select 1 from {CONSUMERS} where consumer_id = %s", (consumer_id,)):
        return
    if position is None:
        conn.execute("start transaction with consistent snapshot, read only")
        try:
            position = snapshot_position(conn)
        finally:
            conn.execute("commit")
    ids = table_ids(conn, schema, captured_tables(conn, schema))
    conn.execute(
        f"replace into {CONSUMERS} (consumer_id, source_schema, position, table_ids, target) "
        "values (%s, %s, %s, %s, %s)",
        (consumer_id, schema, Position.parse(position).text(), json.dumps(ids), label),
    )


def _applied(
    conn: MysqlSession, consumer_id: str, schema: str, label: str, position: Position, innodb_ids: dict
) -> None:
    """Move the consumer to `position` once the target committed it, then delete the schema's
    changes every consumer of it has applied."""
    conn.execute(
        f"insert into {CONSUMERS} (consumer_id, source_schema, position, table_ids, target, last_applied_at) "
        "values (%s, %s, %s, %s, %s, current_timestamp(6)) on duplicate key update position = values(position), "
        "table_ids = values(table_ids), last_applied_at = values(last_applied_at)",
        (consumer_id, schema, position.text(), json.dumps(innodb_ids), label),
    )
    floors = [
        Position.parse(p).floor
        for (p,) in conn.execute(f"select position from {CONSUMERS} where source_schema = %s", (schema,))
    ]
    floor = min(floors, default=0)
    # The ids are read first, then deleted by key: a range DELETE would lock the first row past its
    # end, which may be an open transaction's change (a gap), and wait for it.
    while True:
        ids = [
            int(change_id)
            for (change_id,) in conn.execute(
                f"select change_id from {LOG} where table_schema = %s and change_id <= %s "
                f"order by change_id limit {PURGE_ROWS}",
                (schema, floor),
            )
        ]
        if ids:
            conn.execute(f"delete from {LOG} where change_id in ({', '.join(map(str, ids))})")
        if len(ids) < PURGE_ROWS:
            break


def consumers(conn: MysqlSession, schema: str, this_consumer: str | None = None) -> list[pg_capture.Consumer]:
    if not _consumers_exist(conn):
        return []
    rows = conn.execute(
        f"select consumer_id, target, registered_at, last_applied_at, position from {CONSUMERS} "
        "where source_schema = %s order by registered_at, consumer_id",
        (schema,),
    )
    result = []
    for consumer_id, target, registered, last, position in rows:
        ((held,),) = conn.execute(
            f"select count(*) from {LOG} where table_schema = %s and {Position.parse(position).unapplied_sql()}",
            (schema,),
        )
        result.append(
            pg_capture.Consumer(
                _text(consumer_id),
                _text(target),
                _moment(registered),
                _moment(last),
                int(held),
                this_target=_text(consumer_id) == this_consumer,
            )
        )
    return result


def forget(conn: MysqlSession, consumer_id: str) -> bool:
    if not _consumers_exist(conn):
        return False
    with conn.cursor() as cur:
        return cur.execute(f"delete from {CONSUMERS} where consumer_id = %s", (consumer_id,)) > 0


def backlog(conn: MysqlSession, schema: str, position: str) -> tuple[int, float | None]:
    """The schema's changes not applied at `position`, and the oldest one's age in seconds."""
    ((behind, oldest),) = conn.execute(
        "select count(*), timestampdiff(microsecond, min(captured_at), current_timestamp(6)) / 1e6 "
        f"from {LOG} where table_schema = %s and {Position.parse(position).unapplied_sql()}",
        (schema,),
    )
    return int(behind), float(oldest) if oldest is not None else None


# --- TRUNCATE, seen by the table's InnoDB id -----------------------------------------------------------


def _innodb_name(schema: str, table: str) -> str | None:
    """InnoDB's name of a table ('db/table', names in MySQL's file name encoding); None where a
    character is outside the plain ASCII this reproduces."""
    encoded = []
    for name in (schema, table):
        text = ""
        for char in name:
            if char.isascii() and (char.isalnum() or char == "_"):
                text += char
            elif char.isascii() and char.isprintable():
                text += f"@{ord(char):04x}"
            else:
                return None
        encoded.append(text)
    return "/".join(encoded)


def table_ids(conn: MysqlSession, schema: str, table_names: list[str]) -> dict[str, int | None]:
    """Each table's InnoDB table id now (None where it cannot be found: counted at every batch)."""
    view = "information_schema.innodb_sys_tables" if catalog.is_mariadb(conn) else "information_schema.innodb_tables"
    wanted = {t: _innodb_name(schema, t) for t in table_names}
    found = dict(
        conn.execute(
            f"select name, table_id from {view} where name in ({', '.join(['%s'] * len(table_names))})",
            [w or "" for w in wanted.values()],
        )
        if table_names
        else []
    )
    return {t: (int(found[w]) if w in found else None) for t, w in wanted.items()}


def _consumer_ids(conn: MysqlSession, consumer_id: str) -> dict:
    rows = conn.execute(f"select table_ids from {CONSUMERS} where consumer_id = %s", (consumer_id,))
    return json.loads(rows[0][0]) if rows and rows[0][0] else {}


# --- a batch ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenTransactions:
    """What information_schema.innodb_trx showed, read before a batch's snapshot."""

    oldest: int | None  # the unix second the oldest transaction open started (None: none was open)
    read_at: int  # the server's unix second when it was read

    def outlived(self, first_seen: int) -> bool:
        """Whether every transaction open when a gap was first seen has ended since. The view is a
        cache refreshed at most every 0.1 s, so it only counts two whole seconds after the gap."""
        return self.read_at >= first_seen + 2 and (self.oldest is None or self.oldest > first_seen)


def _open_transactions(conn: MysqlSession) -> OpenTransactions:
    """The transactions open on the server (see read_changes).

    InnoDB shows a start in the server's system time zone: read there, and an hour earlier where
    that zone is not UTC (a local time repeated when summer time ends maps to the later instant)."""
    conn.execute("set session time_zone = 'SYSTEM'")
    try:
        ((oldest, now, zone),) = conn.execute(
            "select unix_timestamp(min(trx_started)), unix_timestamp(), @@system_time_zone "
            "from information_schema.innodb_trx"
        )
    finally:
        conn.execute("set session time_zone = '+00:00'")
    margin = 0 if _text(zone).upper() in ("UTC", "GMT", "+00:00", "ETC/UTC") else 3600
    return OpenTransactions(None if oldest is None else int(float(oldest)) - margin, int(float(now)))


def read_changes(reader: MysqlSession, schema: str, previous: Position, before: OpenTransactions | None):
    """The schema's changes not applied at `previous`, visible in `reader`'s open snapshot, in id
    order, and the position after them. `before`: the transactions open before the snapshot was
    taken, which tell the gaps that can no longer fill (OpenTransactions.outlived); None keeps
    every gap (a snapshot opened earlier by the caller)."""
    gap_rows = []
    if previous.gaps:
        ranges = " or ".join(f"change_id between {a} and {b}" for a, b, _ in previous.gaps)
        gap_rows = reader.execute(
            "select change_id, table_schema = %s, table_name, op, old_key, new_row, captured_at "
            f"from {LOG} where {ranges} order by change_id",
            (schema,),
        )
    new_rows = reader.execute(
        "select change_id, table_schema = %s, table_name, op, old_key, new_row, captured_at "
        f"from {LOG} where change_id > %s order by change_id limit {BATCH_CHANGES}",
        (schema, previous.high),
    )
    ((now,),) = reader.execute("select unix_timestamp()")
    seen = int(float(now))
    gap_ids = [int(r[0]) for r in gap_rows]
    gaps = []
    for first, last, first_seen in previous.gaps:
        if before is not None and before.outlived(first_seen):
            continue  # every transaction open when it was seen has ended: it never fills
        gaps += [(a, b, first_seen) for a, b in _without(first, last, gap_ids)]
    new_ids = [int(r[0]) for r in new_rows]
    high = new_ids[-1] if new_ids else previous.high
    gaps += [(a, b, seen) for a, b in _without(previous.high + 1, high, new_ids)]
    found = [r for r in gap_rows + new_rows if int(r[1])]
    found.sort(key=lambda r: int(r[0]))
    return found, Position(high, tuple(gaps))


def _moment(value) -> datetime.datetime | None:
    """A TIMESTAMP as this session reads it (text, UTC) as an aware datetime."""
    text = _text(value)
    return None if text is None else datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC)


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def apply_batch(
    config: Config,
    source: Database,
    target: Database,
    *,
    snapshot_id: str | None = None,
    pause: Pause | None = None,
) -> Batch:
    """Apply every change committed since the target's position, in one target transaction.

    Read in a consistent snapshot of the source (`snapshot_id`: the open snapshot of that id,
    copy.open_snapshot's, so landing then equals the source as of it), folded into landing by
    target.changes.apply_changes, the new position recorded in the same target transaction; only
    then does the source move this consumer on and delete what every consumer applied. A batch
    killed at any point loses nothing and applies nothing twice."""
    started = time.perf_counter()
    batch = Batch()
    schema = config.source_schema
    with ExitStack() as stack:
        if pause is None:
            pause = stack.enter_context(locks.paused(config, target, command="sync"))
        dst = pause.conn
        src = stack.enter_context(connections.connection(source, command="sync", autocommit=True))
        if not log_exists(src):
            raise NotInstalled(
                "no change table on the source: trigger capture is not installed; run `migrate load` "
                "(or `migrate sync --install`)"
            )
        consumer_id = control.consumer_id(dst, config.control_schema)
        label = control.consumer_label(target.describe(), config.control_schema)
        tables = landing.describe_all(src, config, list(config.tables))
        with dst.transaction():
            previous = Position.parse(sync_state.watermark(dst, config.control_schema, for_update=True))
            register(src, consumer_id, schema, label, previous.text(), replace=False)
            ids_now = table_ids(src, schema, list(tables))
            ids_seen = _consumer_ids(src, consumer_id)
            if snapshot_id is not None:
                reader = copy.borrow(snapshot_id)
                if reader is None:
                    raise copy.SnapshotFailed(f"the source snapshot {snapshot_id} has no free session")
                stack.callback(copy.give_back, snapshot_id, reader)
                found, position = read_changes(reader, schema, previous, None)
            else:
                before = _open_transactions(src)  # before the snapshot: see read_changes
                reader = src
                reader.execute("set session transaction isolation level repeatable read")
                reader.execute("start transaction with consistent snapshot, read only")
                found, position = read_changes(reader, schema, previous, before)
            reloaded = [
                (name, Position.parse(at)) for name, at in sync_state.table_loads_to_cover(dst, config.control_schema)
            ]
            counts: dict[str, int] = {}
            with changes.staged(dst) as writer:
                for change_id, _, name, op, old_key, new_row, captured_at in found:
                    name = _text(name)
                    if name not in tables or any(t == name and at.holds(int(change_id)) for t, at in reloaded):
                        continue  # a table no longer listed, or one whose reload's copy holds the change
                    new_row = _text(new_row)
                    if new_row is not None and "\\u0000" in new_row:
                        raise HarnessError(
                            f"{name}: a change holds a NUL character, which PostgreSQL text cannot hold; "
                            "fix the value at the source"
                        )
                    writer.write_row(
                        (
                            int(change_id),
                            schema,
                            name,
                            _text(op),
                            _text(old_key),
                            new_row,
                            f"{_text(captured_at)}+00",
                            TEXT_IMAGES,
                        )
                    )
                    counts[name] = counts.get(name, 0) + 1
            pg_capture.use_image_settings(dst)
            for name, count in counts.items():
                changes.apply_changes(dst, config.landing_schema, tables[name])
                batch.per_table[name] = count
            _check_truncates(reader, dst, config, ids_now, ids_seen)
            if reader is src:
                src.execute("commit")
            batch.changes = sum(counts.values())
            batch.snapshot = position.text()
            sync_state.record_batch(dst, config.control_schema, batch.snapshot, batch.changes)
        # Only now that the target committed may the source move this consumer on and purge.
        _applied(src, consumer_id, schema, label, position, ids_now)
    batch.seconds = time.perf_counter() - started
    return batch


def _check_truncates(reader: MysqlSession, dst, config: Config, ids_now: dict, ids_seen: dict) -> None:
    """A table whose InnoDB id changed since the consumer's last batch (or cannot be found) has its
    rows in the batch's snapshot counted against landing's live rows: fewer at the source means
    rows were emptied unseen (TRUNCATE)."""
    for name, table_id in ids_now.items():
        if table_id is not None and ids_seen.get(name) == table_id:
            continue  # the same table as at the last batch (or the registration, before the load's snapshot)
        ((at_source,),) = reader.execute(f"select count(*) from {catalog.qualified(config.source_schema, name)}")
        (in_landing,) = dst.execute(
            sql.SQL("select count(*) from {} where not {}").format(
                postgres.qualified(config.landing_schema, name), sql.Identifier(landing.DELETED)
            )
        ).fetchone()
        if int(at_source) != int(in_landing):
            raise Truncated(
                f"table {name} holds {at_source} rows at the source but {in_landing} in landing: it was emptied "
                "by TRUNCATE (or another statement no trigger sees); run `migrate load --table "
                f"{name}`, then sync again"
            )
