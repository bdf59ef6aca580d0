"""How the generic traffic (generic_traffic.py) speaks to each engine it writes: one small object per
engine holding its SQL (quoting, placeholders, reading a written row back), the values it makes for
the engine's types, its catalog, its errors, and how the ledger is checked against its tables. The
writer itself (GenericApp) holds no SQL and asks its side's dialect.

- PostgreSQL (a PostgreSQL source, and `app` on the target): `returning` hands back each written row;
  its ledger line holds the md5 of the row's JSON (ledger.row_digest: exact, -0 is not 0).
- MySQL and MariaDB (a MySQL-family source): no `returning`, so a written row is read back by its key
  in the same transaction (an AUTO_INCREMENT key from LAST_INSERT_ID); its ledger line holds the row's
  canonical hash (harness/reconcile/checksums.py's rules, computed by harness/engines/mysql/checksums.py
  with the table's masks, as load copies it), which landing's copy hashes to equally
  (harness/demo/ledger.py), and so does the legacy table after a fallback (MysqlDialect.check).
"""

from __future__ import annotations

import json
import random
import re
import string
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import psycopg
import pymysql
from psycopg import sql

from harness.core.errors import ConnectionFailed
from harness.demo import ledger
from harness.demo.traffic import TRANSIENT, Errors, postgres_errors
from harness.engines import engine_named
from harness.engines.base import CatalogTable
from harness.engines.mysql import catalog as mysql_catalog
from harness.engines.mysql import checksums as mysql_checksums
from harness.engines.mysql import describe as mysql_describe
from harness.engines.mysql import types as mysql_types
from harness.engines.postgres import describe as postgres_describe

if TYPE_CHECKING:
    from harness.demo.generic_traffic import Reference, Shape

RECENT_ROWS = 200  # updates, deletes and parents pick among the newest rows by key (an index scan)


@dataclass
class Written:
    """A row as a write left it: its key, what its ledger line says of its content, its image (PostgreSQL's
    jsonb of the row, for the new side's legacy form; None where the engine gives none)."""

    key: dict
    content: dict
    image: dict | None = None
    texts: dict | None = None  # each column's value as JSON text (ledger.row_texts), PostgreSQL only


class Dialect:
    """What differs between engines, for the generic traffic."""

    engine: str
    errors: Errors

    def describe(self, conn, schema: str) -> list[CatalogTable]:
        return engine_named(self.engine).describe_tables(conn, schema)

    def prepare(self, conn) -> None:
        """Set a writer's session up before its first transaction (once per session)."""

    def filled_by_server(self, conn, schema: str, table: str) -> tuple[set[str], set[str]]:
        """(the column the server numbers, the columns it computes): never written by the traffic."""
        return set(), set()

    def landing_types(self, conn, schema: str, tables: list[CatalogTable]) -> dict[str, dict[str, str]]:
        """Each table's columns as PostgreSQL types: as landing holds them."""
        return {t.name: {c.name: c.type for c in t.columns} for t in tables}

    # Implemented per engine: name, rows, is_integer, is_text, value_for, counter_top, pick, parent_values,
    # insert, update, delete, check.


# --- PostgreSQL ----------------------------------------------------------------------------------------

INTEGER_LIMITS = {"smallint": 32_767, "integer": 2_147_483_647, "bigint": 9_223_372_036_854_775_807}
TEXT_TYPES = ("text", "character varying", "varchar")


def postgres_value(
    type_: str, rng: random.Random | None, own: dict[str, tuple[str, list[str]]] | None = None
) -> object | None:
    """A value of this type as text (cast by the server), or None for a type this traffic cannot make.
    With rng None: only whether it can. `own`: the database's own types (describe.own_type_shapes)."""
    rng = rng or random.Random(0)
    own = own or {}
    base, _, args = type_.partition("(")
    base = base.strip()
    size = _sizes(args)
    if type_.endswith("[]"):
        inner = postgres_value(type_[:-2], rng, own)
        if inner is None or rng.random() < SPECIAL_SHARE:
            return None if inner is None else rng.choice(["{}", "{NULL}"])
        return "{" + _quoted(str(inner), "\\") + "}"
    if type_ in own:
        return _own_value(*own[type_], rng, own)
    special = [v for v in SPECIAL.get(base, ()) if not size or base not in TEXT_LIKE or len(v) <= size[0]]
    if special and rng.random() < SPECIAL_SHARE:
        return rng.choice(special)
    if base in INTEGER_LIMITS:
        return str(rng.randint(1, 30_000))
    if base == "numeric":
        return _decimal(size, rng)
    if base in ("real", "double precision"):
        return f"{rng.uniform(1, 10_000):.3f}"
    if base in TEXT_LIKE:
        return _letters(size, rng)
    if base == "boolean":
        return rng.choice(["true", "false"])
    if base == "date":
        return _date(rng).isoformat()
    if base.startswith("timestamp"):
        return _moment(rng).isoformat() + ("+00" if "with time zone" in base or base == "timestamptz" else "")
    if base.startswith("time"):
        return _clock(rng) + (f"{rng.randint(-12, 14):+03d}" if "with time zone" in base or base == "timetz" else "")
    if base == "interval":
        seconds = f"{rng.randrange(1, 10**6)}.{rng.randrange(10**6):06d}"
        return f"{rng.randrange(25)} mons {rng.randrange(-40, 40)} days {seconds} seconds"
    if base == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128)))
    if base in ("json", "jsonb"):
        return _json(rng)
    if base == "bytea":
        return "\\x" + rng.randbytes(8).hex()
    if base == "money":
        return f"{rng.uniform(1, 1000):.2f}"
    if base == '"char"':
        return rng.choice(string.ascii_lowercase)
    if base == "inet":
        return _address(rng)
    if base == "cidr":
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.0/24"
    if base in ("macaddr", "macaddr8"):
        return ":".join(f"{b:02x}" for b in rng.randbytes(6 if base == "macaddr" else 8))
    if base in ("bit", "bit varying"):
        return "".join(rng.choice("01") for _ in range(size[0] if base == "bit" and size else rng.randint(1, 16)))
    if base == "pg_lsn":
        return f"{rng.randrange(256):X}/{rng.getrandbits(32):X}"
    if base == "xml":
        return f'<a n="{rng.randrange(1000)}">{_letters([], rng)}</a>'
    if base == "tsvector":
        return " ".join(f"{_letters([6], rng)}:{i + 1}{rng.choice('ABCD')}" for i in range(rng.randint(1, 3)))
    if base == "tsquery":
        return f"{_letters([6], rng)} & !{_letters([6], rng)}"
    if base in GEOMETRIC:
        return GEOMETRIC[base](rng)
    if base in RANGE_SUBTYPES or base.endswith("multirange") and base.replace("multi", "") in RANGE_SUBTYPES:
        made = _range(RANGE_SUBTYPES[base.replace("multi", "")], rng, pair=base.endswith("multirange"))
        return "{" + made + "}" if base.endswith("multirange") else made
    return None


TEXT_LIKE = ("text", "character varying", "varchar", "character", "char", "bpchar", "citext", "name")
# Now and then a type's special values, the edges an exact migration must keep: -0, NaN, infinities,
# empty text, text that reads NULL, JSON null, empty ranges, bit strings, arrays and vectors.
SPECIAL_SHARE = 0.15
SPECIAL = {
    "real": ("-0", "NaN", "Infinity", "-Infinity", "1.4e-45"),
    "double precision": ("-0", "NaN", "Infinity", "-Infinity", "4.9406564584124654e-324", "0.30000000000000004"),
    "numeric": ("NaN", "-0.000", "1.10"),
    "date": ("infinity", "-infinity"),
    "timestamp without time zone": ("infinity", "-infinity"),
    "timestamp with time zone": ("infinity", "-infinity"),
    "time without time zone": ("24:00:00",),
    "time with time zone": ("24:00:00+14", "00:00:00-15:59"),
    "interval": ("0", "24:00:00", "1 mon -30 days"),
    **{t: ("", "NULL", "é😀") for t in TEXT_LIKE},
    "bytea": ("\\x",),
    "json": ("null", '"null"', "[]", ' { "b" : 1, "b" : 2 } '),
    "jsonb": ("null", '"null"', "[]"),
    "bit varying": ("",),
    "tsvector": ("",),
    "money": ("0", "-0.01"),
    "point": ("(-0,0)",),
    "uuid": ("00000000-0000-0000-0000-000000000000",),
    **{t: ("empty",) for t in ("int4range", "int8range", "numrange", "daterange", "tsrange", "tstzrange")},
    **{t: ("{}",) for t in ("int4multirange", "int8multirange", "nummultirange", "datemultirange")},
}


def _own_value(kind: str, parts: list[str], rng: random.Random, own: dict) -> str | None:
    """A value of an enum (one of its labels), a composite (each attribute's value), a domain (its base
    type's) or a range of the database's own."""
    if kind == "e":
        return rng.choice(parts) if parts else None
    if kind == "d":
        return postgres_value(parts[0], rng, own)
    if kind == "r":
        return "empty" if rng.random() < SPECIAL_SHARE else _range(parts[0], rng, pair=False)
    if rng.random() < SPECIAL_SHARE:
        return "(" + "," * (len(parts) - 1) + ")"  # every attribute null: a value, not a NULL
    made = [postgres_value(p, rng, own) for p in parts]
    if any(m is None for m in made):
        return None
    return "(" + ",".join(_quoted(str(m), '"') for m in made) + ")"


def _quoted(text: str, quote_escape: str) -> str:
    """An element of an array literal (quote_escape \\) or a field of a composite literal ("): in double
    quotes, backslashes and quotes escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', quote_escape + '"') + '"'


def _range(subtype: str, rng: random.Random, *, pair: bool) -> str | None:
    """A range (or, with pair, two disjoint ranges of a multirange) of ordered values of the subtype."""
    bounds = sorted({_ordered(subtype, rng) for _ in range(4 if pair else 2)})
    if None in bounds or len(bounds) < (4 if pair else 2):
        return None if None in bounds else "empty" if not pair else ""
    quoted = [f'"{b}"' for b in bounds]
    if pair:
        return f"[{quoted[0]},{quoted[1]}),[{quoted[2]},{quoted[3]}]"
    return f"[{quoted[0]},{quoted[1]})"


def _ordered(subtype: str, rng: random.Random) -> object | None:
    """A value of a range's subtype that Python orders as the server does."""
    base = subtype.partition("(")[0]
    if base in INTEGER_LIMITS:
        return rng.randint(-30_000, 30_000)
    if base in ("numeric", "real", "double precision"):
        return Decimal(rng.randrange(-(10**6), 10**6)) / 100
    if base == "date":
        return _date(rng)
    if base.startswith("timestamp"):
        return _moment(rng).replace(tzinfo=UTC) if "with time zone" in base else _moment(rng)
    return None


def _point(rng: random.Random) -> str:
    return f"({rng.uniform(-100, 100):.3f},{rng.uniform(-100, 100):.3f})"


GEOMETRIC = {
    "point": _point,
    "line": lambda rng: f"{{{rng.randint(1, 9)},{rng.randint(-9, 9)},{rng.uniform(-9, 9):.2f}}}",
    "lseg": lambda rng: f"[{_point(rng)},{_point(rng)}]",
    "box": lambda rng: f"{_point(rng)},{_point(rng)}",
    "path": lambda rng: ("[{}]" if rng.random() < 0.5 else "({})").format(",".join(_point(rng) for _ in range(3))),
    "polygon": lambda rng: "(" + ",".join(_point(rng) for _ in range(3)) + ")",
    "circle": lambda rng: f"<{_point(rng)},{rng.uniform(0.1, 50):.3f}>",
}
RANGE_SUBTYPES = {
    "int4range": "integer",
    "int8range": "bigint",
    "numrange": "numeric",
    "daterange": "date",
    "tsrange": "timestamp without time zone",
    "tstzrange": "timestamp with time zone",
}


def _sizes(args: str) -> list[int]:
    return [int(a) for a in args.rstrip(")").replace(" ", "").split(",") if a.isdigit()] if args else []


def _decimal(size: list[int], rng: random.Random) -> str:
    precision, scale = (size + [18, 0] if len(size) == 1 else size + [18, 2])[:2] if size else (18, 2)
    top = min(10 ** (precision - scale) - 1, 99_999)
    return f"{rng.uniform(1, max(top, 1)):.{scale}f}"


def _letters(size: list[int], rng: random.Random) -> str:
    length = size[0] if size else 24
    return "".join(rng.choices(string.ascii_lowercase, k=max(1, min(length, 16))))


def _date(rng: random.Random) -> date:
    return date(2020, 1, 1) + timedelta(days=rng.randrange(2000))


def _moment(rng: random.Random) -> datetime:
    return datetime(2020, 1, 1) + timedelta(seconds=rng.randrange(10**8), microseconds=rng.randrange(10**6))


def _clock(rng: random.Random) -> str:
    return f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"


def _json(rng: random.Random) -> str:
    return json.dumps({"n": rng.randrange(1000), "s": rng.choice("abc")})


def _address(rng: random.Random) -> str:
    return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


class PostgresDialect(Dialect):
    """PostgreSQL: statements composed with psycopg.sql, values cast by the server, `returning` the row."""

    engine = "postgres"

    def __init__(self, transient: tuple[type[Exception], ...] = (*TRANSIENT, psycopg.errors.IntegrityError)):
        self.errors = postgres_errors(transient)
        self.own: dict[str, tuple[str, list[str]]] = {}

    def describe(self, conn, schema: str) -> list[CatalogTable]:
        self.own = postgres_describe.own_type_shapes(conn)  # what a value of an own type is made of
        return super().describe(conn, schema)

    @staticmethod
    def name(*parts: str) -> str:
        """A qualified name, each part quoted."""
        return ".".join('"' + p.replace('"', '""') + '"' for p in parts)

    @staticmethod
    def rows(conn, query: str, params: tuple | list = ()) -> list[tuple]:
        return conn.execute(query, params).fetchall()

    def is_integer(self, type_: str) -> bool:
        return type_ in INTEGER_LIMITS

    def is_text(self, type_: str) -> bool:
        return type_.partition("(")[0] in TEXT_TYPES

    def value_for(self, type_: str, rng: random.Random | None) -> object | None:
        return postgres_value(type_, rng, self.own)

    def counter_top(self, conn, schema: str, table: str, column: str) -> int:
        return conn.execute(
            sql.SQL("select coalesce(max({}), 0) from {}").format(sql.Identifier(column), sql.Identifier(schema, table))
        ).fetchone()[0]

    def pick(self, conn, schema: str, shape: Shape, offset: int, *, childless: bool) -> dict | None:
        """One of the newest rows by key (its key columns), or None."""
        row = conn.execute(
            sql.SQL(
                "select jsonb_build_object({pairs}) from {t} t where {where} order by {key} desc limit 1 offset %s"
            ).format(
                pairs=_pairs(shape.key),
                t=sql.Identifier(schema, shape.name),
                where=self._childless(schema, shape) if childless else sql.SQL("true"),
                key=sql.SQL(", ").join(sql.Identifier(c) for c in shape.key),
            ),
            (offset,),
        ).fetchone()
        return row[0] if row else None

    def _childless(self, schema: str, shape: Shape) -> sql.Composable:
        """No foreign key points at the row `t`."""
        return sql.SQL(" and ").join(
            [
                sql.SQL("not exists (select 1 from {c} x where {m})").format(
                    c=sql.Identifier(schema, ref.child),
                    m=sql.SQL(" and ").join(
                        sql.SQL("x.{} = t.{}").format(sql.Identifier(a), sql.Identifier(b))
                        for a, b in zip(ref.columns, ref.parent_columns)
                    ),
                )
                for ref in shape.children
            ]
            or [sql.SQL("true")]
        )

    def parent_values(self, conn, schema: str, ref: Reference, parent: Shape, offset: int) -> dict | None:
        row = conn.execute(
            sql.SQL("select jsonb_build_object({pairs}) from {t} t order by {key} desc limit 1 offset %s").format(
                pairs=_pairs(ref.parent_columns),
                t=sql.Identifier(schema, ref.parent),
                key=sql.SQL(", ").join(sql.Identifier(c) for c in parent.key),
            ),
            (offset,),
        ).fetchone()
        if not row:
            return None
        return {c: row[0][p] for c, p in zip(ref.columns, ref.parent_columns)}

    def _write(self, conn, shape: Shape, statement: sql.Composable, params: list) -> Written | None:
        row = conn.execute(
            # t.*, the row: a column named t would stand for it in to_jsonb(t).
            sql.SQL("{} returning jsonb_build_object({}), {}, to_jsonb(t.*), {}").format(
                statement, _pairs(shape.key), sql.SQL(ledger.row_digest("t")), sql.SQL(ledger.row_texts("t"))
            ),
            params,
        ).fetchone()
        if not row:
            return None
        key, digest, image, texts = row
        if shape.unchecked:
            content = {
                "values": {c: _exactly(v) for c, v in image.items() if c not in shape.unchecked},
                "texts": {c: v for c, v in texts.items() if c not in shape.unchecked},
            }
        else:
            content = {"md5": digest}
        return Written(key, content, image, texts)

    def insert(self, conn, schema: str, shape: Shape, values: dict) -> Written | None:
        columns = list(values)
        statement = sql.SQL("insert into {t} as t ({cols}) values ({vals})").format(
            t=sql.Identifier(schema, shape.name),
            cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            vals=sql.SQL(", ").join(sql.SQL("%s::{}").format(sql.SQL(shape.types[c])) for c in columns),
        )
        return self._write(conn, shape, statement, [_param(values[c]) for c in columns])

    def update(self, conn, schema: str, shape: Shape, assigned: dict, key: dict) -> Written | None:
        statement = sql.SQL("update {t} as t set {assign} where {match}").format(
            t=sql.Identifier(schema, shape.name),
            assign=sql.SQL(", ").join(
                sql.SQL("{} = %s::{}").format(sql.Identifier(c), sql.SQL(shape.types[c])) for c in assigned
            ),
            match=_match(shape),
        )
        params = [*(_param(v) for v in assigned.values()), *(json.dumps(key[c]) for c in shape.key)]
        return self._write(conn, shape, statement, params)

    def delete(self, conn, schema: str, shape: Shape, key: dict) -> bool:
        statement = sql.SQL("delete from {t} as t where {match} and {childless}").format(
            t=sql.Identifier(schema, shape.name), match=_match(shape), childless=self._childless(schema, shape)
        )
        return self._write(conn, shape, statement, [json.dumps(key[c]) for c in shape.key]) is not None

    def check(self, conn, schema: str, final: dict[str, dict[str, dict]]) -> ledger.LedgerCheck:
        return ledger.check(conn, schema, final)


def _pairs(columns: list[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL("{}, t.{}").format(sql.Literal(c), sql.Identifier(c)) for c in columns)


def _match(shape: Shape) -> sql.Composable:
    """The key columns equal to parameters given as JSON values (as jsonb_build_object returned them)."""
    return sql.SQL(" and ").join(
        sql.SQL("t.{} = (%s::jsonb #>> '{{}}')::{}").format(sql.Identifier(c), sql.SQL(shape.types[c]))
        for c in shape.key
    )


def _exactly(value: object) -> object:
    """A ledger value that must be held as it is (a list there means any one of its items)."""
    return [value] if isinstance(value, list) else value


def _param(value: object) -> object:
    return value if value is None or isinstance(value, str) else str(value)


# --- MySQL and MariaDB ---------------------------------------------------------------------------------

MYSQL_INTEGERS = ("tinyint", "smallint", "mediumint", "int", "integer", "bigint")
MYSQL_TEXTS = ("char", "varchar")
# Errors of a write the application made by mistake (a duplicate key drawn twice, a parent deleted
# meanwhile, a check refused) or of contention (deadlock, lock wait timeout): rolled back, retried.
MYSQL_REFUSED_BY_CONSTRAINT = {1062, 1451, 1452, 1213, 1205, 3819, 4025, 1048}
# A write freeze (harness/engines/mysql/freeze.py): its triggers SIGNAL, its revoked grants deny.
MYSQL_FROZEN = {1644, 1142, 1290}


def _mysql_code(exc: BaseException) -> int | None:
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


def _base(type_: str) -> tuple[str, list[int], bool]:
    """A MySQL COLUMN_TYPE's base name, its sizes, whether unsigned: "decimal(10,2) unsigned" → ..."""
    name, _, rest = type_.lower().partition("(")
    args, _, after = rest.partition(")")
    return name.split()[0] if name.split() else name, _sizes(args + ")") if rest else [], "unsigned" in type_.lower()


def mysql_value(type_: str, rng: random.Random | None) -> object | None:
    """A value of this MySQL column type as PyMySQL sends it, or None for a type this traffic cannot make.
    With rng None: only whether it can."""
    rng = rng or random.Random(0)
    base, size, _ = _base(type_)
    if base == "tinyint":
        return rng.randint(0, 1) if size == [1] else rng.randint(1, 100)
    if base in MYSQL_INTEGERS:
        return rng.randint(1, 30_000)
    if base in ("decimal", "numeric"):
        return _decimal(size, rng)
    if base in ("float", "double", "real"):
        return f"{rng.uniform(1, 10_000):.3f}"
    if base in ("char", "varchar", "tinytext", "text", "mediumtext", "longtext"):
        return _letters(size, rng)
    if base == "enum":
        return rng.choice(mysql_types.members(type_))
    if base == "set":
        members = mysql_types.members(type_)
        return ",".join(m for m in members if rng.random() < 0.5)
    if base == "date":
        return _date(rng).isoformat()
    if base in ("datetime", "timestamp"):
        return _moment(rng).isoformat(sep=" ")
    if base == "time":
        return _clock(rng)
    if base == "year":
        return rng.randint(1990, 2030)
    if base == "bit":
        return rng.getrandbits(min(size[0] if size else 1, 62))
    if base in ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"):
        return rng.randbytes(min(size[0] if size else 8, 8))
    if base == "json":
        return _json(rng)
    if base == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128)))
    if base == "inet4":
        return _address(rng)
    return None


def _mysql_errors() -> Errors:
    return Errors(
        transient=lambda exc: (
            isinstance(exc, pymysql.err.IntegrityError) or _mysql_code(exc) in MYSQL_REFUSED_BY_CONSTRAINT
        ),
        refused=lambda exc: _mysql_code(exc) in MYSQL_FROZEN,
        failed=(pymysql.err.Error,),
        dropped=(ConnectionFailed, pymysql.err.OperationalError),
        closed=lambda conn: not conn.open,
    )


@dataclass
class _Hashing:
    """How a written row is read back: its key columns and canonical row hash (harness/engines/mysql/checksums.py)."""

    relation: str
    row_hash: str
    columns: list[str]  # the table's own columns, as selected after the hash


class MysqlDialect(Dialect):
    """MySQL and MariaDB through PyMySQL: backquoted names, %s placeholders, no `returning`."""

    engine = "mysql"

    def __init__(self, masks: dict[str, dict[str, str]] | None = None):
        self.masks = masks or {}  # each table's masks, as migration.yml names them
        self.errors = _mysql_errors()
        self._hashing: dict[tuple[str, str, tuple[str, ...]], _Hashing] = {}
        self._prepared: weakref.WeakSet = weakref.WeakSet()

    def prepare(self, conn) -> None:
        # READ COMMITTED, so that the read-back after a write (_read_back) sees the row as it commits.
        # Under REPEATABLE READ it read the transaction's older snapshot: an UPDATE that matched nothing
        # (the row deleted and committed since) still found the old row, and the ledger acknowledged it.
        if conn not in self._prepared:
            conn.execute("set session transaction isolation level read committed")
            self._prepared.add(conn)

    def filled_by_server(self, conn, schema: str, table: str) -> tuple[set[str], set[str]]:
        return mysql_describe.filled_by_server(conn, schema, table)

    def landing_types(self, conn, schema: str, tables: list[CatalogTable]) -> dict[str, dict[str, str]]:
        return {t.name: {c.name: c.type for c in mysql_catalog.source_columns(conn, schema, t.name)} for t in tables}

    def is_integer(self, type_: str) -> bool:
        return _base(type_)[0] in MYSQL_INTEGERS

    def is_text(self, type_: str) -> bool:
        return _base(type_)[0] in MYSQL_TEXTS

    value_for = staticmethod(mysql_value)

    @staticmethod
    def _name(*parts: str) -> str:
        return ".".join(mysql_catalog.quoted(p) for p in parts)

    name = _name

    @staticmethod
    def rows(conn, query: str, params: tuple | list = ()) -> list[tuple]:
        return conn.execute(query, params)

    def counter_top(self, conn, schema: str, table: str, column: str) -> int:
        ((top,),) = conn.execute(f"select coalesce(max({self._name(column)}), 0) from {self._name(schema, table)}")
        return int(top)

    def _key_of(self, shape: Shape, values: tuple) -> dict:
        """A key as MySQL hands it over (text), in the ledger's JSON: integers as numbers, the rest as text."""
        return {
            c: (int(v) if self.is_integer(shape.types[c]) else v.decode() if isinstance(v, bytes) else v)
            for c, v in zip(shape.key, values)
        }

    def _childless(self, schema: str, shape: Shape) -> str:
        conditions = [
            f"not exists (select 1 from {self._name(schema, ref.child)} x where "
            + " and ".join(f"x.{self._name(a)} = t.{self._name(b)}" for a, b in zip(ref.columns, ref.parent_columns))
            + ")"
            for ref in shape.children
        ]
        return " and ".join(conditions) or "true"

    def pick(self, conn, schema: str, shape: Shape, offset: int, *, childless: bool) -> dict | None:
        key = ", ".join(f"t.{self._name(c)}" for c in shape.key)
        order = ", ".join(f"t.{self._name(c)} desc" for c in shape.key)
        rows = conn.execute(
            f"select {key} from {self._name(schema, shape.name)} t "
            f"where {self._childless(schema, shape) if childless else 'true'} order by {order} limit 1 offset %s",
            (offset,),
        )
        return self._key_of(shape, rows[0]) if rows else None

    def parent_values(self, conn, schema: str, ref: Reference, parent: Shape, offset: int) -> dict | None:
        columns = ", ".join(f"t.{self._name(c)}" for c in ref.parent_columns)
        order = ", ".join(f"t.{self._name(c)} desc" for c in parent.key)
        rows = conn.execute(
            f"select {columns} from {self._name(schema, ref.parent)} t order by {order} limit 1 offset %s", (offset,)
        )
        if not rows:
            return None
        return {
            c: (int(v) if self.is_integer(parent.types[p]) else v)
            for c, p, v in zip(ref.columns, ref.parent_columns, rows[0])
        }

    def _match(self, shape: Shape, alias: str = "t.") -> str:
        return " and ".join(f"{alias}{self._name(c)} = %s" for c in shape.key)

    def hashing(self, conn, schema: str, table: str, key: list[str]) -> _Hashing:
        """The read-back of one table's rows by key (built once per table)."""
        found = self._hashing.get((schema, table, tuple(key)))
        if found is None:
            columns = mysql_checksums.hashed_columns(conn, schema, table)
            side = mysql_checksums.side_query(
                schema, table, mysql_catalog.columns(conn, schema, table), columns, key, self.masks.get(table, {})
            )
            own = [c.name for c in mysql_catalog.source_columns(conn, schema, table)]
            found = _Hashing(side.relation, side.row_hash().replace("%", "%%"), own)
            self._hashing[(schema, table, tuple(key))] = found
        return found

    def _read_back(self, conn, schema: str, shape: Shape, key: dict) -> Written | None:
        hashing = self.hashing(conn, schema, shape.name, shape.key)
        columns = ", ".join(f"t.{self._name(c)}" for c in shape.key)
        rows = conn.execute(
            f"select {columns}, {hashing.row_hash} from {hashing.relation} where {self._match(shape)}",
            [key[c] for c in shape.key],
        )
        if not rows:
            return None
        *values, digest = rows[0]
        return Written(self._key_of(shape, tuple(values)), {"hash": int(digest)})

    def insert(self, conn, schema: str, shape: Shape, values: dict) -> Written | None:
        columns = list(values)
        with conn.cursor() as cur:
            cur.execute(
                f"insert into {self._name(schema, shape.name)} ({', '.join(self._name(c) for c in columns)}) "
                f"values ({', '.join(['%s'] * len(columns))})",
                [values[c] for c in columns],
            )
            numbered = cur.lastrowid  # LAST_INSERT_ID(): the AUTO_INCREMENT key the server gave
        key = {c: values.get(c, numbered) for c in shape.key}
        return self._read_back(conn, schema, shape, key)

    def update(self, conn, schema: str, shape: Shape, assigned: dict, key: dict) -> Written | None:
        # The row is locked by the update even where its values were already these (MySQL then counts
        # it unchanged): read back under READ COMMITTED (prepare), it is the row as this transaction commits
        # it, or gone.
        conn.execute(
            f"update {self._name(schema, shape.name)} t set "
            + ", ".join(f"t.{self._name(c)} = %s" for c in assigned)
            + f" where {self._match(shape)}",
            [*assigned.values(), *(key[c] for c in shape.key)],
        )
        return self._read_back(conn, schema, shape, {**key, **{c: v for c, v in assigned.items() if c in shape.key}})

    def delete(self, conn, schema: str, shape: Shape, key: dict) -> bool:
        # MySQL refuses a subquery on the table a DELETE writes (a self-reference), so the children are
        # looked for first, with a locking read: its gap locks keep a child from being added until commit.
        for ref in shape.children:
            joined = " and ".join(
                f"x.{self._name(a)} = p.{self._name(b)}" for a, b in zip(ref.columns, ref.parent_columns)
            )
            match = " and ".join(f"p.{self._name(c)} = %s" for c in shape.key)
            if conn.execute(
                f"select 1 from {self._name(schema, ref.child)} x join {self._name(schema, shape.name)} p "
                f"on {joined} where {match} limit 1 for update",
                [key[c] for c in shape.key],
            ):
                return False
        with conn.cursor() as cur:
            return bool(
                cur.execute(
                    f"delete from {self._name(schema, shape.name)} where {self._match(shape, alias='')}",
                    [key[c] for c in shape.key],
                )
            )

    def check(self, conn, schema: str, final: dict[str, dict[str, dict]]) -> ledger.LedgerCheck:
        """The entries against the MySQL tables: a `hash` entry by the canonical row hash, a `values`
        entry (the new application's writes in their legacy form) by each value, a delete by absence."""
        result = ledger.LedgerCheck()
        for table, entries in final.items():
            keys = list(next(iter(entries.values()))["key"])
            hashing = self.hashing(conn, schema, table, keys)
            selected = ", ".join(f"t.{self._name(c)}" for c in [*keys, *hashing.columns])
            found: dict[tuple, tuple] = {}
            listed = list(entries.values())
            for start in range(0, len(listed), 500):
                chunk = listed[start : start + 500]
                where = " or ".join("(" + " and ".join(f"t.{self._name(k)} = %s" for k in keys) + ")" for _ in chunk)
                for row in conn.execute(
                    f"select {hashing.row_hash}, {selected} from {hashing.relation} where {where}",
                    [e["key"][k] for e in chunk for k in keys],
                ):
                    found[_key_text(row[1 : 1 + len(keys)])] = (
                        int(row[0]),
                        dict(zip(hashing.columns, row[1 + len(keys) :])),
                    )
            for entry in listed:
                result.checked += 1
                label = f"{table} {json.dumps(entry['key'], sort_keys=True)}"
                row = found.get(_key_text(entry["key"][k] for k in keys))
                if entry["op"] == "D":
                    if row is not None:
                        result.resurrected.append(label)
                elif row is None:
                    result.missing.append(label)
                elif _differs(entry, *row):
                    result.wrong.append(label)
        conn.rollback()
        return result


def _differs(entry: dict, row_hash: int, row: dict) -> bool:
    if "hash" in entry:
        return row_hash != entry["hash"]
    return not all(_holds_value(row.get(c), want) for c, want in (entry.get("values") or {}).items())


def _key_text(values) -> tuple:
    return tuple(None if v is None else v.decode() if isinstance(v, bytes) else str(v) for v in values)


def _holds_value(text: Any, want: Any) -> bool:
    """A MySQL value (its text, bytes for a binary column) holds a value as PostgreSQL's jsonb gives it
    (a list: any one of its items, as generic_traffic._exactly writes a value that must be held)."""
    if isinstance(want, list):
        return any(_holds_one(text, w) for w in want)
    return _holds_one(text, want)


TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _holds_one(text: Any, want: Any) -> bool:
    if text is None or want is None:
        return text is None and want is None
    if isinstance(text, bytes):
        return isinstance(want, str) and want == "\\x" + text.hex()
    if isinstance(want, list):  # a text[] (a SET's members, in the SET's order)
        return text == ",".join(map(str, want))
    if isinstance(want, bool):
        return text in ("1", "0") and (text == "1") == want
    if isinstance(want, int):
        return text == str(want) or _number(text) == want
    if isinstance(want, float):
        number = _number(text)  # a float4 and MySQL's FLOAT print different digits of one value
        return number is not None and abs(float(number) - want) <= 1e-6 * max(abs(want), 1e-30)
    if isinstance(want, dict):
        try:
            return json.loads(text) == want
        except ValueError:
            return False
    if isinstance(want, str) and TIMESTAMP.match(want) and TIMESTAMP.match(text):
        return _instant(text) == _instant(want)
    return text == want


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _instant(text: str) -> datetime:
    """A timestamp's text as a naive UTC moment (MySQL's session is in UTC; jsonb writes an offset)."""
    moment = datetime.fromisoformat(text)
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def dialect_for(engine: str, masks: dict[str, dict[str, str]] | None = None) -> Dialect:
    """The dialect of a side's engine (source.engine in migration.yml; the target is PostgreSQL)."""
    return MysqlDialect(masks) if engine == "mysql" else PostgresDialect()
