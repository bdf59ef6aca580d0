"""The initial load's source side on MySQL and MariaDB: one consistent point shared by every worker,
key spans for planning ranges, and a key range read out at that point, masked, as COPY text.

MySQL cannot export a snapshot for other sessions to join, as PostgreSQL does. So the coordinator
takes FLUSH TABLES WITH READ LOCK for a moment, records the binary log position, and while writes
wait opens one session per worker with START TRANSACTION WITH CONSISTENT SNAPSHOT: every session
then reads the same point, the one the position stands for. The lock is held only while the
sessions start (milliseconds, once running statements ended: FLUSH waits for them). With a single
worker on MariaDB no lock is needed at all: MariaDB reports the binary log position of a
consistent snapshot itself (binlog_snapshot_file, binlog_snapshot_position).

A range is read with a streaming cursor (the rows are not held in memory), each value turned into
landing's text (types.landing_text) by a thread that writes COPY's text format into a pipe the
target's COPY reads.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
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
    with conn.cursor() as cur:
        cur.execute("show master status")
        row = cur.fetchone()
    return f"{row[0]}:{row[1]}" if row else ""


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
    snapshot_id = f"mysql-{os.getpid()}-{next(_ids)}"
    pool: queue.Queue = queue.Queue()
    for session in sessions:
        pool.put(session)
    _snapshots[snapshot_id] = pool
    conn.joined.extend(sessions)
    conn.joined.append(_Forget(snapshot_id))
    return snapshot_id, point


class _Forget:
    """Closed with the coordinator's joined sessions: forgets the snapshot's id."""

    def __init__(self, snapshot_id: str):
        self.snapshot_id = snapshot_id

    def close(self) -> None:
        _snapshots.pop(self.snapshot_id, None)


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


def range_select(schema: str, table, lower: int | None, upper: int | None) -> str:
    """The masked SELECT of one key range (open where a bound is None)."""
    selected = [c for c in table.columns if getattr(c, "selected", True)]
    parts = [select_expression(c, table.masks.get(c.name)) for c in selected]
    query = f"select {', '.join(parts)} from {catalog.qualified(schema, table.name)}"
    key = catalog.quoted(table.key[0])
    conditions = []
    if lower is not None:
        conditions.append(f"{key} >= {int(lower)}")
    if upper is not None:
        conditions.append(f"{key} < {int(upper)}")
    if conditions:
        query += " where " + " and ".join(conditions)
    return query


def row_converter(table):
    """A function from a row of range_select to the landing columns' texts, in table.columns' order."""
    selected = [c for c in table.columns if c.selected]
    masked = {c.name for c in selected if c.name in table.masks}
    position = {c.name: i for i, c in enumerate(selected)}
    plan = []  # per landing column: (index into the row, column, which of the two texts)
    for column in table.columns:
        if column.selected:
            plan.append((position[column.name], column, 0))
        else:
            plan.append((position[column.raw_of], next(c for c in selected if c.name == column.raw_of), 1))

    def convert(row) -> list[str | None]:
        out = []
        for index, column, part in plan:
            value = row[index]
            if column.name in masked:
                out.append(None if part or value is None else types._str(value))
                continue
            try:
                out.append(types.landing_text(column, value)[part])
            except types.NotRepresentable as exc:
                raise HarnessError(f"{table.name}: {exc}; fix the value at the source or leave the table out") from None
        return out

    return convert


@contextmanager
def copy_out(source: Database, schema: str, table, lower: Any, upper: Any, snapshot_id: str) -> Iterator[int]:
    """A pipe (file descriptor) carrying the range's rows as COPY text, read at the snapshot's point."""
    query = range_select(schema, table, lower, upper)
    convert = row_converter(table)
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
                        out.write(
                            "".join(
                                "\t".join(types.copy_field(v) for v in convert(row)) + "\n" for row in rows
                            ).encode()
                        )
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
