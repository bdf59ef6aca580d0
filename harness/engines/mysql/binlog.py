"""Capture from the binary log: the row events of committed transactions, read from the position
the load recorded (or the last batch reached), applied to landing by the change log's own fold
(target.changes.apply_changes), the new position committed in the same target transaction.

The log is read with mysql-replication (pymysqlreplication) as a replica would, without blocking:
a batch reads to the end of the log as it stands, and applies only whole transactions (up to their
XID event, or COMMIT for non-transactional tables); what follows the last one is read again by the
next batch. Nothing is installed on the source; the server keeps the log (binlog_expire_logs_seconds,
expire_logs_days: a sync paused longer than that cannot resume, and says so).

Every value goes through the load's conversion (types.landing_text) after being rendered in MySQL's
own text form here, so a value lands the same by load and by capture. For that, the library's
readers are replaced for the types it decodes lossily: zero and invalid dates (it returns None),
the zero TIMESTAMP (it returns 1970-01-01), YEAR 0000 (1900), the empty SET (None), and strings,
which are decoded here by the column's character set from the catalog (MySQL's latin1 is cp1252).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import random
import re
import time
from contextlib import ExitStack

from pymysqlreplication import BinLogStreamReader, row_event
from pymysqlreplication.constants import FIELD_TYPE
from pymysqlreplication.event import QueryEvent, RotateEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from harness.core import connections
from harness.core.config import Config
from harness.core.connections import Database, mysql_settings
from harness.core.errors import ConfigError, HarnessError
from harness.engines.base import Batch
from harness.engines.mysql import catalog, copy, types
from harness.engines.mysql.session import Session
from harness.target import changes, landing, locks, sync_state
from harness.target.locks import Pause

# The library warns, on every read, that binlog_row_metadata is not FULL: positions are used instead of names.
logging.getLogger("pymysqlreplication").setLevel(logging.ERROR)

BATCH_CHANGES = 200_000  # a batch stops at the first commit after this many changes
TEXT_IMAGES = "text"
REQUIRED = {"log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL"}


class SchemaChanged(HarnessError):
    pass


def check_server(conn) -> None:
    """The server writes the row-based, full-image binary log that capture reads: one line when it does not."""
    have = catalog.server_variables(conn, *REQUIRED)
    for name, wanted in REQUIRED.items():
        value = (have.get(name) or "").upper()
        if value != wanted:
            flag = {"log_bin": "--log-bin"}.get(name, f"--{name.replace('_', '-')}={wanted}")
            raise ConfigError(
                f"binlog capture needs {name}={wanted} on the source server (it is {value or 'unset'}): start it "
                f"with {flag}, or choose another capture.method"
            )


# --- the library's readers, replaced where they lose a value ---------------------------------------


class Raw:
    """A value the library would have decoded lossily, as its stored form: turned into MySQL's text by `mysql_text`."""

    def __init__(self, kind: str, value):
        self.kind, self.value = kind, value


_original_read = row_event.RowsEvent._RowsEvent__read_values_name
_read_fsp = row_event.RowsEvent._RowsEvent__read_fsp
_OWN_TYPES = {
    FIELD_TYPE.DATE,
    FIELD_TYPE.DATETIME2,
    FIELD_TYPE.TIMESTAMP2,
    FIELD_TYPE.TIME2,
    FIELD_TYPE.YEAR,
    FIELD_TYPE.SET,
    FIELD_TYPE.ENUM,
    FIELD_TYPE.VARCHAR,
    FIELD_TYPE.STRING,
    FIELD_TYPE.BLOB,
}


def _fraction(event, column) -> str:
    microseconds = _read_fsp(event, column)
    return f".{microseconds:06d}"[: column.fsp + 1] if column.fsp else ""


def _read_values(self, column, null_bitmap, null_bitmap_index, is_partial, cols_bitmap, unsigned, i):
    if (
        column.type not in _OWN_TYPES
        or row_event.BitGet(cols_bitmap, i) == 0
        or self._is_null(null_bitmap, null_bitmap_index)
    ):
        return _original_read(self, column, null_bitmap, null_bitmap_index, is_partial, cols_bitmap, unsigned, i)
    packet = self.packet
    kind = column.type
    if kind == FIELD_TYPE.DATE:
        value = packet.read_uint24()
        return f"{value >> 9:04d}-{(value >> 5) & 15:02d}-{value & 31:02d}"
    if kind == FIELD_TYPE.DATETIME2:
        data = int.from_bytes(packet.read(5), "big")
        year_month = (data >> 22) & ((1 << 17) - 1)
        day, hour = (data >> 17) & 31, (data >> 12) & 31
        minute, second = (data >> 6) & 63, data & 63
        text = f"{year_month // 13:04d}-{year_month % 13:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"
        return text + _fraction(self, column)
    if kind == FIELD_TYPE.TIMESTAMP2:
        seconds = int.from_bytes(packet.read(4), "big")
        fraction = _fraction(self, column)
        if seconds == 0:
            return "0000-00-00 00:00:00" + (".000000"[: column.fsp + 1] if column.fsp else "")
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S") + fraction
    if kind == FIELD_TYPE.TIME2:
        return _time2(packet, column.fsp)
    if kind == FIELD_TYPE.YEAR:
        value = packet.read_uint8()
        return "0000" if value == 0 else str(value + 1900)
    if kind in (FIELD_TYPE.SET, FIELD_TYPE.ENUM):
        return Raw("set" if kind == FIELD_TYPE.SET else "enum", packet.read_uint_by_size(column.size))
    if kind == FIELD_TYPE.BLOB:
        return Raw("bytes", packet.read_length_coded_pascal_string(column.length_size))
    return Raw("bytes", packet.read_length_coded_pascal_string(2 if column.max_length > 255 else 1))


row_event.RowsEvent._RowsEvent__read_values_name = _read_values


def _time2(packet, fsp: int) -> str:
    """TIME(fsp) in MySQL's text form, from its binary form (MySQL's my_time_packed_from_binary): the
    library takes a negative time's fraction apart from its seconds, so -838:59:59.999999 came out
    as -838:59:59.000001."""
    if fsp >= 5:
        packed = int.from_bytes(packet.read(6), "big") - 0x800000000000
    else:
        whole = int.from_bytes(packet.read(3), "big") - 0x800000
        size = {0: 0, 1: 1, 2: 1, 3: 2, 4: 2}[fsp]
        fraction = int.from_bytes(packet.read(size), "big") if size else 0
        if whole < 0 and fraction:
            whole += 1
            fraction -= 1 << (8 * size)
        packed = (whole << 24) + fraction * (10_000 if size == 1 else 100)
    sign, packed = ("-" if packed < 0 else ""), abs(packed)
    seconds_part, micro = packed >> 24, packed % (1 << 24)
    hour, minute, second = (seconds_part >> 12) & 0x3FF, (seconds_part >> 6) & 0x3F, seconds_part & 0x3F
    text = f"{sign}{hour:02d}:{minute:02d}:{second:02d}"
    return text + (f".{micro:06d}"[: fsp + 1] if fsp else "")


def _decode(raw: bytes, charset: str | None) -> str:
    charset = (charset or "utf8mb4").lower()
    if charset.startswith("utf8"):
        return raw.decode("utf-8")
    if charset == "latin1":  # MySQL's latin1 is cp1252, with its five unassigned bytes kept as C1 controls
        return "".join(chr(b) if b in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else bytes([b]).decode("cp1252") for b in raw)
    if charset == "ascii":
        return raw.decode("ascii")
    from pymysql.charset import charset_by_name

    return raw.decode(charset_by_name(charset).encoding)


def mysql_text(column: types.MysqlColumn, value) -> str | bytes | None:
    """A decoded binlog value in the form MySQL's text protocol hands it over (what load reads)."""
    if value is None or (isinstance(value, str) and column.kind != "bit"):
        return value
    if isinstance(value, Raw):
        if value.kind == "bytes":
            if column.kind in ("bytes",) or column.charset in (None, "binary"):
                return value.value
            return _decode(value.value, column.charset)
        members = types.members(column.source_type)
        if value.kind == "enum":
            return "" if value.value == 0 else members[value.value - 1]
        return ",".join(m for i, m in enumerate(members) if value.value & (1 << i))
    if column.kind == "bit":
        bits = str(value)
        return int(bits, 2).to_bytes((column.bits + 7) // 8, "big")
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(_unsigned(column, value))
    if isinstance(value, float):
        return repr(value)
    if hasattr(value, "as_tuple"):  # Decimal
        return format(value, "f")
    if isinstance(value, datetime.timedelta):
        micro = value.days * 86_400_000_000 + value.seconds * 1_000_000 + value.microseconds
        sign, micro = ("-" if micro < 0 else ""), abs(micro)
        seconds, fraction = divmod(micro, 1_000_000)
        text = f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
        return text + (f".{fraction:06d}" if fraction else "")
    if isinstance(value, (dict, list)):  # MySQL 8's binary JSON, decoded
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes):
        return value
    return str(value)


_INTEGER_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "integer": 32, "bigint": 64}


def _unsigned(column: types.MysqlColumn, value: int) -> int:
    """An unsigned column's value: the library reads it as signed unless the log carries the
    column's metadata (binlog_row_metadata=FULL), so 18446744073709551615 would arrive as -1."""
    declared = column.source_type.lower()
    if value < 0 and "unsigned" in declared:
        return value + (1 << _INTEGER_BITS[declared.split("(")[0].split()[0]])
    return value


MASKS = {
    "last4": lambda text: re.sub(r"[^0-9]", "", text)[-4:],
    "null": lambda text: None,
    "hash": lambda text: hashlib.md5(text.encode()).hexdigest(),
}


def image(table, values: list, columns: list[str] | None = None) -> dict[str, str | None]:
    """The text image of a row (values in the table's column order), masks applied, as sync folds it."""
    own = [c for c in table.columns if c.selected]
    if len(values) != len(own):
        raise SchemaChanged(
            f"the binary log has {len(values)} columns for {table.name}, the source's catalog {len(own)}: "
            "the table changed shape; run `migrate load` again"
        )
    texts: dict[str, str | None] = {}
    for column, value in zip(own, values):
        text = mysql_text(column, value)
        mask = table.masks.get(column.name)
        if mask is not None:
            texts[column.name] = None if text is None else MASKS[mask](types._str(text))
            if column.kind in types.DATE_KINDS:
                texts[types.companion(column, "", "").name] = None
            continue
        try:
            texts[column.name], raw = types.landing_text(column, text)
        except types.NotRepresentable as exc:
            raise HarnessError(f"{table.name}: {exc}; fix the value at the source") from None
        if column.kind in types.DATE_KINDS:
            companion = next(c for c in table.columns if c.raw_of == column.name)
            texts[companion.name] = raw
    wanted = columns or [c.name for c in table.columns]
    return {name: texts[name] for name in wanted}


_TRUNCATE = re.compile(r"^\s*truncate\s+(?:table\s+)?(?:`((?:[^`]|``)+)`|(\w+))(?:\.(?:`((?:[^`]|``)+)`|(\w+)))?", re.I)
_DDL = re.compile(r"^\s*(alter|drop|rename|create\s+or\s+replace)\s+table\b", re.I)


def truncated(query: str, default_schema: str) -> tuple[str, str] | None:
    """(schema, table) a TRUNCATE statement empties, or None."""
    match = _TRUNCATE.match(query)
    if not match:
        return None
    first = (match[1] or "").replace("``", "`") or match[2]
    second = (match[3] or "").replace("``", "`") or match[4]
    return (first, second) if second else (default_schema, first)


_NAME = r"(?:`((?:[^`]|``)+)`|([\w$]+))"
_REFERENCE = re.compile(rf"(?:{_NAME}\s*\.\s*)?{_NAME}")


def names_table(query: str, default_schema: str | None, schema: str, table: str) -> bool:
    """Whether a statement names `schema`.`table`: qualified so, or unqualified with `schema` its
    default (a same-named table of another database is not it)."""
    for match in _REFERENCE.finditer(query):
        qualifier = (match[1] or "").replace("``", "`") or match[2]
        name = (match[3] or "").replace("``", "`") or match[4]
        if name == table and (qualifier or default_schema) == schema:
            return True
    return False


# --- one batch ---------------------------------------------------------------------------------------


class NothingInstalled(HarnessError):
    """Capture from the binary log installs nothing on the source, so finds nothing missing."""


def _at(position: str) -> tuple[str, int]:
    log_file, _, log_pos = copy.binlog_part(position).rpartition(":")
    return log_file, int(log_pos)


def read_changes(config: Config, source: Database, tables: dict, position: str, until: str | None = None):
    """The changes of whole transactions after `position`: (changes, the position after the last one).
    `until`: a transaction boundary (a snapshot's position) to stop at, however many changes come before it."""
    position = copy.binlog_part(position)
    if until and _at(position) >= _at(until):
        return [], position
    log_file, _, log_pos = position.rpartition(":")
    settings = mysql_settings(source.url)
    settings.pop("database", None)
    stream = BinLogStreamReader(
        connection_settings=settings,
        server_id=random.randint(1_000_000, 4_000_000_000),
        log_file=log_file,
        log_pos=int(log_pos),
        resume_stream=True,
        blocking=False,
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, QueryEvent, XidEvent, RotateEvent],
        # As a MySQL replica, also from MariaDB: in its MariaDB mode the library starts at the file's
        # beginning unless given a GTID, ignoring log_pos.
        is_mariadb=False,
        use_column_name_cache=True,
        enable_logging=False,
        pymysql_wrapper=Session,
    )
    schema = config.source_schema
    committed: list[tuple] = []
    pending: list[tuple] = []
    try:
        for event in stream:
            if isinstance(event, RotateEvent):
                continue
            if isinstance(event, (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)):
                if event.schema != schema or event.table not in tables:
                    continue
                table = tables[event.table]
                at = datetime.datetime.fromtimestamp(event.timestamp, datetime.UTC)
                for row in event.rows:
                    if isinstance(event, WriteRowsEvent):
                        pending.append((table.name, "I", None, image(table, list(row["values"].values())), at))
                    elif isinstance(event, DeleteRowsEvent):
                        old = image(table, list(row["values"].values()))
                        pending.append((table.name, "D", {k: old[k] for k in table.key}, None, at))
                    else:
                        old = image(table, list(row["before_values"].values()))
                        new = image(table, list(row["after_values"].values()))
                        pending.append((table.name, "U", {k: old[k] for k in table.key}, new, at))
                continue
            if isinstance(event, QueryEvent):
                query = event.query.decode(errors="replace") if isinstance(event.query, bytes) else event.query
                statement = query.strip().rstrip(";").strip().upper()
                if statement == "BEGIN":
                    continue
                if statement != "COMMIT":
                    default = event.schema.decode() if isinstance(event.schema, bytes) else event.schema
                    target = truncated(query, default)
                    at = datetime.datetime.fromtimestamp(event.timestamp, datetime.UTC)
                    if target and target[0] == schema and target[1] in tables:
                        pending.append((target[1], "T", None, None, at))
                    elif _DDL.match(query) and any(names_table(query, default, schema, name) for name in tables):
                        raise SchemaChanged(
                            f"the source ran `{query[:80]}` on a listed table: sync cannot follow a schema change "
                            "from the binary log yet; run `migrate load` again"
                        )
            # XID, COMMIT, or a statement that commits by itself: a transaction boundary.
            committed.extend(pending)
            pending = []
            position = f"{stream.log_file}:{stream.log_pos}"
            if until:
                if _at(position) >= _at(until):
                    break
            elif len(committed) >= BATCH_CHANGES:
                break
    finally:
        stream.close()
    return committed, position


def apply_batch(
    config: Config, source: Database, target: Database, engine, *, until: str | None = None, pause: Pause | None = None
) -> Batch:
    """Apply every whole transaction since the watermark, in one target transaction. `until`: only
    those up to this position (a snapshot's), all of them; `pause`: the session holding the sync
    lock to apply on (locks.paused's), else one taken here."""
    started = time.perf_counter()
    batch = Batch()
    with ExitStack() as stack:
        if pause is None:
            pause = stack.enter_context(locks.paused(config, target, command="sync"))
        src = stack.enter_context(connections.connection(source, command="sync", autocommit=True))
        dst = pause.conn
        tables = landing.describe_all(src, config, list(config.tables))
        with dst.transaction():
            previous = sync_state.watermark(dst, config.control_schema, for_update=True)
            found, position = read_changes(config, source, tables, previous, until)
            with changes.staged(dst) as writer:
                for change_id, (name, op, old_key, new_row, at) in enumerate(found, 1):
                    writer.write_row(
                        (
                            change_id,
                            config.source_schema,
                            name,
                            op,
                            None if old_key is None else json.dumps(old_key),
                            None if new_row is None else json.dumps(new_row),
                            at,
                            TEXT_IMAGES,
                        )
                    )
            from harness.engines.postgres import capture as pg_capture

            pg_capture.use_image_settings(dst)
            counts: dict[str, int] = {}
            for name, *_ in found:
                counts[name] = counts.get(name, 0) + 1
            for name, count in counts.items():
                changes.apply_changes(dst, config.landing_schema, tables[name])
                batch.per_table[name] = count
            batch.changes = len(found)
            batch.snapshot = position
            sync_state.record_batch(dst, config.control_schema, position, batch.changes)
    batch.seconds = time.perf_counter() - started
    return batch
