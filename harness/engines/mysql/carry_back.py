"""The fallback's writes into a MySQL or MariaDB legacy schema, and their check.

The reverse models' rows arrive as the target's COPY text (harness/target/reverse.py): the legacy
table's landing columns (its own, then those of the `_mysql_raw_<column>` companions of its
date-like columns the reverse model carries), then dbt.contract's FALLBACK_OP ('I', 'U' or 'D') and
FALLBACK_COLUMNS (a text[] of the columns each row writes). Each value is PostgreSQL's text of the
landing type (reverse.image_session's settings: UTC, ISO dates, postgres intervals, hex bytea,
shortest exact floats), turned back here into the legacy column's value without loss
(`legacy_value`): bytea's hex into bytes, a SET's text[] into 'a,b', bit varying into its number,
timestamptz into the TIMESTAMP in the session's time zone ('+00:00', as the load reads it), an
interval of hours into a TIME, and a date PostgreSQL has no date for from its companion's text.

The rows are staged in a temporary table typed exactly like the legacy table (its COLUMN_TYPE,
character set and collation, every column nullable), filled by multi-row INSERTs in batches, so
MySQL converts each text once, under STRICT_ALL_TABLES: a value the legacy column cannot hold
exactly is an error, never a warning and a changed value. From there set-based statements write
the legacy table: the deletes, then the inserts of keys not there, then the updates of only the
columns each row lists (a column not listed is assigned its own value, which also keeps an ON
UPDATE CURRENT_TIMESTAMP column as it was). All in the caller's transaction: a temporary table's
CREATE and DROP commit nothing.

ENUM's invalid empty value ('' where '' is no member, index 0) cannot be written under a strict
sql_mode, but copies from a column of the same ENUM type: a one-row table of such values is made
with INSERT IGNORE (checked to hold index 0), and the staged rows take theirs from it.

Keys are matched with the column's own comparison (its index) and, for text, byte for byte, as
PostgreSQL matched them: 'a' and 'A' are two keys here too.
"""

from __future__ import annotations

import contextlib
import math
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pymysql

from harness.core.errors import HarnessError
from harness.dbt import contract as dbt_contract
from harness.engines.mysql import catalog, types
from harness.engines.mysql import freeze as write_freeze
from harness.engines.mysql.session import MysqlSession

OP, COLUMNS = dbt_contract.FALLBACK_OP, dbt_contract.FALLBACK_COLUMNS
STAGE = "_migrate_fallback"  # the staged rows: a temporary table in the legacy schema
ENUM_ZERO = "_migrate_fallback_enum_zero"  # one row: ENUM's invalid empty value of each ENUM column
WRITTEN = "_fallback_written"  # staged: '1' or '0' per legacy column, whether the row writes it
NEW = "N"  # a staged insert's op once its key is known to be new
ZEROS = "_fallback_enum_zeros"  # staged: '1' where the row's ENUM value is the invalid empty one
BATCH_ROWS = 2000
# Every value written exactly or refused (STRICT_ALL_TABLES), zero and invalid dates written as the
# load read them (no NO_ZERO_DATE, ALLOW_INVALID_DATES), an explicit 0 kept in an AUTO_INCREMENT
# column; no NO_BACKSLASH_ESCAPES (PyMySQL escapes with backslashes) nor ANSI_QUOTES.
SQL_MODE = "STRICT_ALL_TABLES,ALLOW_INVALID_DATES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"
TIME_ZONE = "+00:00"  # as connections.connect_mysql: the load read TIMESTAMPs in UTC
STRING_TYPES = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set")
APPROXIMATE_KINDS = ("float", "double")  # compared as numbers: their text in MySQL is rounded


class NotWritable(HarnessError):
    """A reverse row the legacy table cannot take as it is."""

    exit_code = 1


def image_session(conn: MysqlSession) -> None:
    """The session settings under which every value is written and read exactly (of the command's
    own session): strict, zero and invalid dates allowed, UTC, utf8mb4."""
    conn.execute("set names utf8mb4")
    conn.execute("set session sql_mode = %s", (SQL_MODE,))
    conn.execute("set session time_zone = %s", (TIME_ZONE,))
    # NULL into a TIMESTAMP NOT NULL is an error, never the current time (where the server lets a session set it).
    with contextlib.suppress(pymysql.err.MySQLError):
        conn.execute("set session explicit_defaults_for_timestamp = 1")
    conn.commit()


def declare_writer(conn: MysqlSession) -> None:
    """Let this session write past the freeze (freeze.WRITER_VARIABLE set to the freeze's secret);
    where nothing on the server was ever frozen there is nothing to pass."""
    if catalog.table_exists(conn, write_freeze.CONTROL, "freeze_secret"):
        write_freeze.declare_writer(conn)


# --- COPY text ---------------------------------------------------------------------------------

_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))", re.S)
_LETTERS = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def _unescaped(match: re.Match) -> bytes:
    octal, hexadecimal, other = match.groups()
    if octal:
        return bytes([int(octal, 8) & 0xFF])
    if hexadecimal:
        return bytes([int(hexadecimal, 16)])
    return _LETTERS.get(other, other)


def copy_field(field: bytes) -> str | None:
    """One field of PostgreSQL's COPY text format: None for \\N, else its text, escapes undone
    (\\b \\f \\n \\r \\t \\v, \\ooo octal and \\xhh hex bytes, any other character itself)."""
    if field == b"\\N":
        return None
    if b"\\" in field:
        field = _ESCAPE.sub(_unescaped, field)
    return field.decode()


def copy_lines(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """The lines (rows) of COPY text arriving in blocks of any size, without their newline."""
    pending = b""
    for block in blocks:
        lines = (pending + bytes(block)).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line == b"\\.":
                return
            yield line
    if pending and pending != b"\\.":
        yield pending


def copy_fields(line: bytes) -> list[str | None]:
    """The fields of one line of COPY text."""
    if b"\\" not in line:
        return line.decode().split("\t")  # no escape, so no null either
    return [copy_field(field) for field in line.split(b"\t")]


def copy_rows(blocks: Iterable[bytes]) -> Iterator[list[str | None]]:
    """The rows of COPY text arriving in blocks of any size: each a list of its fields."""
    for line in copy_lines(blocks):
        yield copy_fields(line)


def array_members(text: str) -> list[str]:
    """The members of a one-dimensional PostgreSQL array's text ('{a,"b c","x\\"y"}')."""
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError(f"not an array: {text!r}")
    members: list[str] = []
    body, i = text[1:-1], 0
    while i < len(body):
        if body[i] == '"':
            i += 1
            member = []
            while body[i] != '"':
                if body[i] == "\\":
                    i += 1
                member.append(body[i])
                i += 1
            members.append("".join(member))
            i += 1
        else:
            end = body.find(",", i)
            end = len(body) if end < 0 else end
            member = body[i:end].strip()
            if member.upper() == "NULL":
                raise ValueError("a NULL member")
            members.append(member.replace("\\", ""))
            i = end
        if i < len(body):
            if body[i] != ",":
                raise ValueError(f"not a one-dimensional array: {text!r}")
            i += 1
    return members


# --- values: landing text → the legacy column's value ------------------------------------------

_INTERVAL = re.compile(
    r"^(?:(?P<years>[+-]?\d+) years? ?)?(?:(?P<months>[+-]?\d+) mons? ?)?(?:(?P<days>[+-]?\d+) days? ?)?"
    r"(?:(?P<sign>[+-])?(?P<hours>\d+):(?P<minutes>\d{2}):(?P<seconds>\d{2})(?:\.(?P<fraction>\d{1,6}))?)?$"
)
_OFFSET = re.compile(
    r"^(?P<local>.*?)(?P<sign>[+-])(?P<hours>\d{2})(?::?(?P<minutes>\d{2}))?(?::?(?P<seconds>\d{2}))?$"
)


def interval_time(text: str) -> str:
    """An interval's text (IntervalStyle postgres) as MySQL's TIME text: days become hours; months
    and years have no fixed length and are refused."""
    match = _INTERVAL.match(text.strip())
    if not match or not text.strip():
        raise ValueError(f"not an interval of IntervalStyle postgres: {text!r}")
    if int(match["years"] or 0) or int(match["months"] or 0):
        raise ValueError(f"the interval {text!r} counts months, which a TIME has no length for")
    fraction = (match["fraction"] or "").ljust(6, "0")
    clock = ((int(match["hours"] or 0) * 60 + int(match["minutes"] or 0)) * 60 + int(match["seconds"] or 0)) * 10**6
    clock += int(fraction)
    micros = int(match["days"] or 0) * 86_400 * 10**6 + (-clock if match["sign"] == "-" else clock)
    sign, micros = ("-" if micros < 0 else ""), abs(micros)
    seconds, fraction_part = divmod(micros, 10**6)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    return f"{sign}{hours}:{minute:02d}:{second:02d}.{fraction_part:06d}"


def utc_timestamp(text: str) -> str:
    """A timestamptz's text (ISO) as the UTC date and time MySQL's session (time_zone '+00:00') writes."""
    match = _OFFSET.match(text.strip())
    if not match:
        raise ValueError(f"a timestamptz without its offset: {text!r}")
    local = match["local"]
    offset = timedelta(
        hours=int(match["hours"]), minutes=int(match["minutes"] or 0), seconds=int(match["seconds"] or 0)
    )
    if not offset:
        return local
    if match["sign"] == "-":
        offset = -offset
    moment = datetime.fromisoformat(local) - offset
    digits = len(local.partition(".")[2])
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (f".{moment.microsecond:06d}"[: digits + 1] if digits else "")


@dataclass(frozen=True)
class LegacyColumn:
    """A column of the legacy table as the fallback writes it."""

    column: types.MysqlColumn  # its landing column: kind, COLUMN_TYPE, character set
    generated: bool  # a generated column: read, never written
    auto_updated: bool  # ON UPDATE CURRENT_TIMESTAMP: set to itself where a row does not list it
    companion: str  # the name of its companion column in the reverse rows ('' when it has none)
    enum_zero: bool  # an ENUM without '' among its members: '' is its invalid empty value

    @property
    def name(self) -> str:
        return self.column.name

    @property
    def base_type(self) -> str:
        return self.column.source_type.split("(")[0].split()[0].lower()

    def definition(self) -> str:
        """Its staged column: the legacy type exactly, nullable."""
        sql = f"{catalog.quoted(self.name)} {self.column.source_type}"
        if self.column.charset and self.base_type in STRING_TYPES:
            sql += f" character set {self.column.charset} collate {self.column.collation_name}"
        return sql + (" null default null" if self.base_type == "timestamp" else " null")


_ENUM_MEMBER = re.compile(r"'((?:[^']|'')*)'")


def legacy_columns(conn: MysqlSession, schema: str, table: str) -> list[LegacyColumn]:
    extra = {
        name: (bool(expression), "on update" in (extra or "").lower())
        for name, expression, extra in conn.execute(
            "select column_name, generation_expression, extra from information_schema.columns "
            "where table_schema = %s and table_name = %s",
            (schema, table),
        )
    }
    result = []
    for column in catalog.source_columns(conn, schema, table):
        companion = types.companion(column, schema, table).name if column.kind in types.DATE_KINDS else ""
        members = [m.replace("''", "'") for m in _ENUM_MEMBER.findall(column.source_type)]
        enum_zero = column.source_type.lower().startswith("enum(") and "" not in members
        generated, auto_updated = extra[column.name]
        result.append(LegacyColumn(column, generated, auto_updated, companion, enum_zero))
    return result


def legacy_value(column: types.MysqlColumn, text: str) -> Any:
    """The value PyMySQL sends for one landing text (not null) of `column`: MySQL's own text of the
    legacy value where MySQL reads text exactly, else a number or bytes."""
    kind = column.kind
    if kind == "integer":
        return int(text)  # a number: YEAR takes the string '0' as 2000, the number 0 as 0000
    if kind in ("float", "double"):
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(f"{text} has no MySQL value")
        if kind == "float":
            # The float's exact value: its shortest digits may lie above FLT_MAX ('3.4028235e+38'),
            # which MySQL refuses before rounding to a FLOAT.
            try:
                (single,) = struct.unpack("<f", struct.pack("<f", number))
            except OverflowError:
                raise ValueError(f"{text} is beyond a FLOAT's range") from None
            return repr(single)
        return text
    if kind == "bit":
        return int(text, 2)
    if kind == "timestamp":
        return utc_timestamp(text)
    if kind in ("date", "datetime"):
        if text.endswith(" BC") or text.lower() in ("infinity", "-infinity"):
            raise ValueError(f"{text} has no MySQL value")
        return text
    if kind == "time":
        return interval_time(text)
    if kind == "bytes":
        if not text.startswith("\\x"):
            raise ValueError("bytea not in hex (bytea_output 'hex')")
        return bytes.fromhex(text[2:])
    if kind == "set":
        return ",".join(array_members(text))
    return text  # decimal, text, enum, json, uuid, inet: MySQL reads their text exactly


# --- the staged rows -----------------------------------------------------------------------------


_IDENTITY_KINDS = ("decimal", "text", "raw")  # MySQL reads the landing text as the legacy value


@dataclass
class _Layout:
    """How a reverse row becomes a staged row: for each legacy column its field, its companion's
    field (-1: none), whether its text is the legacy value as it is, whether it is an ENUM with an
    invalid empty value; the written flags of each distinct list of columns."""

    legacy: list[LegacyColumn]
    width: int  # the reverse row's columns, before OP and COLUMNS
    plan: list[tuple[LegacyColumn, int, int, bool, bool]]
    written: dict[str | None, str]

    @classmethod
    def of(cls, legacy: list[LegacyColumn], columns: list[str], table: str) -> _Layout:
        positions = {name: i for i, name in enumerate(columns)}
        missing = [c.name for c in legacy if c.name not in positions]
        if missing:
            raise NotWritable(
                f"the reverse rows of {table} lack the legacy columns {', '.join(missing)}: "
                "the reverse model must carry every column of the legacy table"
            )
        plan = [
            (
                c,
                positions[c.name],
                positions.get(c.companion, -1),
                c.column.kind in _IDENTITY_KINDS and not c.enum_zero,
                c.enum_zero,
            )
            for c in legacy
        ]
        return cls(legacy, len(columns), plan, {})

    def op(self, fields: list[bytes], table: str) -> str:
        """The row's op (read before its values are), once it is known to have every field."""
        if len(fields) != self.width + 2:
            raise NotWritable(
                f"a reverse row of {table} has {len(fields)} fields, not {self.width + 2} "
                f"(its columns, {OP}, {COLUMNS})"
            )
        op = fields[self.width]
        if op not in (b"I", b"U", b"D"):
            raise NotWritable(
                f"a reverse row of {table} has {OP} {op.decode(errors='replace')!r}: it must be I, U or D"
            )
        return op.decode()

    def written_flags(self, listed_text: str | None, table: str) -> str:
        """'1' or '0' per legacy column: whether COLUMNS lists it (or its companion)."""
        flags = self.written.get(listed_text)
        if flags is None:
            try:
                listed = set(array_members(listed_text)) if listed_text is not None else set()
            except (ValueError, IndexError):
                raise NotWritable(f"a reverse row of {table} has {COLUMNS} {listed_text!r}, not a text[]") from None
            flags = "".join(
                "1" if c.name in listed or (c.companion and c.companion in listed) else "0" for c in self.legacy
            )
            self.written[listed_text] = flags
        return flags

    def staged_row(self, fields: list[str | None], op: str, table: str) -> tuple[tuple, list[str]]:
        """A reverse row as the staged row's parameters: the legacy values, the op, the written and
        the ENUM-zero flags; and the ENUM columns holding their invalid empty value."""
        values: list[Any] = []
        zeros: list[str] = []
        for legacy, position, companion, as_is, enum_zero in self.plan:
            text = fields[position]
            if companion >= 0 and fields[companion] is not None:
                values.append(fields[companion])  # a date PostgreSQL has no date for: MySQL's own text of it
            elif text is None or as_is:
                values.append(text)
            elif enum_zero and text == "":
                values.append(None)  # set by _fill_enum_zeros
                zeros.append(legacy.name)
            elif enum_zero:
                values.append(text)
            else:
                try:
                    values.append(legacy_value(legacy.column, text))
                except (ValueError, IndexError) as exc:
                    raise NotWritable(
                        f"column {legacy.name} of {table}: the reverse value {text!r} cannot be written back "
                        f"({exc}); fix the reverse model"
                    ) from None
        written = self.written_flags(fields[self.width + 1], table)
        zero_flags = "".join("1" if c.name in zeros else "0" for c in self.legacy) if zeros else "0" * len(self.legacy)
        return (*values, op, written, zero_flags), zeros


def _stage(
    conn: MysqlSession,
    schema: str,
    table: str,
    legacy: list[LegacyColumn],
    columns: list[str],
    blocks: Iterable[bytes],
    ops: tuple[str, ...],
) -> set[str]:
    """The reverse rows whose op is in `ops` into the temporary table STAGE, typed like the legacy
    table; the ENUM columns where a staged row holds the invalid empty value."""
    layout = _Layout.of(legacy, columns, table)
    stage = catalog.qualified(schema, STAGE)
    conn.execute(f"drop temporary table if exists {stage}")
    width = len(legacy)
    conn.execute(
        f"create temporary table {stage} ("
        + ", ".join(c.definition() for c in legacy)
        + f", {catalog.quoted(OP)} char(1) character set ascii not null"
        + f", {catalog.quoted(WRITTEN)} varchar({width}) character set ascii not null"
        + f", {catalog.quoted(ZEROS)} varchar({width}) character set ascii not null)"
    )
    # PyMySQL formats the statement with %: a % in a column's name is doubled.
    names = ", ".join(catalog.quoted(n) for n in [*(c.name for c in legacy), OP, WRITTEN, ZEROS]).replace("%", "%%")
    insert = f"insert into {stage} ({names}) values ({', '.join(['%s'] * (width + 3))})"
    zeros: set[str] = set()
    batch: list[tuple] = []
    with conn.cursor() as cur:
        for line in copy_lines(blocks):
            op = layout.op(line.split(b"\t"), table)
            if op not in ops:
                continue
            row, zero_columns = layout.staged_row(copy_fields(line), op, table)
            zeros.update(zero_columns)
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                _insert(cur, insert, batch, table)
        _insert(cur, insert, batch, table)
    if zeros:
        _fill_enum_zeros(conn, schema, [c for c in legacy if c.name in zeros], legacy)
    return zeros


def _insert(cur, insert: str, batch: list[tuple], table: str) -> None:
    if not batch:
        return
    try:
        cur.executemany(insert, batch)
    except pymysql.err.DataError as exc:
        raise NotWritable(
            f"a reverse row of {table} has a value its legacy column cannot hold exactly: {exc.args[-1]}; "
            "fix the reverse model (nothing was written)"
        ) from None
    batch.clear()


def _fill_enum_zeros(conn: MysqlSession, schema: str, zeros: list[LegacyColumn], legacy: list[LegacyColumn]) -> None:
    """The staged values of the `zeros` ENUM columns flagged as the invalid empty value set to it,
    copied from a row of ENUM_ZERO (INSERT IGNORE writes it; strict mode lets a same-typed ENUM copy
    through, where an expression's '' would be refused again)."""
    enums = [(i, c) for i, c in enumerate(legacy, start=1) if c in zeros]
    zero = catalog.qualified(schema, ENUM_ZERO)
    conn.execute(f"drop temporary table if exists {zero}")
    conn.execute(f"create temporary table {zero} (" + ", ".join(c.definition() for _, c in enums) + ")")
    conn.execute(f"insert ignore into {zero} values (" + ", ".join("''" for _ in enums) + ")")
    (indexes,) = conn.execute(
        "select " + ", ".join(f"{catalog.quoted(c.name)} + 0" for _, c in enums) + f" from {zero}"
    )
    if any(int(index) != 0 for index in indexes):
        raise NotWritable(f"this server does not store ENUM's invalid empty value for {ENUM_ZERO}")
    stage = catalog.qualified(schema, STAGE)
    for i, column in enums:
        # A plain column-to-column copy: an expression (IF, CASE) would be a string, refused again.
        name = catalog.quoted(column.name)
        conn.execute(f"update {stage} f, {zero} z set f.{name} = z.{name} where {_flag(i, ZEROS)}")
    conn.execute(f"drop temporary table {zero}")


def _match(legacy: list[LegacyColumn], key: list[str], row: str = "t") -> str:
    """The staged row `f` is the legacy row `row` (an alias, or the table's qualified name): the
    key's own comparison (its index), and for text byte for byte, as PostgreSQL compares (no case
    or trailing-space folding)."""
    by_name = {c.name: c for c in legacy}
    terms = []
    for name in key:
        column = catalog.quoted(name)
        terms.append(f"{row}.{column} = f.{column}")
        if by_name[name].base_type in STRING_TYPES:
            terms.append(f"cast({row}.{column} as binary) = cast(f.{column} as binary)")
    return " and ".join(terms)


def _flag(position: int, flags: str = WRITTEN) -> str:
    return f"substring(f.{catalog.quoted(flags)}, {position}, 1) = '1'"


def _written_sql(conn: MysqlSession, statement: str, table: str) -> int:
    try:
        with conn.cursor() as cur:
            return cur.execute(statement)
    except pymysql.err.MySQLError as exc:  # a value refused, a key taken, the freeze's refusal
        raise NotWritable(
            f"the fallback cannot write {table} into the source: {exc.args[0]} {exc.args[-1]}; "
            "fix the reverse model and run migrate rollback again (nothing was written)"
        ) from None


def carry_back_begin(conn: MysqlSession) -> None:
    """The carry-back writes with foreign_key_checks off, then checks the references once
    (carry_back_end). InnoDB checks a reference row by row, where the tables as carried hold every
    one, as `app` held them: a parent deleted before its child in one DELETE, or before the update
    that moves a child away; a child inserted before its new parent; a parent deleted whose children
    moved to a new row that took its unique value, which no order of statements writes. No ON
    DELETE action runs: a reverse model carries the rows the new application's own cascades changed,
    and a child it leaves naming a deleted parent is refused, never deleted unseen."""
    conn.execute("set session foreign_key_checks = 0")


def carry_back_end(conn: MysqlSession, schema: str, carried: dict[str, dict[str, int]]) -> None:
    """Every declared reference the writes could have broken, checked by a query (a scan of the
    referencing table): those of the tables that got rows, those into the tables that lost or
    changed rows. One that dangles refuses the whole carry-back in one line, as InnoDB would have."""
    written = {t for t, counts in carried.items() if counts.get("inserted") or counts.get("updated")}
    removed = {t for t, counts in carried.items() if counts.get("deleted") or counts.get("updated")}
    checked: set[tuple[str, str]] = set()
    for table in sorted(written | removed):
        for name, child, child_columns, parent, parent_columns in _references(conn, schema, table):
            if (child, name) not in checked and (child in written or parent in removed):
                checked.add((child, name))
                _check_reference(conn, schema, name, child, child_columns, parent, parent_columns)
    conn.execute("set session foreign_key_checks = 1")


def _references(conn: MysqlSession, schema: str, table: str) -> list[tuple[str, str, list[str], str, list[str]]]:
    """The declared foreign keys from or to the table: (name, child, its columns, parent, its columns)."""
    found: dict[tuple[str, str], tuple[str, str, list[str], str, list[str]]] = {}
    for name, child, column, parent, parent_column in conn.execute(
        "select constraint_name, table_name, column_name, referenced_table_name, referenced_column_name "
        "from information_schema.key_column_usage where table_schema = %s and referenced_table_schema = %s "
        "and (table_name = %s or referenced_table_name = %s) order by constraint_name, ordinal_position",
        (schema, schema, table, table),
    ):
        entry = found.setdefault((str(child), str(name)), (str(name), str(child), [], str(parent), []))
        entry[2].append(str(column))
        entry[4].append(str(parent_column))
    return list(found.values())


def _check_reference(
    conn: MysqlSession,
    schema: str,
    name: str,
    child: str,
    child_columns: list[str],
    parent: str,
    parent_columns: list[str],
) -> None:
    """Refuse (the caller's transaction rolls back) where a row of `child` names a `parent` row that
    is not there, as InnoDB would have refused the write (a NULL in the columns names nothing)."""
    named = " and ".join(f"c.{catalog.quoted(c)} is not null" for c in child_columns)
    joined = " and ".join(
        f"p.{catalog.quoted(p)} = c.{catalog.quoted(c)}" for c, p in zip(child_columns, parent_columns, strict=True)
    )
    key = catalog.primary_key(conn, schema, child) or child_columns
    dangling = conn.execute(
        "select "
        + ", ".join(f"c.{catalog.quoted(c)}" for c in [*key, *child_columns])
        + f" from {catalog.qualified(schema, child)} c where {named} "
        f"and not exists (select 1 from {catalog.qualified(schema, parent)} p where {joined}) limit 1"
    )
    if dangling:
        values = [str(v) for v in dangling[0]]
        row, named_row = ", ".join(values[: len(key)]), ", ".join(values[len(key) :])
        raise NotWritable(
            f"the fallback cannot write {child} into the source: its row ({', '.join(key)})=({row}) would name "
            f"{parent} ({', '.join(parent_columns)})=({named_row}), which is not there "
            f"(foreign key {name}); fix the reverse model and run migrate rollback again (nothing was written)"
        )


def carry_back(
    conn: MysqlSession,
    schema: str,
    table: str,
    key: list[str],
    columns: list[str],
    blocks: Iterable[bytes],
    *,
    deletes: bool,
    unreferenced: bool = False,
) -> dict[str, int]:
    """Write the reverse rows into the legacy table (in the caller's transaction, between
    carry_back_begin and carry_back_end): with `deletes` only the D rows, every one, `unreferenced`
    or not (references are checked at the end), else I inserts a key not there, then I and U update
    the columns each lists; the rows deleted, or inserted and updated."""
    legacy = legacy_columns(conn, schema, table)
    zeros = _stage(conn, schema, table, legacy, columns, blocks, ("D",) if deletes else ("I", "U"))
    target, stage, match = catalog.qualified(schema, table), catalog.qualified(schema, STAGE), _match(legacy, key)
    op = catalog.quoted(OP)
    if deletes:
        # The legacy table by its name, not an alias: MariaDB resolves a multi-table DELETE's alias
        # in the session's default database, and the fallback's session has none (error 1046).
        by_name = _match(legacy, key, target)
        deleted = _written_sql(
            conn, f"delete {target} from {target} join {stage} f on {by_name} where f.{op} = 'D'", table
        )
        return {"deleted": deleted}
    # The rows already there are the ones updated (PostgreSQL's count: updated less inserted).
    ((existing,),) = conn.execute(f"select count(*) from {stage} f join {target} t on {match}")
    # The inserts' rows marked NEW first: they are written whole, so the updates pass them by.
    conn.execute(
        f"update {stage} f set f.{op} = '{NEW}' where f.{op} = 'I' "
        f"and not exists (select 1 from {target} t where {match})"
    )
    written = [c for c in legacy if not c.generated]
    names = ", ".join(catalog.quoted(c.name) for c in written)
    inserted = _written_sql(
        conn,
        f"insert into {target} ({names}) select "
        + ", ".join(f"f.{catalog.quoted(c.name)}" for c in written)
        + f" from {stage} f where f.{op} = '{NEW}'",
        table,
    )
    # After the inserts: an update may point at a row born in this batch.
    updated = [(i, c) for i, c in enumerate(legacy, start=1) if c.name not in key and not c.generated]
    existed = f"f.{op} <> '{NEW}'"
    _update(conn, target, stage, match, [(i, c) for i, c in updated if c.name not in zeros], updated, table, existed)
    for i, column in updated:
        if column.name in zeros:
            # An ENUM's invalid empty value passes only as a plain copy, not through IF: a statement
            # of its own, for the rows that list the column.
            _update(conn, target, stage, match, [(i, column)], updated, table, f"{existed} and {_flag(i)}", plain=True)
    return {"inserted": inserted, "updated": int(existing)}


def _update(
    conn: MysqlSession,
    target: str,
    stage: str,
    match: str,
    columns: list[tuple[int, LegacyColumn]],
    updated: list[tuple[int, LegacyColumn]],
    table: str,
    where: str,
    *,
    plain: bool = False,
) -> None:
    """The legacy rows matched by the staged rows `where` says take the `columns` each lists
    (a column the row does not list is assigned its own value); `plain`: copied as they are, by
    rows that list them all. An ON UPDATE CURRENT_TIMESTAMP column not assigned otherwise is
    assigned its own value, which keeps it as it was."""
    assign = []
    for i, column in columns:
        name = catalog.quoted(column.name)
        assign.append(f"t.{name} = f.{name}" if plain else f"t.{name} = if({_flag(i)}, f.{name}, t.{name})")
    assigned = {c.name for _, c in columns}
    for _, column in updated:
        if column.auto_updated and column.name not in assigned:
            assign.append(f"t.{catalog.quoted(column.name)} = t.{catalog.quoted(column.name)}")
    if assign:
        _written_sql(conn, f"update {target} t join {stage} f on {match} set {', '.join(assign)} where {where}", table)


def _same(column: LegacyColumn) -> str:
    """The legacy value equals the staged one: as numbers for FLOAT and DOUBLE (their text in MySQL
    is rounded), byte for byte in MySQL's text for every other type."""
    name = catalog.quoted(column.name)
    if column.column.kind in APPROXIMATE_KINDS:
        return f"t.{name} <=> f.{name}"
    return f"cast(t.{name} as binary) <=> cast(f.{name} as binary)"


def check_carried(
    conn: MysqlSession, schema: str, table: str, key: list[str], columns: list[str], blocks: Iterable[bytes]
) -> tuple[int, int, Any]:
    """Every reverse row is in the legacy table as written (its listed columns), every delete is
    gone: (rows checked, rows wrong, up to three wrong keys)."""
    legacy = legacy_columns(conn, schema, table)
    _stage(conn, schema, table, legacy, columns, blocks, ("I", "U", "D"))
    present = f"t.{catalog.quoted(key[0])} is not null"
    differs = " or ".join(f"({_flag(i)} and not ({_same(c)}))" for i, c in enumerate(legacy, start=1))
    bad = f"if(f.{catalog.quoted(OP)} = 'D', {present}, not ({present}) or {differs or 'false'})"
    joined = (
        f"{catalog.qualified(schema, STAGE)} f left join {catalog.qualified(schema, table)} t on {_match(legacy, key)}"
    )
    ((total, wrong),) = conn.execute(f"select count(*), coalesce(sum({bad}), 0) from {joined}")
    keys = ", ".join(f"f.{catalog.quoted(k)}" for k in key)
    sample = [
        dict(zip(key, row, strict=True)) for row in conn.execute(f"select {keys} from {joined} where {bad} limit 3")
    ]
    return int(total), int(wrong), sample
