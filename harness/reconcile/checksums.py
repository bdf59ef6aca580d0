"""Segment checksums: is landing an exact copy of the source, and if not, which rows differ.

Each database hashes its own rows; only one count and one sum per segment travel, never the
rows. The source is read inside one snapshot (exported by the caller, shared by every query
here), landing while no sync runs, so both sides describe the same moment.

Normalisation. Every value becomes a canonical text before it is hashed, on both sides, so that
equal values hash equal whatever the session that reads them. A normalisation may only merge values
that the type itself stores identically: `-0` and `0`, `1.10` and `1.1`, `1 mon` and `30 days` are
stored differently, so they hash differently, although SQL's `=` calls each pair equal. The table
names PostgreSQL's types; another engine gives a value of its own types the text the table gives
the same value (a DATETIME(6) the timestamp's text, a TINYINT the integer's digits).

Type: its canonical text.
- smallint, integer, bigint, oid: decimal digits (`42` whatever the width)
- numeric: its text, scale kept (`1.10` stays `1.10`; `NaN`)
- real, double precision: the shortest text that reads back to the same float
  (`extra_float_digits = 1`), `-0`, `NaN` and `Infinity` kept
- money: its numeric value, `trim_scale`d (the text would depend on `lc_monetary`; the stored cents
  are what is compared)
- timestamp: ISO `YYYY-MM-DD HH:MI:SS[.ffffff]`, no trailing zeros: precision (3) and (6) agree on
  equal values
- timestamptz: converted to UTC first (it is stored as a UTC instant; the session time zone does not
  matter)
- timetz: its text with its own offset (it stores the offset: `12:00+01` is not `11:00+00`)
- date, time: ISO
- interval: its text under `IntervalStyle = postgres` (months, days and time are stored apart:
  `1 mon` is not `30 days`, `24:00:00` is not `1 day`)
- text, varchar, char, name, enums: the characters; char(n) without its padding, as PostgreSQL
  stores it
- boolean, uuid, inet, bit, jsonb, json, xml: PostgreSQL's text form (json keeps its text: key
  order, blanks and duplicate keys)
- bytea: lower-case hex
- arrays, ranges: their text form under fixed session settings (SESSION_SETTINGS in
  harness/engines/postgres/checksums.py)

NORMALISATIONS lists the merges that remain, for the report. NULL is not blank: `''` and NULL are
different values and a change from one to the other is a difference (landing is an exact copy; an
analyst who wants blanks treated as NULL says so in the models, not here). A type not in the table
is compared through its text form, and the report says so for that column: equal values written
differently would show as changed.

Text is hashed as the database stores it, as bytes: under the "C" collation, whatever collation
its column has (a case-insensitive one would hash 'a' and 'A' alike). When both databases name
the same native hash (SourceEngine.native_hash: PostgreSQL's 64-bit `hashtextextended` over one
server encoding, where the bytes of equal strings are equal) it is used; otherwise every text is
converted to UTF-8 and hashed portably, which any engine can compute: the first 16 hex digits of
its md5 read as a signed 64-bit integer, a seed other than 0 appended as U+001F and its digits.
A row's text joins its columns' texts with the unit separator (U+001F) and writes NULL as the
record separator (U+001E). A type whose text can hold any character (text, json, arrays, enums,
...) is written as its length, a colon and the text, so no value can pass for a NULL or move a
separator: the encoding of a row is unambiguous.
Masked columns are compared through their mask, applied to the source value as load applies it.
The length in a length prefix counts bytes where both sides hash natively, characters where they
hash portably. A row's hash is the hash of its text with seed 0; a segment's sum adds its rows'
hashes exactly (as a decimal, never wrapping at 64 bits).

Where it is computed. Each database computes these texts, hashes and sums itself: the source
through its engine (`SourceEngine.row_hashes`, harness/engines/postgres/checksums.py for
PostgreSQL), landing through harness/target/checksums.py. The constants both sides share (the
separators, the seeds, the fan-out) are in harness/engines/base.py. This module holds the logic:
the plans, the descent through differing buckets, the differences.

Segments. A table whose leading key column is an integer (its values within bigint) is cut into
even key ranges of about SEGMENT_ROWS rows (index-friendly: a later query on one segment reads only that range). Any
other key is cut into hash buckets of its canonical text (a key's text joins its columns' texts,
NULL written as U+001E, with seed 1): no sort is needed to find boundaries,
and bucket membership cannot depend on either database's collation, which key ranges over text
would. One pass per side computes count and sum of the row hashes for every segment.

Locating. A segment whose count or sum differ is split by a hash of the key (seed 1 + level) into
FAN_OUT sub-buckets, again on both sides, recursively, until the differing buckets hold at most
FETCH_ROWS rows; then each side returns key and per-column hashes of just those rows, and the
rows are sorted into missing (in the source, not in landing), extra (in landing, not in the
source) and changed, with the columns that differ.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from harness import engines
from harness.core import connections
from harness.core.config import Config, TableConfig
from harness.core.connections import Database
from harness.core.errors import ConfigError
from harness.engines.base import Connection, RowHashes, Segments, SourceEngine
from harness.target import checksums as target_checksums
from harness.target import landing

SEGMENT_ROWS = 10_000
FETCH_ROWS = 5_000  # rows per side fetched, at most, to name the differing keys
MAX_DEPTH = 4
MAX_BUCKETS = 2_048  # differing buckets refined per pass; more only when most of a table differs
MAX_LISTED = 1_000  # differences listed per table

# What the canonical texts merge, for the report: values each type stores identically, nothing else.
NORMALISATIONS = (
    "timestamptz is compared as its UTC instant (the session time zone is not part of the value)",
    "money is compared as its amount (its text depends on lc_monetary)",
    "char(n) is compared without its padding (stored the same either way)",
    "timestamp precisions agree on equal values (no trailing zeros)",
    "a masked source column is compared through its mask, as load copies it",
)

Plan = Segments  # how a table is cut into segments; decided once, on the source


# --- segments -----------------------------------------------------------------------------------


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
    """The buckets to fetch, in order, holding at most `budget` (FETCH_ROWS) rows, at least one; True if some
    were left."""
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
    """One connection per database, each used by its own thread: both sides hash at the same time.
    `portable`: the sides hash with the portable hash (they name no common native one)."""

    def __init__(self, engine: SourceEngine, source: Connection, target: Connection, portable: bool = False):
        self.engine, self.source, self.target, self.portable = engine, source, target, portable
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="checksum")

    def run(self, on_source: Callable[[], Any], on_target: Callable[[], Any]) -> tuple:
        a = self._pool.submit(on_source)
        b = self._pool.submit(on_target)
        try:
            return a.result(), b.result()
        except BaseException:
            # One side failed or the user pressed Ctrl-C: stop the other side's query too.
            self.engine.cancel(self.source)
            target_checksums.cancel(self.target)
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def open_pair(config: Config, source: Database, target: Database, snapshot_id: str | None, command: str) -> Pair:
    """Connections set for hashing: the source inside the given exported snapshot, landing in one snapshot too."""
    engine = engines.source_engine(config)
    src = connections.connect(source, command=f"{command} source")
    dst = connections.connect(target, command=f"{command} landing")
    try:
        engine.begin_hashing(src, snapshot_id)
        target_checksums.begin_hashing(dst)
        native = engine.native_hash(src)
        portable = native is None or native != target_checksums.native_hash(dst)
    except BaseException:
        src.close()
        dst.close()
        raise
    return Pair(engine, src, dst, portable)


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
    source: RowHashes | None = None
    target: RowHashes | None = None
    plan: Plan | None = None
    estimate: int = 0
    names: tuple[str, ...] = ()

    @property
    def problem_free(self) -> bool:
        return self.result.problem is None


def prepare_table(config: Config, pair: Pair, table_config: TableConfig, *, segments: bool = True) -> _Prepared:
    """How each side of one table is read and hashed, and (`segments`) how it is cut into
    segments; why it cannot be compared in `result.problem`."""
    prepared = _Prepared(TableComparison(table_config.name))
    result = prepared.result
    engine, src, dst = pair.engine, pair.source, pair.target
    try:
        table = landing.describe(src, config, table_config)
    except ConfigError as exc:
        result.problem = str(exc)
        return prepared
    result.key = tuple(table.key)
    if not landing.exists(dst, config.landing_schema, table.name):
        result.problem = f'landing table "{config.landing_schema}"."{table.name}" does not exist: run `migrate load`'
        return prepared
    source_columns = engine.hashed_columns(src, config.source_schema, table.name)
    target_columns = target_checksums.hashed_columns(dst, config.landing_schema, table.name)
    target_names = {c.name for c in target_columns}
    missing = [c.name for c in source_columns if c.name not in target_names]
    if missing:
        result.problem = (
            f"column(s) {', '.join(missing)} of {table.name} are not in landing: the source changed shape; "
            "run `migrate load` again"
        )
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
        if not column.known:
            result.notes.append(
                f"column {column.name} has type {column.type}, which the normaliser does not know: "
                "compared through its text form (equal values written differently would show as changed)"
            )
        elif by_target[column.name].base != column.base and column.name not in table.masks:
            result.notes.append(
                f"column {column.name} is {column.type} in the source and {by_target[column.name].type} in landing"
            )
    prepared.names = names
    prepared.source = engine.row_hashes(
        src, config.source_schema, table.name, source_columns, table.key, table.masks, portable=pair.portable
    )
    prepared.target = target_checksums.landing_hashes(
        dst, config.landing_schema, table.name, [by_target[n] for n in names], table.key, portable=pair.portable
    )
    if not segments:  # a comparison of given keys: no row estimate, no key range to read
        return prepared
    prepared.estimate = _estimate_rows(engine, src, config.source_schema, table.name)
    leading = next(c for c in source_columns if c.name == table.key[0])
    if leading.integer:
        low, high = engine.key_bounds(src, config.source_schema, table.name, leading.name)
        # Ranges are cut in bigint on both sides: a key beyond it (MySQL's bigint unsigned, landed as
        # numeric(20,0)) goes into hash buckets.
        fits = low is not None and low >= -Segments.BIGINT_MAX - 1 and high <= Segments.BIGINT_MAX
        if fits and high - low < 2**62:
            prepared.plan = range_plan(low, high, prepared.estimate)
    if prepared.plan is None:
        prepared.plan = hash_plan(prepared.estimate)
    result.segments = prepared.plan.count
    return prepared


def _estimate_rows(engine: SourceEngine, conn: Connection, schema: str, table: str) -> int:
    estimate = engine.estimated_rows(conn, schema, table)
    if estimate is None or estimate < 0:  # never analysed
        estimate = engine.row_count(conn, schema, table)
    return int(estimate)


def _locate(pair: Pair, prepared: _Prepared, segments: dict[tuple, int]) -> None:
    """Narrow the differing segments down to rows, both sides at once."""
    result, plan, ours, theirs = prepared.result, prepared.plan, prepared.source, prepared.target
    buckets, depth, left_out = segments, 0, False
    while sum(buckets.values()) > FETCH_ROWS and depth < MAX_DEPTH:
        depth += 1
        # Every differing bucket is refined in the same pass. Thousands of them only happen when
        # most of the table differs, and then the first few thousand are plenty to show.
        chosen = sorted(buckets)[:MAX_BUCKETS]
        left_out = left_out or len(chosen) < len(buckets)
        found = pair.run(
            lambda depth=depth, chosen=chosen: ours.bucket_sums(plan, depth, chosen),
            lambda depth=depth, chosen=chosen: theirs.bucket_sums(plan, depth, chosen),
        )
        buckets = differing(*found)
        if not buckets:
            return
    chosen, truncated = within_budget(buckets)
    source_rows, target_rows = pair.run(
        lambda: ours.rows(plan, depth, chosen),
        lambda: theirs.rows(plan, depth, chosen),
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
        chosen = [t for t in config.tables if tables is None or t.name in tables]
        prepared = [prepare_table(config, pair, t) for t in chosen]
        comparable = [p for p in prepared if p.problem_free]
        if on_total:
            on_total(2 * sum(p.estimate for p in comparable))
        lock = threading.Lock()

        def all_segments(side_of: Callable[[_Prepared], RowHashes]) -> Callable[[], list]:
            # Each side runs through every table on its own: neither waits for the other between tables.
            def work() -> list:
                sums = []
                for p in comparable:
                    started = time.perf_counter()
                    sums.append((side_of(p).segment_sums(p.plan), time.perf_counter() - started))
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
        prepared = [p for p in (prepare_table(config, pair, t) for t in config.tables) if p.problem_free]
        source_sums, target_sums = pair.run(
            lambda: [p.source.total() for p in prepared], lambda: [p.target.total() for p in prepared]
        )
        return {p.result.table: (tuple(a), tuple(b)) for p, a, b in zip(prepared, source_sums, target_sums)}
    finally:
        close_pair(pair)
