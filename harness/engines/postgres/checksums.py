"""The canonical row hash in PostgreSQL: the SQL that computes each value's canonical text, a row's
text and its hashes, and the segment and bucket sums over them, inside the database.

harness/reconcile/checksums.py states the rules and holds the logic (plans, descent, verdicts);
this module is PostgreSQL's side of them, for a source (engine.PostgresEngine) and for landing
(harness/target/checksums.py), which differ only in the rows counted (landing's tombstones are not).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

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
from harness.engines.postgres import catalog
from harness.target import landing

CONCAT_PARTS = 99  # concat_ws's texts per call: PostgreSQL passes a function at most 100 arguments

# Fixed for every hashing session: the first five because the canonical texts depend on them.
# Parallel workers are off: the two sides already hash at once, one session each.
SESSION_SETTINGS = {
    "extra_float_digits": "1",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "bytea_output": "hex",
    "TimeZone": "UTC",
    "max_parallel_workers_per_gather": "0",
}
# While a grouping query runs (segment and bucket sums). The planner expects a group per key value
# where there are a few hundred segments, and would sort every row (to disk, for wide tables) to
# group them; none of them needs a sort, so sorts are off and the rows go through a hash table of a
# few hundred entries. Only for those queries: a sort turned off costs a plan 10^10, and on a server
# with JIT every other query of the session (the catalog's, ordered by attnum) was then compiled
# with inlining and optimisation, 0.3-0.8 s apiece.
GROUPING_SETTINGS = {"enable_sort": "off"}

INTEGER_TYPES = {"int2", "int4", "int8"}
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


# --- sessions -------------------------------------------------------------------------------------


def native_hash(conn: psycopg.Connection) -> str:
    """hashtextextended hashes the bytes of the server's encoding: alike on two servers of one encoding."""
    (encoding,) = conn.execute("show server_encoding").fetchone()
    return f"postgres hashtextextended {encoding}"


def begin_hashing(conn: psycopg.Connection, snapshot_id: str | None) -> None:
    """The session settings, then a repeatable-read, read-only transaction in the snapshot, taken now."""
    for name, value in SESSION_SETTINGS.items():
        conn.execute("select set_config(%s, %s, false)", (name, value))
    conn.commit()
    conn.execute("set transaction isolation level repeatable read, read only")
    if snapshot_id:
        conn.execute(sql.SQL("set transaction snapshot {}").format(sql.Literal(snapshot_id)))
    conn.execute("select 1")


def hashed_columns(conn: psycopg.Connection, schema: str, table: str) -> list[HashedColumn]:
    return [
        HashedColumn(c.name, c.type, c.base, normalise(c, sql.SQL("x")).known, c.base in INTEGER_TYPES, c.not_null)
        for c in catalog.typed_columns(conn, schema, table)
    ]


def key_bounds(conn: psycopg.Connection, schema: str, table: str, column: str) -> tuple[Any, Any]:
    return conn.execute(
        sql.SQL("select min({k}), max({k}) from {t}").format(
            k=sql.Identifier(column), t=catalog.qualified(schema, table)
        )
    ).fetchone()


# --- canonical texts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Normalised:
    text: sql.Composable  # the canonical text, NULL for NULL
    known: bool  # False: a type the normaliser does not know, compared through its text form


def canonical_text(base: str, value: sql.Composable) -> sql.Composable:
    """The canonical text of `value`, a value of type `base` (pg_type.typname; see reconcile/checksums.py)."""
    if base == "money":
        return sql.SQL("trim_scale({}::numeric)::text").format(value)
    if base == "timestamptz":
        return sql.SQL("({} at time zone 'UTC')::text").format(value)
    if base == "bytea":
        return sql.SQL("encode({}, 'hex')").format(value)
    return sql.SQL("{}::text").format(value)


def normalise(column: catalog.TypedColumn, value: sql.Composable) -> Normalised:
    """The canonical text of `value`, a value of `column`'s type, and whether the rules know the type."""
    known = column.base in AS_TEXT or column.base in ("money", "timestamptz", "bytea")
    known = known or column.kind in ("e", "r", "m") or column.category == "A"
    return Normalised(canonical_text(column.base, value), known)


def _value(column: HashedColumn, mask: str | None) -> sql.Composable:
    """The column as compared: on the source, a masked column goes through its mask, as load copies it."""
    ident = sql.SQL("t.{}").format(sql.Identifier(column.name))
    if mask is None:
        return ident
    expression = sql.SQL(landing.MASK_SQL[mask].format(col="{col}")).format(col=ident)
    return sql.SQL("({})::{}").format(expression, sql.SQL(column.type))


@dataclass(frozen=True)
class HashFunction:
    """64-bit hashes of texts, the same on both sides. Portable (md5 of UTF-8) when the sides differ.

    Text is hashed under the "C" collation, i.e. its bytes: under the columns' own collations a
    case-insensitive (nondeterministic) one would hash 'Zebra' and 'ZEBRA' alike, and a row text
    joining columns of two collations could not be hashed at all."""

    portable: bool = False

    def __call__(self, text: sql.Composable, seed: int = 0) -> sql.Composable:
        if not self.portable:
            return sql.SQL('hashtextextended(({}) collate "C", {})').format(text, sql.Literal(seed))
        salted = text if seed == 0 else sql.SQL("{} || {}").format(text, sql.Literal(f"{FIELD_SEPARATOR}{seed}"))
        return sql.SQL("('x' || left(md5(convert_to({}, 'UTF8')), 16))::bit(64)::bigint").format(salted)


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
    characters where they hash UTF-8."""
    length = sql.SQL("char_length" if hash_function.portable else "octet_length")
    return sql.SQL("({length}({text})::text || ':' || {text})").format(length=length, text=text)


# --- one side's queries ---------------------------------------------------------------------------


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
        return sql.SQL("({} & {})").format(
            self.hash(self.key_text(), KEY_BUCKET_SEED + level), sql.Literal(Segments.FAN_OUT - 1)
        )

    def segment(self, plan: Segments) -> sql.Composable:
        if plan.kind == "range":
            return sql.SQL("((least(greatest({k}::bigint, {low}), {high}) - {low}) / {width})").format(
                k=self.leading_key,
                low=sql.Literal(plan.low),
                high=sql.Literal(plan.high),
                width=sql.Literal(plan.width),
            )
        return sql.SQL("({} & {})").format(self.hash(self.key_text(), KEY_BUCKET_SEED), sql.Literal(plan.count - 1))

    def predicate(self, plan: Segments, segments: Sequence[int]) -> sql.Composable:
        """Rows of these segments; for key ranges a condition an index on the key can serve."""
        if plan.kind != "range":
            return sql.SQL("{} = any({})").format(self.segment(plan), sql.Literal(sorted(set(segments))))
        conditions = []
        for lower, upper in plan.key_bounds(segments):
            bounds = []
            if lower is not None:
                bounds.append(sql.SQL("{} >= {}").format(self.leading_key, sql.Literal(lower)))
            if upper is not None:
                bounds.append(sql.SQL("{} < {}").format(self.leading_key, sql.Literal(upper)))
            conditions.append(sql.SQL("({})").format(sql.SQL(" and ").join(bounds)) if bounds else sql.SQL("true"))
        return sql.SQL("({})").format(sql.SQL(" or ").join(conditions))


def side_query(
    columns: Sequence[HashedColumn],
    key: Sequence[str],
    relation: sql.Composable,
    *,
    masks: dict[str, str],
    live: sql.Composable,
    hash_function: HashFunction,
) -> SideQuery:
    """`columns` in the order compared (the key among them)."""
    by_name = {c.name: c for c in columns}
    texts, shown = [], []
    for column in columns:
        mask = masks.get(column.name)
        text = canonical_text(column.base, _value(column, mask))
        shown.append(sql.SQL("left({}, {})").format(text, sql.Literal(SHOWN_CHARACTERS)))
        if column.base not in PLAIN_TEXT or mask is not None:
            text = _length_prefixed(text, hash_function)
        if not column.not_null or mask is not None:
            text = sql.SQL("coalesce({}, {})").format(text, sql.Literal(NULL_MARK))
        texts.append((column.name, text))
    keys = tuple(
        sql.SQL("coalesce({}, {})").format(
            canonical_text(by_name[k].base, _value(by_name[k], None)), sql.Literal(NULL_MARK)
        )
        for k in key
    )
    return SideQuery(
        relation, live, sql.SQL("t.{}").format(sql.Identifier(key[0])), keys, tuple(texts), hash_function, tuple(shown)
    )


class PostgresRowHashes(RowHashes):
    """A table's copy hashed by its PostgreSQL server, on one connection."""

    def __init__(self, conn: psycopg.Connection, side: SideQuery, key: Sequence[str], types: dict[str, str]):
        self.conn, self.side, self.key, self.types = conn, side, list(key), types

    def _grouped(self, query: sql.Composable) -> list[tuple]:
        """The rows of a grouping query, run under GROUPING_SETTINGS (the session's own afterwards)."""
        names = list(GROUPING_SETTINGS)
        before = self.conn.execute(
            sql.SQL("select {}").format(
                sql.SQL(", ").join(sql.SQL("current_setting({})").format(sql.Literal(n)) for n in names)
            )
        ).fetchone()
        self._set(GROUPING_SETTINGS)
        try:
            return self.conn.execute(query).fetchall()
        finally:
            if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
                self._set(dict(zip(names, before)))

    def _set(self, settings: dict[str, str]) -> None:
        self.conn.execute(
            sql.SQL("select {}").format(
                sql.SQL(", ").join(
                    sql.SQL("set_config({}, {}, false)").format(sql.Literal(n), sql.Literal(v))
                    for n, v in settings.items()
                )
            )
        )

    def segment_sums(self, segments: Segments) -> Sums:
        side = self.side
        rows = self._grouped(
            sql.SQL("select {seg} as seg, count(*), coalesce(sum({h}), 0) from {rel} t where {live} group by 1").format(
                seg=side.segment(segments), h=side.row_hash(), rel=side.relation, live=side.live
            )
        )
        return {(seg,): (count, total) for seg, count, total in rows}

    def _bucket_columns(self, plan: Segments, depth: int) -> list[sql.Composable]:
        return [self.side.segment(plan), *(self.side.sub_bucket(level) for level in range(1, depth + 1))]

    def _restricted(self, plan: Segments, depth: int, buckets: list[tuple], select: sql.Composable) -> sql.Composed:
        """`select` over the rows in these buckets (paths of length depth + 1 or depth)."""
        side = self.side
        width = len(buckets[0])
        names = [sql.Identifier(f"_rc_b{i}") for i in range(depth + 1)]
        inner = sql.SQL(", ").join(
            sql.SQL("{} as {}").format(expr, name) for expr, name in zip(self._bucket_columns(plan, depth), names)
        )
        values = sql.SQL(", ").join(
            sql.SQL("({})").format(sql.SQL(", ").join(map(sql.Literal, bucket))) for bucket in buckets
        )
        return sql.SQL(
            "select {select} from (select {inner}, t.* from {rel} t where {live} and {segments}) t "
            "where ({path}) in (values {values})"
        ).format(
            select=select,
            inner=inner,
            rel=side.relation,
            live=side.live,
            segments=side.predicate(plan, [b[0] for b in buckets]),
            path=sql.SQL(", ").join(names[:width]),
            values=values,
        )

    def bucket_sums(self, segments: Segments, depth: int, buckets: list[tuple[int, ...]]) -> Sums:
        path = sql.SQL(", ").join(sql.Identifier(f"_rc_b{i}") for i in range(depth + 1))
        query = self._restricted(
            segments, depth, buckets, sql.SQL("{}, count(*), coalesce(sum({}), 0)").format(path, self.side.row_hash())
        )
        query = sql.SQL("{} group by {}").format(query, path)
        return {tuple(row[: depth + 1]): (row[depth + 1], row[depth + 2]) for row in self._grouped(query)}

    def rows(self, segments: Segments, depth: int, buckets: list[tuple[int, ...]]) -> dict:
        side = self.side
        select = sql.SQL("array[{}]::text[], array[{}]::bigint[], array[{}]::text[]").format(
            sql.SQL(", ").join(side.keys),
            sql.SQL(", ").join(side.hash(text, 0) for _, text in side.columns),
            sql.SQL(", ").join(side.shown),
        )
        rows = self.conn.execute(self._restricted(segments, depth, buckets, select)).fetchall()
        return {tuple(key): (tuple(hashes), tuple(texts)) for key, hashes, texts in rows}

    def total(self) -> tuple[Any, Any]:
        side = self.side
        return self.conn.execute(
            sql.SQL("select count(*), coalesce(sum({h}), 0) from {rel} t where {live}").format(
                h=side.row_hash(), rel=side.relation, live=side.live
            )
        ).fetchone()

    def of_keys(self, keys: Sequence[Sequence[Any]]) -> dict[tuple[str, ...], int]:
        # The keys as typed arrays: the table's key index finds them.
        side = self.side
        rows = self.conn.execute(
            sql.SQL(
                "select array[{keys}]::text[], {hash} from {t} t where ({cols}) in (select * from unnest({arrays}))"
            ).format(
                keys=sql.SQL(", ").join(side.keys),
                hash=side.row_hash(),
                t=side.relation,
                cols=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(k)) for k in self.key),
                arrays=sql.SQL(", ").join(sql.SQL("%s::{}[]").format(sql.SQL(self.types[k])) for k in self.key),
            ),
            [[row[i] for row in keys] for i in range(len(self.key))],
        ).fetchall()
        return {tuple(key): digest for key, digest in rows}


def row_hashes(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    columns: Sequence[HashedColumn],
    key: Sequence[str],
    masks: dict[str, str],
    *,
    portable: bool,
    live: sql.Composable | None = None,
) -> PostgresRowHashes:
    """See SourceEngine.row_hashes; `live`: which rows count (a condition on alias t), all where None."""
    side = side_query(
        columns,
        key,
        catalog.qualified(schema, table),
        masks=masks,
        live=live or sql.SQL("true"),
        hash_function=HashFunction(portable=portable),
    )
    return PostgresRowHashes(conn, side, key, {c.name: c.type for c in columns})
