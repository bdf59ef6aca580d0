"""The initial load's source side on MySQL and MariaDB: one consistent point shared by every worker,
key spans for planning ranges, and a key range read out at that point, masked, as COPY text.

MySQL cannot export a snapshot for other sessions to join, as PostgreSQL does. So the coordinator
takes FLUSH TABLES WITH READ LOCK for a moment, records the binary log position, and while writes
wait opens one session per worker with START TRANSACTION WITH CONSISTENT SNAPSHOT: every session
then reads the same point, the one the position stands for. The lock is held only while the
sessions start (milliseconds, once running statements ended: FLUSH waits for them). With a single
worker on MariaDB no lock is needed at all: MariaDB reports the binary log position of a
consistent snapshot itself (binlog_snapshot_file, binlog_snapshot_position).

A range is read with a streaming cursor (the rows are not held in memory) in a session of the
snapshot. The SELECT composes each row as one line of COPY's text format (line_expression: every
value turned into landing's text, as types.landing_text does in Python for the binary log's
capture, and escaped), so the client only joins lines into blocks, written by a thread into a pipe
the target's COPY reads. (A client program such as `mariadb --batch` would read no faster and
cannot join the snapshot's sessions.)
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import os
import queue
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql

from harness.core import connections
from harness.core.connections import Database
from harness.core.errors import HarnessError
from harness.engines.mysql import catalog, types
from harness.engines.mysql.session import MysqlSession

INTEGER_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}
BIGINT_MAX = (1 << 63) - 1  # load_ranges keeps bounds as bigint
PIPE_BYTES = 1 << 20
BATCH_ROWS = 2000  # rows fetched from the streaming cursor at once

# A snapshot's sessions, by the id open_snapshot gave it: each copy_out borrows one and gives it back.
_snapshots: dict[str, queue.Queue] = {}
_ids = itertools.count(1)


class SnapshotFailed(HarnessError):
    pass


def binlog_position(conn: MysqlSession) -> str:
    """The binary log's current position as 'file:position' ('' when the server writes no binary log)."""
    # MySQL 8.2 renamed SHOW MASTER STATUS and 8.4 removed the old name; MariaDB keeps it.
    statement = (
        "show master status" if catalog.is_mariadb(conn) or _version(conn) < (8, 2) else "show binary log status"
    )
    with conn.cursor() as cur:
        cur.execute(statement)
        row = cur.fetchone()
    return f"{row[0]}:{row[1]}" if row else ""


def _version(conn: MysqlSession) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", conn.get_server_info())[:2])


def _start_snapshot(session: MysqlSession) -> None:
    with session.cursor() as cur:
        cur.execute("set session transaction isolation level repeatable read")
        cur.execute("start transaction with consistent snapshot, read only")


def open_snapshot(conn: MysqlSession, workers: int = 1) -> tuple[str, str]:
    """Open `workers` sessions reading one consistent point, kept until `conn`'s transaction ends
    (rollback or close); returns (their id, the binary log position of that point)."""
    from harness.engines.mysql.engine import database_of

    database = database_of(conn)
    workers = max(1, workers)
    sessions = []
    mariadb = catalog.is_mariadb(conn)
    try:
        if workers == 1 and mariadb:
            session = connections.connect_mysql(database, command="load snapshot", streaming=True)
            sessions.append(session)
            _start_snapshot(session)
            status = dict(session.execute("show status like 'binlog_snapshot_%'"))
            file, position = status.get("Binlog_snapshot_file", ""), status.get("Binlog_snapshot_position", "")
            point = f"{file}:{position}" if file else ""
        else:
            for _ in range(workers):
                sessions.append(connections.connect_mysql(database, command="load snapshot", streaming=True))
            try:
                conn.execute("flush tables with read lock")
            except pymysql.err.OperationalError as exc:
                raise SnapshotFailed(
                    f"cannot take FLUSH TABLES WITH READ LOCK on the source ({exc.args[-1]}): grant the load's user "
                    "RELOAD, or load with one worker (--jobs 1) on MariaDB, which needs no lock"
                ) from None
            try:
                point = binlog_position(conn)
                for session in sessions:
                    _start_snapshot(session)
            finally:
                conn.execute("unlock tables")
    except BaseException:
        for session in sessions:
            with contextlib.suppress(Exception):
                session.close()
        raise
    point += _change_table_position(sessions[0])
    snapshot_id = f"mysql-{os.getpid()}-{next(_ids)}"
    pool: queue.Queue = queue.Queue()
    for session in sessions:
        pool.put(session)
    _snapshots[snapshot_id] = pool
    conn.joined.extend(sessions)
    conn.joined.append(_Forget(snapshot_id))
    return snapshot_id, point


def _change_table_position(session: MysqlSession) -> str:
    """Where trigger capture's change table stands in the snapshot, after a `|` (trigger.py), so
    sync takes over from the load exactly; nothing where the table does not exist."""
    from harness.engines.mysql import trigger

    position = trigger.snapshot_position(session)
    return "" if position is None else f"|{position}"


def binlog_part(position: str) -> str:
    """The binary log position of a snapshot's position (what precedes trigger capture's part)."""
    return position.split("|")[0]


class _Forget:
    """Closed with the coordinator's joined sessions: forgets the snapshot's id."""

    def __init__(self, snapshot_id: str):
        self.snapshot_id = snapshot_id

    def close(self) -> None:
        _snapshots.pop(self.snapshot_id, None)


def borrow(snapshot_id: str) -> MysqlSession | None:
    """A session of the snapshot for a caller of its own (the checksums' hashing), None where none is free."""
    pool = _snapshots.get(snapshot_id)
    try:
        return None if pool is None else pool.get_nowait()
    except queue.Empty:
        return None


def give_back(snapshot_id: str, session: MysqlSession) -> None:
    pool = _snapshots.get(snapshot_id)
    if pool is not None:
        pool.put(session)


@contextmanager
def _session(snapshot_id: str) -> Iterator[MysqlSession]:
    pool = _snapshots.get(snapshot_id)
    if pool is None:
        raise SnapshotFailed(f"the source snapshot {snapshot_id} has ended: run the load again")
    session = pool.get()
    try:
        yield session
    finally:
        pool.put(session)


def key_span(conn: MysqlSession, schema: str, table) -> tuple[Any, Any, int] | None:
    """(min, max, estimated rows) of an integer leading key within bigint; None otherwise."""
    first = next(c for c in table.columns if c.name == table.key[0])
    if first.source_type.split("(")[0].split()[0].lower() not in INTEGER_TYPES:
        return None
    key = catalog.quoted(first.name)
    (low, high), *_ = conn.execute(f"select min({key}), max({key}) from {catalog.qualified(schema, table.name)}")
    if low is None:
        return None, None, 0
    if int(high) > BIGINT_MAX:
        return None  # bigint unsigned beyond bigint: one range
    return int(low), int(high), catalog.estimated_rows(conn, schema, table.name)


MASK_SQL = {
    # As landing.MASK_SQL on PostgreSQL: only the last four digits survive.
    "last4": "right(regexp_replace({col}, '[^0-9]', ''), 4)",
    "null": "null",
    "hash": "md5({col})",
}


def select_expression(column: types.MysqlColumn, mask: str | None) -> str:
    """What the SELECT reads of a column: its mask, or its value in the form landing_text reads."""
    ident = catalog.quoted(column.name)
    if mask is not None:
        return MASK_SQL[mask].format(col=ident)
    if column.kind == "float":
        return f"cast({ident} as double)"  # a FLOAT's own text has 6 digits: its double has them all
    return ident


# --- COPY's text written by the server ---------------------------------------------------------
# Each row is read as one line of COPY's text format, composed by the SELECT: the server turns
# every value into landing's text (what types.landing_text makes of it in Python, which the binary
# log's capture still uses) and escapes it, so the client only passes lines on.


def _char(code: int) -> str:
    """One character as MySQL SQL, whatever the session's sql_mode says of backslashes in literals."""
    return f"char({code} using utf8mb4)"


BACKSLASH, NEWLINE, RETURN, TAB, QUOTE = _char(92), _char(10), _char(13), _char(9), _char(34)
NULL_FIELD = f"concat({BACKSLASH}, 'N')"


def _escaped(text: str) -> str:
    """COPY's text escapes of a text expression (backslash, newline, carriage return, tab)."""
    text = f"replace({text}, {BACKSLASH}, concat({BACKSLASH}, {BACKSLASH}))"
    for char, letter in ((NEWLINE, "n"), (RETURN, "r"), (TAB, "t")):
        text = f"replace({text}, {char}, concat({BACKSLASH}, '{letter}'))"
    return text


def invalid_date(ident: str) -> str:
    """A date, datetime or timestamp value PostgreSQL has no date for (zero, or a day the month lacks)."""
    return (
        f"(year({ident}) = 0 or month({ident}) = 0 or dayofmonth({ident}) = 0 "
        f"or dayofmonth({ident}) > dayofmonth(last_day({ident})))"
    )


def _text_sql(
    column: types.MysqlColumn, mask: str | None, source: types.MysqlColumn | None, row: str | None = None
) -> str:
    """The landing text of one landing column as a MySQL expression (NULL for null): as
    types.landing_text makes it; `source` is the date column a companion column is filled from;
    `row` the row the columns are read from (a trigger's NEW or OLD), else the table read."""

    def reference(name: str) -> str:
        return catalog.quoted(name) if row is None else f"{row}.{catalog.quoted(name)}"

    if source is not None:  # the companion: the date's own text where PostgreSQL has no date for it
        ident = reference(source.name)
        return f"if({invalid_date(ident)}, cast({ident} as char), null)"
    ident = reference(column.name)
    if mask is not None:
        return f"convert({MASK_SQL[mask].format(col=ident)} using utf8mb4)"
    kind = column.kind
    if kind in ("integer", "decimal", "double", "time"):
        return f"cast({ident} as char)"
    if kind == "float":
        return f"cast(cast({ident} as double) as char)"
    if kind == "timestamp" and row is not None:
        # A trigger runs in the writer's session, whose time_zone may be anything: the instant is
        # taken as stored (UNIX_TIMESTAMP of a TIMESTAMP column is not converted) and printed in UTC,
        # as the load's UTC session prints it.
        digits = re.search(r"\((\d)\)", column.type)
        instant = (
            f"cast(timestampadd(microsecond, unix_timestamp({ident}) * 1000000, '1970-01-01 00:00:00') "
            f"as datetime({digits[1] if digits else 0}))"
        )
        return f"if({invalid_date(ident)}, null, concat(cast({instant} as char), '+00'))"
    if kind in types.DATE_KINDS:
        zone = " '+00'" if kind == "timestamp" else ""
        return f"if({invalid_date(ident)}, null, concat(cast({ident} as char){',' + zone if zone else ''}))"
    if kind == "bit":
        return f"lpad(bin({ident} + 0), {column.bits}, '0')"
    if kind == "bytes":
        return f"concat({BACKSLASH}, 'x', hex({ident}))"  # COPY's escape of bytea's \\x is added below
    if kind == "set":  # an array literal: {"a","b"}, each member's backslashes and quotes escaped
        members = f"replace(convert({ident} using utf8mb4), {BACKSLASH}, concat({BACKSLASH}, {BACKSLASH}))"
        members = f"replace({members}, {QUOTE}, concat({BACKSLASH}, {QUOTE}))"
        quoted = f"concat({QUOTE}, replace({members}, ',', concat({QUOTE}, ',', {QUOTE})), {QUOTE})"
        return f"concat('{{', if({ident} = '', '', {quoted}), '}}')"
    return f"convert({ident} using utf8mb4)"


def line_expression(table) -> str:
    """One row of the table as a line of COPY's text format (without its newline)."""
    selected = {c.name: c for c in table.columns if c.selected}
    fields = []
    for column in table.columns:
        source = None if column.selected else selected[column.raw_of]
        if source is not None and source.name in table.masks:
            fields.append(NULL_FIELD)  # a masked date keeps no original text beside it
            continue
        text = _text_sql(column, table.masks.get(column.name), source)
        if column.kind not in ("bit", "integer", "decimal", "float", "double", "time"):
            text = _escaped(text)  # bytea's \\x too: COPY reads \\\\x
        fields.append(f"coalesce({text}, {NULL_FIELD})")
    return "concat(" + f", {TAB}, ".join(fields) + ")"


def image_expression(table, row: str, columns: list[str] | None = None) -> str:
    """A JSON object of the landing text of each landing column (`columns`: only these) of the row
    `row` (a trigger's NEW or OLD), masks applied: what the load copies of that row, before COPY's
    escapes. Each text goes through concat(), so that MariaDB embeds no JSON column as JSON."""
    selected = {c.name: c for c in table.columns if c.selected}
    pairs = []
    for column in table.columns:
        if columns is not None and column.name not in columns:
            continue
        source = None if column.selected else selected[column.raw_of]
        if source is not None and source.name in table.masks:
            text = "null"  # a masked date keeps no original text beside it
        else:
            text = f"concat({_text_sql(column, table.masks.get(column.name), source, row)})"
        pairs.append(f"{string_literal(column.name)}, {text}")
    return "json_object(" + ", ".join(pairs) + ")"


def string_literal(text: str) -> str:
    """A string literal whatever the session's sql_mode says of backslashes."""
    return (
        "'" + text.replace("'", "''") + "'"
        if "\\" not in text
        else f"convert(from_base64('{_b64(text)}') using utf8mb4)"
    )


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def range_select(schema: str, table, lower: int | None, upper: int | None) -> str:
    """The SELECT of one key range (open where a bound is None), one COPY text line per row."""
    query = f"select {line_expression(table)} from {catalog.qualified(schema, table.name)}"
    key = catalog.quoted(table.key[0])
    conditions = []
    if lower is not None:
        conditions.append(f"{key} >= {int(lower)}")
    if upper is not None:
        conditions.append(f"{key} < {int(upper)}")
    if conditions:
        query += " where " + " and ".join(conditions)
    return query


def _refuse_nul(table, lines: list[str]) -> None:
    """A NUL character cannot land in PostgreSQL text: one line naming the column."""
    line = next(line for line in lines if "\x00" in line)
    index = next(i for i, field in enumerate(line.split("\t")) if "\x00" in field)
    raise HarnessError(
        f"{table.name}: column {table.columns[index].name} holds a NUL character, which PostgreSQL text cannot "
        "hold; fix the value at the source or leave the table out"
    )


@contextmanager
def copy_out(source: Database, schema: str, table, lower: Any, upper: Any, snapshot_id: str) -> Iterator[int]:
    """A pipe (file descriptor) carrying the range's rows as COPY text, read at the snapshot's point."""
    query = range_select(schema, table, lower, upper)
    read_end, write_end = os.pipe()
    with contextlib.suppress(ImportError, AttributeError, OSError):
        import fcntl

        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with _session(snapshot_id) as session, os.fdopen(write_end, "wb", buffering=PIPE_BYTES) as out:
                cur = session.cursor()
                try:
                    cur.execute(query)
                    while rows := cur.fetchmany(BATCH_ROWS):
                        lines = [line for (line,) in rows]
                        block = "\n".join(lines)
                        if "\x00" in block:
                            _refuse_nul(table, lines)
                        out.write(block.encode() + b"\n")
                finally:
                    with contextlib.suppress(Exception):
                        cur.close()  # reads what is left of an unfinished result, so the session stays usable
        except BrokenPipeError:
            pass  # the reader stopped: its own failure is the one to report
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=produce, name=f"mysql copy {table.name}", daemon=True)
    thread.start()
    try:
        yield read_end
    finally:
        os.close(read_end)
        thread.join()
    if failure:
        raise failure[0]
