"""Backups of a MySQL or MariaDB source: a mariadb-dump (or mysqldump) `--single-transaction`
archive whose manifest (each table's rows and content checksum) is read at the dump's own
consistent point, with the binary log position of that point; and its restore through the
mariadb client into a new database.

mariadb-dump cannot join another session's snapshot. So the point is shared under a lock: the
coordinator takes FLUSH TABLES WITH READ LOCK (nothing commits while it is held), reads the binary
log position, opens the counting session's START TRANSACTION WITH CONSISTENT SNAPSHOT, starts the
dump, and releases the lock as soon as the dump's own transaction is open (its session seen in
information_schema.innodb_trx) or the dump has ended: both then read the same point, and writes
waited for milliseconds. With the binary log on, `--master-data=2` writes the dump's position into
the archive as a comment; it must be the one read under the lock, or the backup fails (a proof that
the counts and the archive stand for one point), and the manifest records it. The user needs
RELOAD (the lock) and PROCESS (innodb_trx), as mariadb-dump's own --master-data does.

A table's checksum is the sum of the first 64 bits of the md5 of each row's text: each value's
text in hex (a FLOAT read as DOUBLE, so all its digits count; a BIT as its number; NULL as N, which
hex never is), joined by commas, under the harness session's time zone (UTC). It does not depend on
row order and any changed value shows. Tables are labelled by the dumped database's name: a
restore, read in a database of another name, is compared table by table.

The restore leaves out the harness's own triggers (the freeze's, the decommission's guards): a
restored copy is the data as the applications know it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql

from harness.core import connections, processes
from harness.core.connections import Database
from harness.core.errors import HarnessError
from harness.engines.mysql import catalog, copy
from harness.engines.mysql.freeze import FREEZE_PREFIX, GUARD_PREFIX
from harness.engines.mysql.session import MysqlSession

DUMP_TOOLS = ("mariadb-dump", "mysqldump")
CLIENT_TOOLS = ("mariadb", "mysql")
SNAPSHOT_WAIT_SECONDS = 60.0  # the most the lock is held waiting for the dump's transaction to open
POSITION = re.compile(rb"^-- CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=(\d+)")
# A trigger in the archive is its CREATE TRIGGER as written (the freeze's name its schema too).
HARNESS_TRIGGER = re.compile(
    rb"^/\*!50003 CREATE\*/ .*\btrigger\s+(`(?:[^`]|``)*`\.)?`("
    + re.escape(FREEZE_PREFIX).encode()
    + b"|"
    + re.escape(GUARD_PREFIX).encode()
    + b")",
    re.IGNORECASE,
)


class BackupFailed(HarnessError):
    exit_code = 1


def _value_text(name: str, data_type: str) -> str:
    ident = catalog.quoted(name)
    if data_type == "float":
        ident = f"cast({ident} as double)"
    elif data_type == "bit":
        ident = f"({ident} + 0)"
    return f"coalesce(hex(concat({ident})), 'N')"


def _counts(conn: MysqlSession, database: str, label: str) -> tuple[dict[str, int], dict[str, str]]:
    """Rows and checksum of every table of `database`, named `label`.table, in `conn`'s transaction."""
    columns: dict[str, list[str]] = {}
    for table, name, data_type in conn.execute(
        "select c.table_name, c.column_name, c.data_type from information_schema.columns c "
        "join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name "
        "where c.table_schema = %s and t.table_type in ('BASE TABLE', 'SYSTEM VERSIONED') "
        "order by c.table_name, c.ordinal_position",
        (database,),
    ):
        columns.setdefault(table, []).append(_value_text(name, data_type.lower()))
    counts, sums = {}, {}
    for table, texts in sorted(columns.items()):
        row = "concat_ws(',', " + ", ".join(texts) + ")"
        ((count, total),) = conn.execute(
            f"select count(*), cast(coalesce(sum(cast(conv(left(md5({row}), 16), 16, 10) as unsigned)), 0) as char) "
            f"from {catalog.qualified(database, table)}"
        )
        counts[f"{label}.{table}"], sums[f"{label}.{table}"] = int(count), str(total)
    return counts, sums


def counts_and_checksums(conn: MysqlSession, schemas: list[str]) -> tuple[dict[str, int], dict[str, str]]:
    """Each table's rows and checksum, in the connection's current transaction. Connected to a
    database (a restored copy), its tables are read under the one schema name given (the database
    the archive was taken from); else each schema's own."""
    (current,) = conn.execute("select database()")[0]
    if current and len(schemas) == 1:
        return _counts(conn, current, schemas[0])
    counts, sums = {}, {}
    for schema in schemas:
        more = _counts(conn, schema, schema)
        counts.update(more[0])
        sums.update(more[1])
    return counts, sums


def archive_position(file: Path) -> str | None:
    """The binary log position an archive stands for ('file:position', as capture records them),
    from the comment --master-data=2 writes near its top; None where it has none."""
    with file.open("rb") as archive:
        for _, line in zip(range(200), archive, strict=False):
            match = POSITION.match(line)
            if match:
                return f"{match.group(1).decode()}:{int(match.group(2))}"
    return None


def dump(
    conn: MysqlSession, database: Database, schemas: list[str], file: Path, snapshot_id: str
) -> tuple[str, dict[str, int], dict[str, str]]:
    """mariadb-dump the source's database into `file`, its counts and checksums read at the dump's
    own point (`snapshot_id` is not joined: no MySQL session can join another's)."""
    if len(schemas) != 1:
        raise BackupFailed(f"a MySQL backup holds one database, not {len(schemas)}: {', '.join(schemas)}")
    (schema,) = schemas
    ((version,),) = conn.execute("select version()")
    binlog = catalog.server_variables(conn, "log_bin").get("log_bin", "OFF").upper() == "ON"
    tool = processes.mysql_tool(*DUMP_TOOLS)
    conn.rollback()
    counting = connections.connect_mysql(database, command="backup counts")
    try:
        with processes.mysql_defaults(database.url) as defaults:
            args: list = [
                tool,
                f"--defaults-extra-file={defaults}",
                "--single-transaction",
                "--quick",
                "--hex-blob",
                "--routines",
                "--triggers",
                "--no-tablespaces",
                "--default-character-set=utf8mb4",
                f"--result-file={file}",
            ]
            args += ["--master-data=2"] if binlog else []
            args += ["--", schema]
            ((newest,),) = conn.execute("select max(id) from information_schema.processlist")
            _lock(conn)
            try:
                position = copy.binlog_position(conn) if binlog else ""
                counting.execute("set session transaction isolation level repeatable read")
                counting.execute("start transaction with consistent snapshot, read only")
                ((counter,),) = counting.execute("select connection_id()")
                with processes.started(args, what="mariadb-dump of the source") as proc:
                    try:
                        _wait_for_dump_snapshot(conn, proc, int(newest), int(counter))
                    finally:
                        conn.execute("unlock tables")
                    counts, sums = _counts(counting, schema, schema)  # while the dump runs, at its point
            finally:
                conn.execute("unlock tables")
    finally:
        counting.close()
    if binlog and archive_position(file) != position:
        raise BackupFailed(
            f"the archive stands for binary log position {archive_position(file)}, its counts for {position}: "
            "another session took the dump's place; take the backup again"
        )
    return str(version), counts, sums


def _lock(conn: MysqlSession) -> None:
    """FLUSH TABLES WITH READ LOCK: nothing commits until it is released."""
    try:
        conn.execute("flush tables with read lock")
    except pymysql.err.OperationalError as exc:
        raise BackupFailed(
            f"cannot take FLUSH TABLES WITH READ LOCK on the source ({exc.args[-1]}): grant the backup's user RELOAD"
        ) from None


def _wait_for_dump_snapshot(conn: MysqlSession, proc, newest: int, counter: int) -> None:
    """Until the dump holds its snapshot (or has ended, having read everything under the lock)."""
    deadline = time.monotonic() + SNAPSHOT_WAIT_SECONDS
    while proc.poll() is None and not _dump_snapshot_open(conn, newest, counter):
        if time.monotonic() > deadline:
            raise BackupFailed(
                f"mariadb-dump did not open its snapshot within {SNAPSHOT_WAIT_SECONDS:g} s: "
                "see what it waits for in information_schema.processlist"
            )
        time.sleep(0.002)


def _dump_snapshot_open(conn: MysqlSession, newest: int, counter: int) -> bool:
    """A session opened after `newest` (the dump's, the counting one aside) holds an InnoDB transaction."""
    return bool(
        conn.execute(
            "select 1 from information_schema.innodb_trx t join information_schema.processlist p on p.id = "
            "t.trx_mysql_thread_id where p.id > %s and p.id <> %s and p.user = substring_index(user(), '@', 1)",
            (newest, counter),
        )
    )


def _without_harness_triggers(file: Path) -> Iterator[bytes]:
    """The archive's lines, the harness's own triggers left out."""
    skipping = False
    with file.open("rb") as archive:
        for line in archive:
            if not skipping and HARNESS_TRIGGER.match(line):
                skipping = True
            if skipping:
                skipping = not line.rstrip().endswith(b"*/;;")
                continue
            yield line


def restore_archive(conn: MysqlSession, restored: Database, file: Path) -> None:
    """Run the archive through the mariadb client into the new database `restored`."""
    client = processes.mysql_tool(*CLIENT_TOOLS)
    with processes.mysql_defaults(restored.url) as defaults:
        processes.fed(
            [client, f"--defaults-extra-file={defaults}", "--binary-mode", f"--database={restored.name}"],
            _without_harness_triggers(file),
            what="the mariadb client's restore",
        )
