"""The canonical row hash in MySQL and MariaDB: each value's canonical text, a row's text and its
hashes, and the segment and bucket sums over them, computed inside the source server.

harness/reconcile/checksums.py states the rules, in PostgreSQL's types; landing is PostgreSQL and
hashes itself by them (harness/target/checksums.py). A MySQL value's canonical text here is the text
those rules give the landing value it is loaded into (types.py maps each type; copy.py loads it):

| MySQL type | landing type | canonical text made here |
|---|---|---|
| tinyint .. bigint [unsigned], year | smallint, integer, bigint, numeric(20,0) | the digits (YEAR 0000 is `0`) |
| decimal(p,s) | numeric(p,s) | its text, scale kept |
| double | double precision | MySQL's shortest digits, laid out as PostgreSQL writes a float8 |
| float | real | the shortest digits that read back to the same float, laid out as PostgreSQL writes a float4 |
| bit(n) | bit varying(n) | n binary digits |
| date, datetime(p), timestamp(p) | date, timestamp(p), timestamptz(p) | ISO, in UTC (1) |
| time(p) | interval | `[-]HH:MM:SS[.f]`, as PostgreSQL writes an interval of hours |
| char, varchar, text, enum, json | varchar, text, json | the characters (2) |
| set | text[] | the members as PostgreSQL writes the array (`{red,"dark blue"}`) |
| binary, blob, spatial | bytea | lower-case hex |
| uuid, inet4, inet6 | uuid, inet | the server's text |

(1) No trailing zeros in the fraction; a date PostgreSQL lacks is NULL, its text in `_mysql_raw_<column>`.
(2) json's text as loaded: landing's type is json, which keeps it.

Every text is taken as utf8mb4 under utf8mb4_bin (its characters, whatever its column's character
set and collation). MySQL has no hash PostgreSQL also has, so both sides hash portably: md5 of the
UTF-8 bytes, its first 16 hex digits as a signed 64-bit integer (`conv(..., 16, -10)`); sums are
MySQL's exact DECIMAL sums of BIGINTs.

A float's text is worked out in steps, each a derived table over the one before (layered around the
table only where it has float columns): MySQL's shortest text of the value as a double, its sign,
digits and decimal exponent, then (float) the fewest digits that CAST(... AS FLOAT) reads back to the
stored value, then PostgreSQL's layout (fixed between 1e-4 and 1e15, or 1e6 for real; else d.ddde±XX).

The source is read in the reconcile's snapshot: MySQL sessions cannot join another session's
snapshot, so the hashing borrows the session copy.open_snapshot opened at that point.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from harness.engines.base import (
    FIELD_SEPARATOR,
    KEY_BUCKET_SEED,
    NULL_MARK,
    SHOWN_CHARACTERS,
    HashedColumn,
    RowHashes,
    Segments,
    Sums,
)
from harness.engines.mysql import catalog, copy, types
from harness.engines.mysql.session import MysqlSession
from harness.engines.postgres.checksums import PLAIN_TEXT

# The PostgreSQL base type (pg_type.typname) of each landing type types.landing_type chooses: landing
# hashes its values by these, so the source decides the same way which texts are length-prefixed.
_LANDING_BASES = {
    "smallint": "int2",
    "integer": "int4",
    "bigint": "int8",
    "real": "float4",
    "double precision": "float8",
    "date": "date",
    "interval": "interval",
    "text": "text",
    "bytea": "bytea",
    "text[]": "_text",
    "json": "json",
    "jsonb": "jsonb",
    "uuid": "uuid",
    "inet": "inet",
}
_LANDING_PREFIXES = (
    ("numeric", "numeric"),
    ("bit varying", "varbit"),
    ("character varying", "varchar"),
    ("timestamp", "timestamp"),  # "... with time zone" is told apart below
)


def landing_base(landing_type: str) -> str:
    """The base type name PostgreSQL gives a landing type, e.g. "timestamp(3) with time zone" → "timestamptz"."""
    if landing_type in _LANDING_BASES:
        return _LANDING_BASES[landing_type]
    if landing_type.startswith("timestamp") and landing_type.endswith("with time zone"):
        return "timestamptz"
    for prefix, base in _LANDING_PREFIXES:
        if landing_type.startswith(prefix):
            return base
    return landing_type


# --- sessions -------------------------------------------------------------------------------------


def begin_hashing(conn: MysqlSession, snapshot_id: str | None) -> None:
    """Hash in the snapshot `snapshot_id` (copy.open_snapshot's) by borrowing its session, given back
    when `conn`'s transaction ends; else in a consistent snapshot of `conn`'s own."""
    conn.execute("set session time_zone = '+00:00'")
    session = copy.borrow(snapshot_id) if snapshot_id else None
    if session is None:
        conn.execute("set session transaction isolation level repeatable read")
        conn.execute("start transaction with consistent snapshot, read only")
        conn.hashing_session = None
        return
    session.execute("set session time_zone = '+00:00'")
    conn.hashing_session = session
    conn.lend(lambda: copy.give_back(snapshot_id, session))


def reader(conn: MysqlSession) -> MysqlSession:
    """The session the hashing queries (and the counts at a snapshot) run on: begin_hashing's."""
    return getattr(conn, "hashing_session", None) or conn


def hashed_columns(conn: MysqlSession, schema: str, table: str) -> list[HashedColumn]:
    """The landing columns of the table (a date-like column's companion too), each typed as MySQL
    declares it and based on its landing type, which landing's side is compared with."""
    return [
        HashedColumn(
            c.name,
            c.source_type or c.type,
            landing_base(c.type),
            True,
            _data_type(c) in copy.INTEGER_TYPES,
            c.not_null,
        )
        for c in catalog.columns(reader(conn), schema, table)
    ]


def key_bounds(conn: MysqlSession, schema: str, table: str, column: str) -> tuple[Any, Any]:
    key = catalog.quoted(column)
    ((low, high),) = reader(conn).execute(f"select min({key}), max({key}) from {catalog.qualified(schema, table)}")
    return (None, None) if low is None else (int(low), int(high))


def _data_type(column: types.MysqlColumn) -> str:
    return column.source_type.split("(")[0].split()[0].lower() if column.source_type else ""


# --- canonical texts ------------------------------------------------------------------------------


def _char(code: int) -> str:
    return f"char({code} using utf8mb4)"


SEPARATOR, NULL_TEXT = _char(ord(FIELD_SEPARATOR)), _char(ord(NULL_MARK))


def _utf8(expression: str) -> str:
    """A text as its characters in utf8mb4, under one collation (texts of several collations are joined)."""
    return f"(convert({expression} using utf8mb4) collate utf8mb4_bin)"


def _literal(text: str) -> str:
    """A text literal whatever the session's sql_mode says of quotes and backslashes."""
    return _utf8(f"x'{text.encode().hex()}'") if text else _utf8("''")


def _fraction_trimmed(text: str, column: types.MysqlColumn) -> str:
    """A temporal text without its fraction's trailing zeros, nor a bare point (PostgreSQL's form)."""
    match = re.search(r"\((\d+)\)", column.source_type)
    if not match or int(match[1]) == 0:
        return text
    return f"trim(trailing '.' from trim(trailing '0' from {text}))"


def _pg_array_element(member: str) -> str:
    """A text[] element as PostgreSQL's array_out writes it: quoted where it must be."""
    plain = (
        member
        and member.upper() != "NULL"
        and not any(c in member for c in '{},"\\')
        and not any(c in " \t\n\r\v\f" for c in member)
    )
    if plain:
        return member
    return '"' + member.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class _Layers:
    """Derived tables wrapped around the table, innermost first, each adding named helper columns
    computed from the one below (alias t at every level): a float's text is built in steps."""

    levels: list[list[tuple[str, str]]]

    def add(self, level: int, name: str, expression: str) -> str:
        while len(self.levels) <= level:
            self.levels.append([])
        self.levels[level].append((name, expression))
        return f"t.{catalog.quoted(name)}"

    def relation(self, table: str) -> str:
        relation = f"{table} t"
        for level in self.levels:
            helpers = ", ".join(f"{expression} as {catalog.quoted(name)}" for name, expression in level)
            relation = f"(select t.*, {helpers} from {relation}) t"
        return relation


# Half a unit in the last place above the largest float: a decimal from here on is infinity as a
# float (PostgreSQL's interval), while CAST(... AS FLOAT) saturates at the largest float.
FLOAT_BEYOND_MAX = 3.4028235677973366e38


def _float_text(column: types.MysqlColumn, index: int, layers: _Layers) -> str:
    """PostgreSQL's text of a float8 (double) or float4 (float) value, from MySQL's shortest text of it."""
    ident = f"t.{catalog.quoted(column.name)}"
    name = f"_rc{index}_"
    text = layers.add(0, name + "s", f"cast(cast({ident} as double) as char)")
    negative = layers.add(1, name + "neg", f"(left({text}, 1) = '-')")
    unsigned = layers.add(1, name + "u", f"trim(leading '-' from {text})")
    mantissa = layers.add(2, name + "m", f"substring_index({unsigned}, 'e', 1)")
    exponent = layers.add(
        2, name + "e", f"if(locate('e', {unsigned}) > 0, cast(substring_index({unsigned}, 'e', -1) as signed), 0)"
    )
    whole = layers.add(3, name + "ip", f"substring_index({mantissa}, '.', 1)")
    all_digits = layers.add(
        3,
        name + "a",
        f"concat(substring_index({mantissa}, '.', 1), "
        f"if(locate('.', {mantissa}) > 0, substring_index({mantissa}, '.', -1), ''))",
    )
    # The significant digits, and the decimal exponent of the first: value = d.ddd × 10^x.
    digits = layers.add(4, name + "d", f"trim(trailing '0' from trim(leading '0' from {all_digits}))")
    leading_zeros = f"cast(char_length({all_digits}) - char_length(trim(leading '0' from {all_digits})) as signed)"
    scale = layers.add(4, name + "x", f"(cast(char_length({whole}) as signed) + {exponent} - {leading_zeros} - 1)")
    fixed_below = 15
    if column.kind == "float":
        # The fewest digits (1..9) that read back, as a float, to the stored value, as PostgreSQL's
        # shortest output (Ryu) finds them: the value rounded half to even at that many digits, and
        # strictly inside the float's rounding interval (a decimal exactly halfway to the next float
        # is refused, though CAST(... AS FLOAT) would round it to the even one).
        fraction = f"cast(concat('0.', {digits}) as decimal(40,30))"
        nudge = 2.0**-40

        def rounded_to(n: int) -> str:
            even = "('0', '2', '4', '6', '8')"
            halfway = f"substring({digits}, {n + 1}) = '5' and substring({digits}, {n}, 1) in {even}"
            return f"if({halfway}, truncate({fraction}, {n}), round({fraction}, {n}))"

        def reads_back(n: int) -> str:
            value = f"cast(concat(if({negative}, '-', ''), {rounded_to(n)}, 'e', {scale} + 1) as double)"
            above = f"cast({value} * {1 + nudge!r} as float) = {ident}"
            below = f"cast({value} * {1 - nudge!r} as float) = {ident}"
            return f"({above} and {below} and abs({value}) < {FLOAT_BEYOND_MAX!r})"

        tries = " ".join(f"when {reads_back(n)} then {rounded_to(n)}" for n in range(1, 9))
        rounded = layers.add(5, name + "r", f"case when {digits} = '' then 0 {tries} else {rounded_to(9)} end")
        digits = layers.add(
            6,
            name + "d2",
            f"if({digits} = '', '', if({rounded} >= 1, '1', "
            f"trim(trailing '0' from substring_index(cast({rounded} as char), '.', -1))))",
        )
        scale = layers.add(6, name + "x2", f"if({rounded} >= 1, {scale} + 1, {scale})")
        fixed_below = 6
    sign = f"if({negative}, '-', '')"
    count = f"cast(char_length({digits}) as signed)"
    fixed = (
        f"case when {scale} < 0 then concat('0.', repeat('0', -{scale} - 1), {digits}) "
        f"when {count} <= {scale} + 1 then concat({digits}, repeat('0', {scale} + 1 - {count})) "
        f"else concat(left({digits}, {scale} + 1), '.', substring({digits}, {scale} + 2)) end"
    )
    exponential = (
        f"concat(left({digits}, 1), if({count} > 1, concat('.', substring({digits}, 2)), ''), "
        f"'e', if({scale} < 0, '-', '+'), if(abs({scale}) < 10, '0', ''), abs({scale}))"
    )
    return (
        f"if({ident} is null, null, if({digits} = '', concat({sign}, '0'), concat({sign}, "
        f"if({scale} between -4 and {fixed_below - 1}, {fixed}, {exponential}))))"
    )


def canonical_text(
    column: types.MysqlColumn, by_name: dict[str, types.MysqlColumn], index: int, layers: _Layers
) -> str:
    """The canonical text of the column's value in a row of alias t (NULL for NULL): the text
    PostgreSQL's rules give the landing value load makes of it."""
    if column.raw_of is not None:  # the companion: a date PostgreSQL lacks, as MySQL writes it
        date = f"t.{catalog.quoted(by_name[column.raw_of].name)}"
        return _utf8(f"if({copy.invalid_date(date)}, cast({date} as char), null)")
    ident = f"t.{catalog.quoted(column.name)}"
    kind = column.kind
    if kind == "integer":
        return _utf8(f"cast({ident} + 0 as char)" if _data_type(column) == "year" else f"cast({ident} as char)")
    if kind == "decimal":
        return _utf8(f"cast({ident} as char)")
    if kind in ("float", "double"):
        return _utf8(_float_text(column, index, layers))
    if kind == "date":
        return _utf8(f"if({copy.invalid_date(ident)}, null, cast({ident} as char))")
    if kind in ("datetime", "timestamp"):
        text = _fraction_trimmed(f"cast({ident} as char)", column)
        return _utf8(f"if({copy.invalid_date(ident)}, null, {text})")
    if kind == "time":
        return _utf8(_fraction_trimmed(f"cast({ident} as char)", column))
    if kind == "bit":
        return _utf8(f"lpad(bin({ident} + 0), {column.bits}, '0')")
    if kind == "bytes":
        return _utf8(f"lower(hex({ident}))")
    if kind == "set":
        members = ", ".join(
            f"if({ident} & {1 << i}, {_literal(_pg_array_element(m))}, null)"
            for i, m in enumerate(types.members(column.source_type))
        )
        return f"if({ident} is null, null, concat('{{', concat_ws(',', {members}), '}}'))"
    if kind == "text" and _data_type(column) in ("inet4", "inet6"):
        # inet's text, as PostgreSQL's rules take it (inet::text), carries the prefix length.
        return _utf8(f"concat({ident}, '{'/32' if _data_type(column) == 'inet4' else '/128'}')")
    return _utf8(ident)


def _mask_text(column: types.MysqlColumn, mask: str) -> str:
    """A masked column as load copies it: the mask's text; a masked date's companion is NULL."""
    if column.raw_of is not None:
        return "null"
    return _utf8(copy.MASK_SQL[mask].format(col=f"t.{catalog.quoted(column.name)}"))


@dataclass(frozen=True)
class HashFunction:
    """The portable hash: md5 of the text's UTF-8, the first 16 hex digits as a signed 64-bit integer,
    a seed other than 0 appended as U+001F and its digits."""

    def __call__(self, text: str, seed: int = 0) -> str:
        salted = text if seed == 0 else f"concat({text}, {SEPARATOR}, '{seed}')"
        return f"cast(conv(left(md5({salted}), 16), 16, -10) as signed)"


@dataclass(frozen=True)
class SideQuery:
    """How the source's table is read: the relation (alias t), its canonical key and column texts."""

    relation: str
    leading_key: str
    keys: tuple[str, ...]
    columns: tuple[str, ...]  # canonical texts, length-prefixed where landing's are, NULL as NULL_MARK
    shown: tuple[str, ...]
    hash: HashFunction

    def key_text(self) -> str:
        return f"concat_ws({SEPARATOR}, {', '.join(self.keys)})"

    def row_hash(self) -> str:
        return self.hash(f"concat_ws({SEPARATOR}, {', '.join(self.columns)})")

    def sub_bucket(self, level: int) -> str:
        return f"({self.hash(self.key_text(), KEY_BUCKET_SEED + level)} & {Segments.FAN_OUT - 1})"

    def segment(self, plan: Segments) -> str:
        if plan.kind == "range":
            key = f"cast({self.leading_key} as signed)"
            return f"((least(greatest({key}, ({plan.low})), ({plan.high})) - ({plan.low})) div {plan.width})"
        return f"({self.hash(self.key_text(), KEY_BUCKET_SEED)} & {plan.count - 1})"

    def predicate(self, plan: Segments, segments: Sequence[int]) -> str:
        """Rows of these segments; for key ranges a condition an index on the key can serve."""
        if plan.kind != "range":
            return f"{self.segment(plan)} in ({', '.join(str(int(s)) for s in sorted(set(segments)))})"
        conditions = []
        for lower, upper in plan.key_bounds(segments):
            bounds = []
            if lower is not None:
                bounds.append(f"{self.leading_key} >= ({int(lower)})")
            if upper is not None:
                bounds.append(f"{self.leading_key} < ({int(upper)})")
            conditions.append("(" + " and ".join(bounds) + ")" if bounds else "true")
        return "(" + " or ".join(conditions) + ")"


def side_query(
    schema: str,
    table: str,
    landing_columns: Sequence[types.MysqlColumn],
    columns: Sequence[HashedColumn],
    key: Sequence[str],
    masks: dict[str, str],
) -> SideQuery:
    """`columns` (hashed_columns') in the order compared, the key among them."""
    by_name = {c.name: c for c in landing_columns}
    layers = _Layers([])
    texts, shown = [], []
    canonical = {c.name: canonical_text(by_name[c.name], by_name, i, layers) for i, c in enumerate(columns)}
    for hashed in columns:
        column, mask = by_name[hashed.name], masks.get(hashed.name)
        if mask is None and column.raw_of is not None:
            mask = masks.get(column.raw_of) and "null"  # a masked date keeps no text beside it
        text = canonical[hashed.name] if mask is None else _mask_text(column, mask)
        shown.append(f"left({text}, {SHOWN_CHARACTERS})")
        if hashed.base not in PLAIN_TEXT or mask is not None:
            text = f"concat(char_length({text}), ':', {text})"
        texts.append(f"coalesce({text}, {NULL_TEXT})")
    keys = tuple(f"coalesce({canonical[k]}, {NULL_TEXT})" for k in key)
    return SideQuery(
        layers.relation(catalog.qualified(schema, table)),
        f"t.{catalog.quoted(key[0])}",
        keys,
        tuple(texts),
        tuple(shown),
        HashFunction(),
    )


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class MysqlRowHashes(RowHashes):
    """A table hashed by its MySQL or MariaDB server, on one session."""

    def __init__(self, conn: MysqlSession, side: SideQuery, key: Sequence[str]):
        self.conn, self.side, self.key = conn, side, list(key)

    def _sums(self, query: str, width: int) -> Sums:
        return {
            tuple(int(v) for v in row[:width]): (int(row[width]), Decimal(_text(row[width + 1])))
            for row in self.conn.execute(query)
        }

    def segment_sums(self, segments: Segments) -> Sums:
        side = self.side
        return self._sums(
            f"select {side.segment(segments)}, count(*), coalesce(sum({side.row_hash()}), 0) "
            f"from {side.relation} group by 1",
            1,
        )

    def _restriction(self, plan: Segments, depth: int, buckets: list[tuple[int, ...]]) -> tuple[list[str], str]:
        """The bucket expressions down to `depth`, and the condition holding the rows of these buckets."""
        side = self.side
        paths = [side.segment(plan), *(side.sub_bucket(level) for level in range(1, depth + 1))]
        width = len(buckets[0])
        values = ", ".join("(" + ", ".join(str(int(b)) for b in bucket) + ")" for bucket in buckets)
        condition = f"{side.predicate(plan, [b[0] for b in buckets])} and ({', '.join(paths[:width])}) in ({values})"
        return paths, condition

    def bucket_sums(self, segments: Segments, depth: int, buckets: list[tuple[int, ...]]) -> Sums:
        paths, condition = self._restriction(segments, depth, buckets)
        side = self.side
        groups = ", ".join(str(i) for i in range(1, depth + 2))
        return self._sums(
            f"select {', '.join(paths)}, count(*), coalesce(sum({side.row_hash()}), 0) "
            f"from {side.relation} where {condition} group by {groups}",
            depth + 1,
        )

    def rows(self, segments: Segments, depth: int, buckets: list[tuple[int, ...]]) -> dict:
        side = self.side
        _, condition = self._restriction(segments, depth, buckets)
        selected = [*side.keys, *(side.hash(text) for text in side.columns), *side.shown]
        rows = self.conn.execute(f"select {', '.join(selected)} from {side.relation} where {condition}")
        k, n = len(side.keys), len(side.columns)
        return {
            tuple(_text(v) for v in row[:k]): (
                tuple(int(v) for v in row[k : k + n]),
                tuple(_text(v) for v in row[k + n :]),
            )
            for row in rows
        }

    def total(self) -> tuple[int, Decimal]:
        side = self.side
        ((count, total),) = self.conn.execute(
            f"select count(*), coalesce(sum({side.row_hash()}), 0) from {side.relation}"
        )
        return int(count), Decimal(_text(total))

    def of_keys(self, keys: Sequence[Sequence[Any]]) -> dict[tuple[str, ...], int]:
        if not keys:
            return {}
        side = self.side
        columns = ", ".join(f"t.{catalog.quoted(k)}" for k in self.key)
        placeholders = ", ".join("(" + ", ".join(["%s"] * len(self.key)) + ")" for _ in keys)
        query = f"select {', '.join(side.keys)}, {side.row_hash()} from {side.relation}".replace("%", "%%")
        rows = self.conn.execute(
            f"{query} where ({columns}) in ({placeholders})", [value for row in keys for value in row]
        )
        return {tuple(_text(v) for v in row[:-1]): int(row[-1]) for row in rows}


def row_hashes(
    conn: MysqlSession,
    schema: str,
    table: str,
    columns: Sequence[HashedColumn],
    key: Sequence[str],
    masks: dict[str, str],
    *,
    portable: bool,
) -> MysqlRowHashes:
    """See SourceEngine.row_hashes: MySQL hashes portably whatever `portable` says (it has no native hash
    landing shares)."""
    session = reader(conn)
    side = side_query(schema, table, catalog.columns(session, schema, table), columns, key, masks)
    return MysqlRowHashes(session, side, key)


def cancel(conn: MysqlSession) -> None:
    """Stop the hashing query `conn` (or the snapshot session it borrowed) runs, from another session."""
    from harness.core import connections

    running = reader(conn)
    with connections.connection(conn.origin, command="cancel", autocommit=True) as killer:
        killer.execute(f"kill query {int(running.thread_id())}")
