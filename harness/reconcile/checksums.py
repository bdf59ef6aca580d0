"""Segment checksums: is landing an exact copy of the source, and if not, which rows differ.

Each database hashes its own rows; only one count and one sum per segment travel, never the
rows. The source is read inside one snapshot (exported by the caller, shared by every query
here), landing while no sync runs, so both sides describe the same moment.

Normalisation. Every value becomes a canonical text before it is hashed, on both sides, so that
equal values hash equal whatever the session that reads them. A normalisation may only merge values
that the type itself stores identically: `-0` and `0`, `1.10` and `1.1`, `1 mon` and `30 days` are
stored differently, so they hash differently, although SQL's `=` calls each pair equal.

| type | canonical text |
|---|---|
| smallint, integer, bigint, oid | decimal digits (`42` whatever the width) |
| numeric | its text, scale kept (`1.10` stays `1.10`; `NaN`) |
| real, double precision | the shortest text that reads back to the same float (`extra_float_digits = 1`), `-0`, `NaN` and `Infinity` kept |
| money | its numeric value, `trim_scale`d (the text would depend on `lc_monetary`; the stored cents are what is compared) |
| timestamp | ISO `YYYY-MM-DD HH:MI:SS[.ffffff]`, no trailing zeros: precision (3) and (6) agree on equal values |
| timestamptz | converted to UTC first (it is stored as a UTC instant; the session time zone does not matter) |
| timetz | its text with its own offset (it stores the offset: `12:00+01` is not `11:00+00`) |
| date, time | ISO |
| interval | its text under `IntervalStyle = postgres` (months, days and time are stored apart: `1 mon` is not `30 days`, `24:00:00` is not `1 day`) |
| text, varchar, char, name, enums | the characters; char(n) without its padding, as PostgreSQL stores it |
| boolean, uuid, inet, bit, jsonb, json, xml | PostgreSQL's text form (json keeps its text: key order, blanks and duplicate keys) |
| bytea | lower-case hex |
| arrays, ranges | their text form under the fixed session settings below |

NORMALISATIONS lists the merges that remain, for the report. NULL is not blank: `''` and NULL are different values and a change from one to the other is a
difference (landing is an exact copy; an analyst who wants blanks treated as NULL says so in the
models, not here). A type not in the table is compared through its text form, and the report
says so for that column: equal values written differently would show as changed.

Text is hashed as the database stores it, as bytes: under the "C" collation, whatever collation
its column has (a case-insensitive one would hash 'a' and 'A' alike). When both databases use the
same server encoding the bytes of equal strings are equal and PostgreSQL's 64-bit `hashtextextended` is used; when the
encodings differ, every row text is converted to UTF-8 and hashed with md5 (slower, portable).
A row's text joins its columns' texts with the unit separator (U+001F) and writes NULL as the
record separator (U+001E). A type whose text can hold any character (text, json, arrays, enums,
...) is written as its length, a colon and the text, so no value can pass for a NULL or move a
separator: the encoding of a row is unambiguous.
Masked columns are compared through their mask, applied to the source value as load applies it.

Segments. A table whose leading key column is an integer is cut into even key ranges of about
SEGMENT_ROWS rows (index-friendly: a later query on one segment reads only that range). Any
other key is cut into hash buckets of its canonical text: no sort is needed to find boundaries,
and bucket membership cannot depend on either database's collation, which key ranges over text
would. One pass per side computes count and sum of the row hashes for every segment.

Locating. A segment whose count or sum differ is split by a hash of the key into FAN_OUT
sub-buckets, again on both sides, recursively, until the differing buckets hold at most
FETCH_ROWS rows; then each side returns key and per-column hashes of just those rows, and the
rows are sorted into missing (in the source, not in landing), extra (in landing, not in the
source) and changed, with the columns that differ.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg
from psycopg import sql

from harness.core import connections
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.errors import ConfigError
from harness.engines import postgres
from harness.target import landing

SEGMENT_ROWS = 10_000
FAN_OUT = 64  # sub-buckets per refinement level
FETCH_ROWS = 5_000  # rows per side fetched, at most, to name the differing keys
MAX_DEPTH = 4
MAX_BUCKETS = 2_048  # differing buckets refined per pass; more only when most of a table differs
MAX_LISTED = 1_000  # differences listed per table
SHOWN_CHARACTERS = 200  # of each differing value, in the report

FIELD_SEPARATOR = "\x1f"
CONCAT_PARTS = 99  # concat_ws's texts per call: PostgreSQL passes a function at most 100 arguments
NULL_MARK = "\x1e"
BIGINT_MAX = 2**63 - 1

# Fixed for every hashing session: the first five because the text forms above depend on them.
# The planner expects a group per key value where there are a few hundred segments, and would
# sort every row (to disk, for wide tables) to group them; no query here needs a sort, so sorts
# are off and the rows go through a hash table of a few hundred entries. Parallel workers are
# off too: the two sides already hash at once, one session each.
SESSION_SETTINGS = {
    "extra_float_digits": "1",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "bytea_output": "hex",
    "TimeZone": "UTC",
    "enable_sort": "off",
    "max_parallel_workers_per_gather": "0",
}

INTEGER_TYPES = {"int2", "int4", "int8"}
# What the canonical texts merge, for the report: values each type stores identically, nothing else.
NORMALISATIONS = (
    "timestamptz is compared as its UTC instant (the session time zone is not part of the value)",
    "money is compared as its amount (its text depends on lc_monetary)",
    "char(n) is compared without its padding (stored the same either way)",
    "timestamp precisions agree on equal values (no trailing zeros)",
    "a masked source column is compared through its mask, as load copies it",
)
# Types whose canonical text holds only digits, letters and punctuation: never a separator character.
PLAIN_TEXT = {
    "int2",
    "int4",
    "int8",
    "oid",
    "numeric",
    "float4",
    "float8",
    "money",
    "bool",
    "uuid",
    "date",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "interval",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "bit",
    "varbit",
    "bytea",
}
AS_TEXT = {
    "int2",
    "int4",
    "int8",
    "oid",
    "bool",
    "text",
    "varchar",
    "bpchar",
    "name",
    "char",
    "citext",
    "uuid",
    "date",
    "time",
    "timestamp",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "bit",
    "varbit",
    "jsonb",
    "xml",
    "numeric",
    "float4",
    "float8",
    "interval",
    "timetz",
    "json",
}


# --- normalisation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Normalised:
    text: sql.Composable  # the canonical text, NULL for NULL
    known: bool  # False: a type the normaliser does not know, compared through its text form


def normalise(column: postgres.TypedColumn, value: sql.Composable) -> Normalised:
    """The canonical text of `value`, a value of `column`'s type (see the module's table)."""
    base = column.base
    if base == "money":
        return Normalised(sql.SQL("trim_scale({}::numeric)::text").format(value), True)
    if base == "timestamptz":
        return Normalised(sql.SQL("({} at time zone 'UTC')::text").format(value), True)
    if base == "bytea":
        return Normalised(sql.SQL("encode({}, 'hex')").format(value), True)
    known = base in AS_TEXT or column.kind in ("e", "r", "m") or column.category == "A"
    return Normalised(sql.SQL("{}::text").format(value), known)


def _value(column: postgres.TypedColumn, mask: str | None) -> sql.Composable:
    """The column as compared: on the source, a masked column goes through its mask, as load copies it."""
    ident = sql.SQL("t.{}").format(sql.Identifier(column.name))
    if mask is None:
        return ident
    expression = sql.SQL(landing.MASK_SQL[mask].format(col="{col}")).format(col=ident)
    return sql.SQL("({})::{}").format(expression, sql.SQL(column.type))


@dataclass(frozen=True)
class HashFunction:
    """64-bit hashes of texts, the same on both sides. Portable (md5 of UTF-8) when encodings differ.

    Text is hashed under the "C" collation, i.e. its bytes: under the columns' own collations a
    case-insensitive (nondeterministic) one would hash 'Zebra' and 'ZEBRA' alike, and a row text
    joining columns of two collations could not be hashed at all."""

    portable: bool = False

    def __call__(self, text: sql.Composable, seed: int = 0) -> sql.Composable:
        if not self.portable:
            return sql.SQL('hashtextextended(({}) collate "C", {})').format(text, sql.Literal(seed))
        salted = text if seed == 0 else sql.SQL("{} || {}").format(text, sql.Literal(f"{FIELD_SEPARATOR}{seed}"))
        return sql.SQL("('x' || left(md5(convert_to({}, 'UTF8')), 16))::bit(64)::bigint").format(salted)


@dataclass(frozen=True)
class SideQuery:
    """How one database's copy of a table is read: its relation, its live rows, its canonical values."""

    relation: sql.Composable
    live: sql.Composable  # condition on alias t
    leading_key: sql.Composable  # the raw leading key column, for range predicates
    keys: tuple[sql.Composable, ...]  # canonical key texts
    columns: tuple[tuple[str, sql.Composable], ...]  # (name, canonical text with NULL written as NULL_MARK)
    hash: HashFunction
    shown: tuple[sql.Composable, ...] = ()  # each column's canonical text as a reader sees it (NULL as NULL), cut short

    def key_text(self) -> sql.Composable:
        return _joined(self.keys)

    def row_text(self) -> sql.Composable:
        return _joined([text for _, text in self.columns])

    def row_hash(self) -> sql.Composable:
        return self.hash(self.row_text(), 0)

    def sub_bucket(self, level: int) -> sql.Composable:
        return sql.SQL("({} & {})").format(self.hash(self.key_text(), 1 + level), sql.Literal(FAN_OUT - 1))


def _joined(texts: Sequence[sql.Composable]) -> sql.Composable:
    """t1 || U+001F || t2 || ...: one text per row, built by one concat_ws call. The parts are never
    NULL, so it is exactly the text the chain of `||` gives (and hashes the same), but written once:
    each `||` copies the whole text so far, and a row of n columns paid n such copies (≈10% of a
    hashing pass over the worked example's tables). A function takes at most 100 arguments: wider
    rows join groups of CONCAT_PARTS, which gives the same text again."""
    texts = list(texts)
    while len(texts) > CONCAT_PARTS:
        texts = [_joined(texts[i : i + CONCAT_PARTS]) for i in range(0, len(texts), CONCAT_PARTS)]
    return sql.SQL("concat_ws({}, {})").format(sql.Literal(FIELD_SEPARATOR), sql.SQL(", ").join(texts))


def _length_prefixed(text: sql.Composable, hash_function: HashFunction) -> sql.Composable:
    """`<length>:<text>`, self-delimiting whatever characters the text holds (NULL stays NULL). The
    length in bytes where both sides hash the same bytes (read from the value's header), in
    characters where the encodings differ."""
    length = sql.SQL("char_length" if hash_function.portable else "octet_length")
    return sql.SQL("({length}({text})::text || ':' || {text})").format(length=length, text=text)


def side_query(
    columns: Sequence[postgres.TypedColumn],
    compared: Sequence[str],
    key: Sequence[str],
    relation: sql.Composable,
    *,
    masks: dict[str, str],
    live: sql.Composable,
    hash_function: HashFunction,
) -> SideQuery:
    by_name = {c.name: c for c in columns}
    texts, shown = [], []
    for name in compared:
        column = by_name[name]
        mask = masks.get(name)
        text = normalise(column, _value(column, mask)).text
        shown.append(sql.SQL("left({}, {})").format(text, sql.Literal(SHOWN_CHARACTERS)))
        if column.base not in PLAIN_TEXT or mask is not None:
            text = _length_prefixed(text, hash_function)
        if not column.not_null or mask is not None:
            text = sql.SQL("coalesce({}, {})").format(text, sql.Literal(NULL_MARK))
        texts.append((name, text))
    keys = tuple(
        sql.SQL("coalesce({}, {})").format(normalise(by_name[k], _value(by_name[k], None)).text, sql.Literal(NULL_MARK))
        for k in key
    )
    return SideQuery(
        relation, live, sql.SQL("t.{}").format(sql.Identifier(key[0])), keys, tuple(texts), hash_function, tuple(shown)
    )


# --- segments -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How a table is cut into segments; decided once, on the source."""

    kind: str  # "range" (integer leading key) or "hash"
    count: int
    low: int = 0
    width: int = 1

    @property
    def high(self) -> int:
        return min(self.low + self.count * self.width - 1, BIGINT_MAX)

    def segment(self, side: SideQuery) -> sql.Composable:
        if self.kind == "range":
            return sql.SQL("((least(greatest({k}::bigint, {low}), {high}) - {low}) / {width})").format(
                k=side.leading_key,
                low=sql.Literal(self.low),
                high=sql.Literal(self.high),
                width=sql.Literal(self.width),
            )
        return sql.SQL("({} & {})").format(side.hash(side.key_text(), 1), sql.Literal(self.count - 1))

    def predicate(self, side: SideQuery, segments: Iterable[int]) -> sql.Composable:
        """Rows of these segments; for key ranges a condition an index on the key can serve."""
        wanted = sorted(set(segments))
        if self.kind != "range":
            return sql.SQL("{} = any({})").format(self.segment(side), sql.Literal(wanted))
        conditions = []
        for first, last in _runs(wanted):
            bounds = []
            if first > 0:
                bounds.append(sql.SQL("{} >= {}").format(side.leading_key, sql.Literal(self.low + first * self.width)))
            if last < self.count - 1:
                bounds.append(
                    sql.SQL("{} < {}").format(side.leading_key, sql.Literal(self.low + (last + 1) * self.width))
                )
            conditions.append(sql.SQL("({})").format(sql.SQL(" and ").join(bounds)) if bounds else sql.SQL("true"))
        return sql.SQL("({})").format(sql.SQL(" or ").join(conditions))


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7, 9, 10] → [(1, 3), (7, 7), (9, 10)]"""
    runs: list[tuple[int, int]] = []
    for value in values:
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def range_plan(low: int, high: int, rows: int, segment_rows: int | None = None) -> Plan:
    """Even key ranges over [low, high] holding about `segment_rows` (SEGMENT_ROWS) rows each."""
    segment_rows = segment_rows or SEGMENT_ROWS
    count = max(1, -(-max(rows, 1) // segment_rows))
    span = high - low + 1
    count = min(count, span)
    width = max(1, -(-span // count))
    count = -(-span // width)
    return Plan("range", count, low, width)


def hash_plan(rows: int, segment_rows: int | None = None) -> Plan:
    """A power of two of hash buckets holding about `segment_rows` (SEGMENT_ROWS) rows each."""
    segment_rows = segment_rows or SEGMENT_ROWS
    wanted = max(1, -(-max(rows, 1) // segment_rows))
    return Plan("hash", 1 << (wanted - 1).bit_length())


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowDifference:
    kind: str  # "missing" (in the source, not in landing), "extra" (in landing only) or "changed"
    key: tuple[str, ...]  # canonical key values
    columns: tuple[str, ...] = ()  # for "changed": the columns whose values differ
    # For "changed": per differing column, its canonical text in the source and in landing (None: NULL).
    values: tuple[tuple[str | None, str | None], ...] = field(default=(), compare=False)


@dataclass
class TableComparison:
    table: str
    key: tuple[str, ...] = ()
    source_rows: int | None = None
    landing_rows: int | None = None
    segments: int = 0
    segments_differing: int = 0
    differences: list[RowDifference] = field(default_factory=list)
    truncated: bool = False  # more differences exist than are listed
    problem: str | None = None  # why the table could not be compared
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def matches(self) -> bool:
        return (
            self.problem is None
            and self.segments_differing == 0
            and not self.differences
            and self.source_rows == self.landing_rows
        )

    def count(self, kind: str) -> int:
        return sum(1 for d in self.differences if d.kind == kind)


def key_order(key: tuple[str, ...]) -> tuple:
    """Canonical keys in natural order: integers by value (2 before 10), the rest as text."""
    return tuple((0, int(part), "") if part.lstrip("-").isdigit() else (1, 0, part) for part in key)


def differences(source: dict[tuple, tuple], target: dict[tuple, tuple], names: Sequence[str]) -> list[RowDifference]:
    """Rows keyed by canonical key, valued by (per-column hashes, per-column texts) → what differs, in key order."""
    found = []
    for key in sorted(set(source) | set(target), key=key_order):
        if key not in target:
            found.append(RowDifference("missing", key))
        elif key not in source:
            found.append(RowDifference("extra", key))
        elif source[key][0] != target[key][0]:
            (ours, our_texts), (theirs, their_texts) = source[key], target[key]
            at = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
            found.append(
                RowDifference(
                    "changed", key, tuple(names[i] for i in at), tuple((our_texts[i], their_texts[i]) for i in at)
                )
            )
    return found


def differing(source: dict[tuple, tuple[int, Decimal]], target: dict[tuple, tuple[int, Decimal]]) -> dict[tuple, int]:
    """Buckets whose count or hash sum differ → the larger of the two row counts."""
    empty = (0, Decimal(0))
    return {
        bucket: max(source.get(bucket, empty)[0], target.get(bucket, empty)[0])
        for bucket in set(source) | set(target)
        if source.get(bucket, empty) != target.get(bucket, empty)
    }


def within_budget(buckets: dict[tuple, int], budget: int | None = None) -> tuple[list[tuple], bool]:
    """The buckets to fetch, in order, holding at most `budget` (FETCH_ROWS) rows, at least one; True if some were left."""
    budget = budget or FETCH_ROWS
    chosen, rows = [], 0
    for bucket in sorted(buckets):
        if chosen and rows + buckets[bucket] > budget:
            return chosen, True
        chosen.append(bucket)
        rows += buckets[bucket]
    return chosen, False


# --- the two workers ----------------------------------------------------------------------------


class Pair:
    """One connection per database, each used by its own thread: both sides hash at the same time."""

    def __init__(self, source: psycopg.Connection, target: psycopg.Connection):
        self.source, self.target = source, target
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="checksum")

    def run(
        self, on_source: Callable[[psycopg.Connection], object], on_target: Callable[[psycopg.Connection], object]
    ) -> tuple:
        a = self._pool.submit(on_source, self.source)
        b = self._pool.submit(on_target, self.target)
        try:
            return a.result(), b.result()
        except BaseException:
            # One side failed or the user pressed Ctrl-C: stop the other side's query too.
            for conn in (self.source, self.target):
                conn.cancel_safe()
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def open_pair(config: Config, source: Database, target: Database, snapshot_id: str | None, command: str) -> Pair:
    """Connections set for hashing: the source inside the given exported snapshot, landing in one snapshot too."""
    src = connections.connect(source, command=f"{command} source")
    dst = connections.connect(target, command=f"{command} landing")
    try:
        for conn in (src, dst):
            for name, value in SESSION_SETTINGS.items():
                conn.execute("select set_config(%s, %s, false)", (name, value))
            conn.commit()
        src.execute("set transaction isolation level repeatable read, read only")
        if snapshot_id:
            src.execute(sql.SQL("set transaction snapshot {}").format(sql.Literal(snapshot_id)))
        dst.execute("set transaction isolation level repeatable read, read only")
        dst.execute("select 1")
    except BaseException:
        src.close()
        dst.close()
        raise
    return Pair(src, dst)


def close_pair(pair: Pair) -> None:
    pair.close()
    for conn in (pair.source, pair.target):
        try:
            conn.rollback()
        finally:
            conn.close()


# --- per table ----------------------------------------------------------------------------------


@dataclass
class _Prepared:
    result: TableComparison
    source: SideQuery | None = None
    target: SideQuery | None = None
    plan: Plan | None = None
    estimate: int = 0
    names: tuple[str, ...] = ()

    @property
    def problem_free(self) -> bool:
        return self.result.problem is None


def prepare_table(
    config: Config, pair: Pair, table_config, hash_function: HashFunction, *, segments: bool = True
) -> _Prepared:
    """How each side of one table is read and hashed, and (`segments`) how it is cut into
    segments; why it cannot be compared in `result.problem`."""
    prepared = _Prepared(TableComparison(table_config.name))
    result = prepared.result
    src, dst = pair.source, pair.target
    try:
        table = landing.describe(src, config, table_config)
    except ConfigError as exc:
        result.problem = str(exc)
        return prepared
    result.key = tuple(table.key)
    if not postgres.table_exists(dst, config.landing_schema, table.name):
        result.problem = f'landing table "{config.landing_schema}"."{table.name}" does not exist: run `migrate load`'
        return prepared
    source_columns = postgres.typed_columns(src, config.source_schema, table.name)
    target_columns = postgres.typed_columns(dst, config.landing_schema, table.name)
    target_names = {c.name for c in target_columns}
    missing = [c.name for c in source_columns if c.name not in target_names]
    if missing:
        result.problem = f"column(s) {', '.join(missing)} of {table.name} are not in landing: the source changed shape; run `migrate load` again"
        return prepared
    if any(k in table.masks for k in table.key):
        result.problem = (
            f"key column(s) of {table.name} are masked: rows cannot be matched; compare it without a mask on its key"
        )
        return prepared
    names = tuple(c.name for c in source_columns)
    by_target = {c.name: c for c in target_columns}
    source_names = set(names)
    surplus = [c.name for c in target_columns if c.name not in source_names and not c.name.startswith("_migrate_")]
    if surplus:
        result.notes.append(f"landing has column(s) {', '.join(surplus)} that the source no longer has: not compared")
    for column in source_columns:
        if not normalise(column, sql.SQL("x")).known:
            result.notes.append(
                f"column {column.name} has type {column.type}, which the normaliser does not know: compared through its "
                "text form (equal values written differently would show as changed)"
            )
        elif by_target[column.name].base != column.base and column.name not in table.masks:
            result.notes.append(
                f"column {column.name} is {column.type} in the source and {by_target[column.name].type} in landing"
            )
    prepared.names = names
    prepared.source = side_query(
        source_columns,
        names,
        table.key,
        postgres.qualified(config.source_schema, table.name),
        masks=table.masks,
        live=sql.SQL("true"),
        hash_function=hash_function,
    )
    prepared.target = side_query(
        [by_target[n] for n in names],
        names,
        table.key,
        postgres.qualified(config.landing_schema, table.name),
        masks={},
        live=sql.SQL("not t.{}").format(sql.Identifier(landing.DELETED)),
        hash_function=hash_function,
    )
    if not segments:  # a comparison of given keys: no row estimate, no key range to read
        return prepared
    prepared.estimate = _estimate_rows(src, config.source_schema, table.name)
    leading = next(c for c in source_columns if c.name == table.key[0])
    if leading.base in INTEGER_TYPES:
        low, high = src.execute(
            sql.SQL("select min({k}), max({k}) from {t}").format(
                k=sql.Identifier(leading.name), t=postgres.qualified(config.source_schema, table.name)
            )
        ).fetchone()
        if low is not None and high - low < 2**62:
            prepared.plan = range_plan(low, high, prepared.estimate)
    if prepared.plan is None:
        prepared.plan = hash_plan(prepared.estimate)
    result.segments = prepared.plan.count
    return prepared


def _estimate_rows(conn: psycopg.Connection, schema: str, table: str) -> int:
    relation = postgres.qualified(schema, table)
    estimate = postgres.estimated_rows(conn, schema, table)
    if estimate is None or estimate < 0:  # never analysed
        (estimate,) = conn.execute(sql.SQL("select count(*) from {}").format(relation)).fetchone()
    return int(estimate)


def _segment_sums(conn: psycopg.Connection, side: SideQuery, plan: Plan) -> dict[tuple, tuple[int, Decimal]]:
    rows = conn.execute(
        sql.SQL("select {seg} as seg, count(*), coalesce(sum({h}), 0) from {rel} t where {live} group by 1").format(
            seg=plan.segment(side), h=side.row_hash(), rel=side.relation, live=side.live
        )
    ).fetchall()
    return {(seg,): (count, total) for seg, count, total in rows}


def _bucket_columns(side: SideQuery, plan: Plan, depth: int) -> list[sql.Composable]:
    return [plan.segment(side), *(side.sub_bucket(level) for level in range(1, depth + 1))]


def _restricted(side: SideQuery, plan: Plan, depth: int, buckets: list[tuple], select: sql.Composable) -> sql.Composed:
    """`select` over the rows in these buckets (paths of length depth + 1 or depth)."""
    width = len(buckets[0])
    names = [sql.Identifier(f"_rc_b{i}") for i in range(depth + 1)]
    inner = sql.SQL(", ").join(
        sql.SQL("{} as {}").format(expr, name) for expr, name in zip(_bucket_columns(side, plan, depth), names)
    )
    values = sql.SQL(", ").join(
        sql.SQL("({})").format(sql.SQL(", ").join(map(sql.Literal, bucket))) for bucket in buckets
    )
    return sql.SQL(
        "select {select} from (select {inner}, t.* from {rel} t where {live} and {segments}) t where ({path}) in (values {values})"
    ).format(
        select=select,
        inner=inner,
        rel=side.relation,
        live=side.live,
        segments=plan.predicate(side, (b[0] for b in buckets)),
        path=sql.SQL(", ").join(names[:width]),
        values=values,
    )


def _sub_bucket_sums(
    conn: psycopg.Connection, side: SideQuery, plan: Plan, depth: int, buckets: list[tuple]
) -> dict[tuple, tuple[int, Decimal]]:
    path = sql.SQL(", ").join(sql.Identifier(f"_rc_b{i}") for i in range(depth + 1))
    query = _restricted(
        side, plan, depth, buckets, sql.SQL("{}, count(*), coalesce(sum({}), 0)").format(path, side.row_hash())
    )
    query = sql.SQL("{} group by {}").format(query, path)
    return {tuple(row[: depth + 1]): (row[depth + 1], row[depth + 2]) for row in conn.execute(query).fetchall()}


def _fetch_rows(
    conn: psycopg.Connection, side: SideQuery, plan: Plan, depth: int, buckets: list[tuple]
) -> dict[tuple, tuple]:
    select = sql.SQL("array[{}]::text[], array[{}]::bigint[], array[{}]::text[]").format(
        sql.SQL(", ").join(side.keys),
        sql.SQL(", ").join(side.hash(text, 0) for _, text in side.columns),
        sql.SQL(", ").join(side.shown),
    )
    rows = conn.execute(_restricted(side, plan, depth, buckets, select)).fetchall()
    return {tuple(key): (tuple(hashes), tuple(texts)) for key, hashes, texts in rows}


def _locate(pair: Pair, prepared: _Prepared, segments: dict[tuple, int]) -> None:
    """Narrow the differing segments down to rows, both sides at once."""
    result, plan, src_side, dst_side = prepared.result, prepared.plan, prepared.source, prepared.target
    buckets, depth, left_out = segments, 0, False
    while sum(buckets.values()) > FETCH_ROWS and depth < MAX_DEPTH:
        depth += 1
        # Every differing bucket is refined in the same pass. Thousands of them only happen when
        # most of the table differs, and then the first few thousand are plenty to show.
        chosen = sorted(buckets)[:MAX_BUCKETS]
        left_out = left_out or len(chosen) < len(buckets)
        found = pair.run(
            lambda conn, depth=depth, chosen=chosen: _sub_bucket_sums(conn, src_side, plan, depth, chosen),
            lambda conn, depth=depth, chosen=chosen: _sub_bucket_sums(conn, dst_side, plan, depth, chosen),
        )
        buckets = differing(*found)
        if not buckets:
            return
    chosen, truncated = within_budget(buckets)
    source_rows, target_rows = pair.run(
        lambda conn: _fetch_rows(conn, src_side, plan, depth, chosen),
        lambda conn: _fetch_rows(conn, dst_side, plan, depth, chosen),
    )
    found = differences(source_rows, target_rows, prepared.names)
    result.truncated = left_out or truncated or len(found) > MAX_LISTED
    result.differences = found[:MAX_LISTED]


def compare(
    config: Config,
    source: Database,
    target: Database,
    *,
    snapshot_id: str | None = None,
    tables: Sequence[str] | None = None,
    progress: Callable[[str, int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> list[TableComparison]:
    """Compare every listed table (or `tables`) of the source, inside `snapshot_id`, with landing.
    `progress(table, rows)` as each side finishes a table; `on_total` the rows both sides will hash (estimated)."""
    pair = open_pair(config, source, target, snapshot_id, "reconcile checksums")
    try:
        hash_function = pair_hash_function(pair)
        chosen = [t for t in config.tables if tables is None or t.name in tables]
        prepared = [prepare_table(config, pair, t, hash_function) for t in chosen]
        comparable = [p for p in prepared if p.problem_free]
        if on_total:
            on_total(2 * sum(p.estimate for p in comparable))
        lock = threading.Lock()

        def all_segments(side_of: Callable[[_Prepared], SideQuery]) -> Callable[[psycopg.Connection], list]:
            # Each side runs through every table on its own: neither waits for the other between tables.
            def work(conn: psycopg.Connection) -> list:
                sums = []
                for p in comparable:
                    started = time.perf_counter()
                    sums.append((_segment_sums(conn, side_of(p), p.plan), time.perf_counter() - started))
                    if progress:
                        with lock:
                            progress(p.result.table, p.estimate)
                return sums

            return work

        source_sums, target_sums = pair.run(all_segments(lambda p: p.source), all_segments(lambda p: p.target))
        for p, (src_sums, src_seconds), (dst_sums, dst_seconds) in zip(comparable, source_sums, target_sums):
            started = time.perf_counter()
            p.result.source_rows = sum(count for count, _ in src_sums.values())
            p.result.landing_rows = sum(count for count, _ in dst_sums.values())
            segments = differing(src_sums, dst_sums)
            p.result.segments_differing = len(segments)
            if segments:
                _locate(pair, p, segments)
            p.result.seconds = max(src_seconds, dst_seconds) + time.perf_counter() - started
        return [p.result for p in prepared]
    finally:
        close_pair(pair)


def whole_table_hashes(
    config: Config, source: Database, target: Database, *, snapshot_id: str | None = None
) -> dict[str, tuple]:
    """One count and hash sum per table and side, no segments: the least work that can say "equal".

    The benchmark's baseline: the same canonical row hash as `compare`, one full pass over both copies.
    """
    pair = open_pair(config, source, target, snapshot_id, "checksums baseline")
    try:
        hash_function = pair_hash_function(pair)
        prepared = [p for p in (prepare_table(config, pair, t, hash_function) for t in config.tables) if p.problem_free]

        def whole(side_of: Callable[[_Prepared], SideQuery]) -> Callable[[psycopg.Connection], list]:
            def work(conn: psycopg.Connection) -> list:
                return [
                    conn.execute(
                        sql.SQL("select count(*), coalesce(sum({h}), 0) from {rel} t where {live}").format(
                            h=side_of(p).row_hash(), rel=side_of(p).relation, live=side_of(p).live
                        )
                    ).fetchone()
                    for p in prepared
                ]

            return work

        source_sums, target_sums = pair.run(whole(lambda p: p.source), whole(lambda p: p.target))
        return {p.result.table: (tuple(a), tuple(b)) for p, a, b in zip(prepared, source_sums, target_sums)}
    finally:
        close_pair(pair)


def pair_hash_function(pair: Pair) -> HashFunction:
    encodings = [conn.execute("show server_encoding").fetchone()[0] for conn in (pair.source, pair.target)]
    return HashFunction(portable=encodings[0] != encodings[1])
