"""Traffic for any schema: an application writing the source's tables as they are, and, once the
routing says so, the new application writing `app` on the target, every acknowledged commit in a
ledger (harness/demo/ledger.py). It knows no table in advance: it reads the catalog of the side it
writes (keys from migration.yml on the source, the primary keys of `app` on the target, the
declared foreign keys on both) and writes what the catalog allows:

- inserts, each foreign key pointing at an existing parent row (or null where it may be);
- updates of one or two columns, and changes of a key (only of a row no foreign key points at);
- deletes (only of a row no foreign key points at);
- transactions held open for a while, so that commits arrive out of order.

A write a constraint refuses (a check, a unique value drawn twice, a parent deleted meanwhile) is
rolled back and never acknowledged, as in any application.

The ledger lines of the new application also say what the row must be in the source after a
fallback (`legacy`: table, key and the values of the columns the reverse mapping carries back as
they are), from the dbt project's mapping metadata: one ledger proves cutover and fallback.
"""

from __future__ import annotations

import json
import random
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from harness.core import connections
from harness.core.config import Config
from harness.demo import ledger
from harness.demo.traffic import TRANSIENT, TrafficReport, drive
from harness.engines import engine_named
from harness.engines.base import CatalogTable
from harness.target.provision import APP_SCHEMA

# A refused write of this kind is the application's own mistake, not a lost write: rolled back, retried.
REFUSED_BY_CONSTRAINT = (*TRANSIENT, psycopg.errors.IntegrityError)
RECENT_ROWS = 200  # updates, deletes and parents pick among the newest rows by key (an index scan)
INTEGER_LIMITS = {"smallint": 32_767, "integer": 2_147_483_647, "bigint": 9_223_372_036_854_775_807}


@dataclass
class Reference:
    """A foreign key between two tables of one side: child columns → parent columns."""

    child: str
    columns: list[str]
    parent: str
    parent_columns: list[str]


@dataclass
class Shape:
    """One table as the traffic writes it."""

    name: str
    key: list[str]
    types: dict[str, str]  # column → type as the catalog prints it
    not_null: set[str]
    parents: list[Reference] = field(default_factory=list)
    children: list[Reference] = field(default_factory=list)
    unchecked: set[str] = field(default_factory=set)  # columns not compared by content (masked on the way)
    # The new side: the source table and each app column's source column, where carried back as is.
    legacy_table: str | None = None
    legacy_columns: dict[str, str] = field(default_factory=dict)
    legacy_key: dict[str, str] = field(default_factory=dict)  # each app key column's source column

    @property
    def counters(self) -> list[str]:
        """Key columns the traffic numbers itself: integer, not fed by a foreign key."""
        return [c for c in self.key if c not in _fed(self) and self.types[c] in INTEGER_LIMITS]

    @property
    def insertable(self) -> bool:
        fed = _fed(self)
        return all(c in fed or c in self.counters or value_for(self.types[c], None) is not None for c in self.key)

    @property
    def changeable_key(self) -> list[str]:
        return [
            c
            for c in self.key
            if c not in _fed(self) and (c in self.counters or self.types[c].partition("(")[0] in TEXT_TYPES)
        ]


TEXT_TYPES = ("text", "character varying", "varchar")


def value_for(type_: str, rng: random.Random | None) -> object | None:
    """A value of this type as text (cast by the server), or None for a type this traffic cannot make.
    With rng None: only whether it can."""
    rng = rng or random.Random(0)
    base, _, args = type_.partition("(")
    base = base.strip()
    size = [int(a) for a in args.rstrip(")").replace(" ", "").split(",") if a.isdigit()] if args else []
    if type_.endswith("[]"):
        inner = value_for(type_[:-2], rng)
        return None if inner is None else "{" + json.dumps(str(inner)) + "}"
    if base in INTEGER_LIMITS:
        return str(rng.randint(1, 30_000))
    if base == "numeric":
        precision, scale = (size + [18, 2])[:2] if size else (18, 2)
        top = min(10 ** (precision - scale) - 1, 99_999)
        return f"{rng.uniform(1, max(top, 1)):.{scale}f}"
    if base in ("real", "double precision"):
        return f"{rng.uniform(1, 10_000):.3f}"
    if base in ("text", "character varying", "varchar", "character", "char", "bpchar", "citext"):
        length = size[0] if size else 24
        return "".join(rng.choices(string.ascii_lowercase, k=max(1, min(length, 16))))
    if base == "boolean":
        return rng.choice(["true", "false"])
    if base == "date":
        return (date(2020, 1, 1) + timedelta(days=rng.randrange(2000))).isoformat()
    if base.startswith("timestamp"):
        moment = datetime(2020, 1, 1) + timedelta(seconds=rng.randrange(10**8), microseconds=rng.randrange(10**6))
        return moment.isoformat() + ("+00" if "with time zone" in base or base == "timestamptz" else "")
    if base.startswith("time"):
        return f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    if base == "interval":
        return f"{rng.randrange(1, 1000)} minutes"
    if base == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128)))
    if base in ("json", "jsonb"):
        return json.dumps({"n": rng.randrange(1000), "s": rng.choice("abc")})
    if base == "bytea":
        return "\\x" + rng.randbytes(8).hex()
    if base == "money":
        return f"{rng.uniform(1, 1000):.2f}"
    if base == '"char"':
        return rng.choice(string.ascii_lowercase)
    if base == "inet":
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    return None


def shapes(tables: list[CatalogTable], keys: dict[str, list[str]] | None = None) -> dict[str, Shape]:
    """The tables of one side as the traffic writes them; `keys` overrides the catalog's (migration.yml)."""
    result = {}
    for table in tables:
        key = list((keys or {}).get(table.name) or table.primary_key)
        if not key:
            continue
        result[table.name] = Shape(
            table.name,
            key,
            {c.name: c.type for c in table.columns},
            {c.name for c in table.columns if c.not_null},
        )
    for table in tables:
        for fk in table.foreign_keys:
            if table.name in result and fk.parent in result:
                ref = Reference(table.name, list(fk.columns), fk.parent, list(fk.parent_columns))
                result[table.name].parents.append(ref)
                result[fk.parent].children.append(ref)
    return result


def new_side_mapping(config: Config, app_shapes: dict[str, Shape]) -> None:
    """Each app table's source table and the columns a fallback carries back as they are: from the
    dbt project's mapping metadata (meta source_table and each column's source), where the app
    column has the source column's type and the source column is not masked."""
    from harness.dbt import artifacts

    catalog = {t.name: {c.name: c.type for c in t.columns} for t in _source_catalog(config)}
    masked = {t.name: set(t.masks) for t in config.tables}
    for model in artifacts.models(artifacts.load(config.project_dir)):
        table = model.relation.split(".", 1)[1]
        if not model.is_target or table not in app_shapes or model.source_table not in catalog:
            continue
        shape = app_shapes[table]
        shape.legacy_table = model.source_table
        source_types = catalog[model.source_table]
        for column in model.columns:
            refs = column.mapping.sources
            if len(refs) != 1 or refs[0].table not in (None, model.source_table) or column.name not in shape.types:
                continue
            source_column = refs[0].column
            if column.name in shape.key:
                shape.legacy_key[column.name] = source_column
            if source_column in masked.get(model.source_table, ()) and source_column not in shape.key:
                continue
            if source_types.get(source_column) == shape.types[column.name]:
                shape.legacy_columns[column.name] = source_column


def _source_catalog(config: Config) -> list[CatalogTable]:
    source, _ = connections.resolve(config)
    with connections.connection(source, command="demo traffic", autocommit=True) as conn:
        return engine_named("postgres").describe_tables(conn, config.source_schema)


class GenericApp:
    """One writer of one side: inserts, updates, key changes and deletes over the tables' shapes."""

    KINDS = {"insert": 0.4, "update": 0.3, "change_key": 0.1, "delete": 0.2}

    def __init__(self, conn, side: str, schema: str, tables: dict[str, Shape], rng: random.Random, allocate):
        self.conn, self.side, self.schema, self.tables, self.rng, self.allocate = (
            conn,
            side,
            schema,
            tables,
            rng,
            allocate,
        )

    def _t(self, table: str) -> sql.Composed:
        return sql.Identifier(self.schema, table)

    def _pick(self, shape: Shape, where: sql.Composable | None = None) -> dict | None:
        """One of the newest rows by key (its key columns), or None."""
        row = self.conn.execute(
            sql.SQL(
                "select jsonb_build_object({pairs}) from {t} t where {where} order by {key} desc limit 1 offset %s"
            ).format(
                pairs=_pairs(shape.key),
                t=self._t(shape.name),
                where=where or sql.SQL("true"),
                key=sql.SQL(", ").join(sql.Identifier(c) for c in shape.key),
            ),
            (self.rng.randrange(RECENT_ROWS // 10 if self.rng.random() < 0.5 else RECENT_ROWS),),
        ).fetchone()
        return row[0] if row else None

    def _childless(self, shape: Shape) -> sql.Composable:
        """No foreign key points at the row `t`."""
        return sql.SQL(" and ").join(
            [
                sql.SQL("not exists (select 1 from {c} x where {m})").format(
                    c=self._t(ref.child),
                    m=sql.SQL(" and ").join(
                        sql.SQL("x.{} = t.{}").format(sql.Identifier(a), sql.Identifier(b))
                        for a, b in zip(ref.columns, ref.parent_columns)
                    ),
                )
                for ref in shape.children
            ]
            or [sql.SQL("true")]
        )

    def _parent_values(self, ref: Reference) -> dict | None:
        parent = self.tables[ref.parent]
        row = self.conn.execute(
            sql.SQL("select jsonb_build_object({pairs}) from {t} t order by {key} desc limit 1 offset %s").format(
                pairs=_pairs(ref.parent_columns),
                t=self._t(ref.parent),
                key=sql.SQL(", ").join(sql.Identifier(c) for c in parent.key),
            ),
            (self.rng.randrange(RECENT_ROWS),),
        ).fetchone()
        if not row:
            return None
        return {c: row[0][p] for c, p in zip(ref.columns, ref.parent_columns)}

    def _write(self, shape: Shape, statement: sql.Composable, params: list, op: str) -> list[dict]:
        row = self.conn.execute(
            sql.SQL("{} returning jsonb_build_object({}), md5(to_jsonb(t)::text), to_jsonb(t)").format(
                statement, _pairs(shape.key)
            ),
            params,
        ).fetchone()
        return [self._entry(shape, op, *row)] if row else []

    def _entry(self, shape: Shape, op: str, key: dict, digest: str, image: dict) -> dict:
        entry = {"app": self.side, "table": shape.name, "key": key, "op": op, "at": time.time()}
        if op == "D":
            entry["md5"] = None
        elif shape.unchecked:
            entry["values"] = {c: _exactly(v) for c, v in image.items() if c not in shape.unchecked}
        else:
            entry["md5"] = digest
        if shape.legacy_table and len(shape.legacy_key) == len(shape.key):
            entry["legacy"] = {
                "table": shape.legacy_table,
                "key": {shape.legacy_key[c]: key[c] for c in shape.key},
                "values": {} if op == "D" else {s: _exactly(image[c]) for c, s in shape.legacy_columns.items()},
            }
        return entry

    def _choose(self, want) -> Shape | None:
        candidates = [s for s in self.tables.values() if want(s)]
        return self.rng.choice(candidates) if candidates else None

    def insert(self) -> list[dict]:
        shape = self._choose(lambda s: s.insertable)
        if shape is None:
            return []
        values: dict[str, object] = {}
        for ref in shape.parents:
            if ref.parent == shape.name and self.rng.random() < 0.5 and not set(ref.columns) & shape.not_null:
                continue  # a self-reference left empty
            picked = self._parent_values(ref)
            if picked is None:
                if set(ref.columns) & (shape.not_null | set(shape.key)):
                    return []
                continue
            values.update(picked)
        for column in shape.key:
            if column not in values:
                values[column] = (
                    self.allocate(shape.name, column)
                    if column in shape.counters
                    else value_for(shape.types[column], self.rng)
                )
        for column, type_ in shape.types.items():
            if column not in values and (column in shape.not_null or self.rng.random() < 0.8):
                made = value_for(type_, self.rng)
                if made is None and column in shape.not_null:
                    return []
                if made is not None:
                    values[column] = made
        columns = list(values)
        statement = sql.SQL("insert into {t} as t ({cols}) values ({vals})").format(
            t=self._t(shape.name),
            cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            vals=sql.SQL(", ").join(sql.SQL("%s::{}").format(sql.SQL(shape.types[c])) for c in columns),
        )
        return self._write(shape, statement, [_param(values[c]) for c in columns], "I")

    def update(self) -> list[dict]:
        shape = self._choose(lambda s: [c for c in s.types if c not in s.key and c not in _fed(s)])
        if shape is None:
            return []
        free = [c for c in shape.types if c not in shape.key and c not in _fed(shape)]
        chosen = self.rng.sample(free, min(len(free), self.rng.randint(1, 2)))
        assigned = {c: value_for(shape.types[c], self.rng) for c in chosen}
        assigned = {c: v for c, v in assigned.items() if v is not None}
        key = self._pick(shape)
        if not assigned or key is None:
            return []
        return self._write(
            shape,
            sql.SQL("update {t} as t set {assign} where {match}").format(
                t=self._t(shape.name),
                assign=sql.SQL(", ").join(
                    sql.SQL("{} = %s::{}").format(sql.Identifier(c), sql.SQL(shape.types[c])) for c in assigned
                ),
                match=_match(shape),
            ),
            [*(_param(v) for v in assigned.values()), *(json.dumps(key[c]) for c in shape.key)],
            "U",
        )

    def change_key(self) -> list[dict]:
        """A row no foreign key points at gets a new key: the old key is gone, the new one holds the row."""
        shape = self._choose(lambda s: s.changeable_key)
        if shape is None:
            return []
        key = self._pick(shape, self._childless(shape))
        if key is None:
            return []
        column = self.rng.choice(shape.changeable_key)
        new = (
            self.allocate(shape.name, column) if column in shape.counters else _new_text(shape.types[column], self.rng)
        )
        return [self._entry(shape, "D", key, None, {})] + self._write(
            shape,
            sql.SQL("update {t} as t set {c} = %s::{type} where {match}").format(
                t=self._t(shape.name), c=sql.Identifier(column), type=sql.SQL(shape.types[column]), match=_match(shape)
            ),
            [_param(new), *(json.dumps(key[c]) for c in shape.key)],
            "U",
        )

    def delete(self) -> list[dict]:
        shape = self._choose(lambda s: True)
        key = self._pick(shape, self._childless(shape)) if shape else None
        if key is None:
            return []
        return self._write(
            shape,
            sql.SQL("delete from {t} as t where {match} and {childless}").format(
                t=self._t(shape.name), match=_match(shape), childless=self._childless(shape)
            ),
            [json.dumps(key[c]) for c in shape.key],
            "D",
        )


def _pairs(columns: list[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL("{}, t.{}").format(sql.Literal(c), sql.Identifier(c)) for c in columns)


def _match(shape: Shape) -> sql.Composable:
    """The key columns equal to parameters given as JSON values (as jsonb_build_object returned them)."""
    return sql.SQL(" and ").join(
        sql.SQL("t.{} = (%s::jsonb #>> '{{}}')::{}").format(sql.Identifier(c), sql.SQL(shape.types[c]))
        for c in shape.key
    )


def _fed(shape: Shape) -> set[str]:
    """The columns a foreign key of the table feeds."""
    return {c for ref in shape.parents for c in ref.columns}


def _new_text(type_: str, rng: random.Random) -> str:
    """A text key unlikely to be in use: hexadecimal, as long as the column allows (at most 12)."""
    _, _, args = type_.partition("(")
    length = int(args.rstrip(")")) if args.rstrip(")").isdigit() else 12
    return uuid.UUID(int=rng.getrandbits(128)).hex[: min(length, 12)]


def _exactly(value: object) -> object:
    """A ledger value that must be held as it is (a list there means any one of its items)."""
    return [value] if isinstance(value, list) else value


def _param(value: object) -> object:
    return value if value is None or isinstance(value, str) else str(value)


def run_generic_traffic(
    config: Config,
    ledger_path: Path,
    *,
    rate: float,
    duration: float,
    workers: int = 4,
    slow_share: float = 0.02,
    slow_seconds: float = 2.0,
    seed: int = 7,
    stop: threading.Event | None = None,
    routing_file: Path | None = None,
    start_side: str | None = None,
) -> TrafficReport:
    """Traffic over the tables of migration.yml at `rate` transactions per second, following the
    routing file (the source's tables, then `app` on the target once it says "new")."""
    source, target = connections.resolve(config)
    databases = {"legacy": source, "new": target}
    schemas = {"legacy": config.source_schema, "new": APP_SCHEMA}
    tables: dict[str, dict[str, Shape]] = {}
    counters: dict[tuple[str, str, str], int] = {}
    lock = threading.Lock()

    def refresh(side: str) -> None:
        """Read the side's tables (once), and number new keys above those in use there now."""
        if side not in tables:
            with connections.connection(databases[side], command="demo traffic", autocommit=True) as conn:
                found = engine_named("postgres").describe_tables(conn, schemas[side])
            if side == "legacy":
                listed = {t.name: list(t.key) for t in config.tables}
                shaped = shapes([t for t in found if t.name in listed], listed)
                for table in config.tables:
                    if table.name in shaped:
                        shaped[table.name].unchecked = set(table.masks)
            else:
                shaped = shapes(found)
                new_side_mapping(config, shaped)
            tables[side] = shaped
        with connections.connection(databases[side], command="demo traffic", autocommit=True) as conn:
            tops = {
                (side, shape.name, column): conn.execute(
                    sql.SQL("select coalesce(max({}), 0) from {}").format(
                        sql.Identifier(column), sql.Identifier(schemas[side], shape.name)
                    )
                ).fetchone()[0]
                for shape in tables[side].values()
                for column in shape.counters
            }
        with lock:
            for name, top in tops.items():
                counters[name] = max(counters.get(name, 0), top)

    def make_app(side: str, conn: psycopg.Connection, rng: random.Random) -> GenericApp:
        def allocate(table: str, column: str) -> int:
            with lock:
                counters[(side, table, column)] += 1
                return counters[(side, table, column)]

        return GenericApp(conn, side, schemas[side], tables[side], rng, allocate)

    return drive(
        databases,
        ledger_path,
        make_app,
        GenericApp.KINDS,
        refresh,
        rate=rate,
        duration=duration,
        workers=workers,
        slow_share=slow_share,
        slow_seconds=slow_seconds,
        seed=seed,
        stop=stop,
        routing_file=routing_file,
        start_side=start_side,
        transient=REFUSED_BY_CONSTRAINT,
    )


def verify_after_cutover(config: Config, ledger_path: Path) -> ledger.LedgerCheck:
    """The source application's writes against landing, the new application's against `app`."""
    _, target = connections.resolve(config)
    with connections.connection(target, command="demo traffic") as conn:
        landing = ledger.verify(conn, config.landing_schema, ledger_path, app="legacy")
        new = ledger.check(conn, APP_SCHEMA, ledger.final_entries(ledger.entries(ledger_path, app="new")))
    return _combined(landing, new)


def verify_after_fallback(config: Config, ledger_path: Path) -> ledger.LedgerCheck:
    """Both applications' writes against the source after a fallback: the new application's in their
    legacy form (the source table, key and the values carried back as they are)."""
    in_legacy_form = []
    for entry in ledger.entries(ledger_path, app=None):
        if entry.get("app") == "new":
            legacy = entry.get("legacy")
            if legacy is None:
                continue  # an app table no source table maps to: nothing to carry back
            entry = {"table": legacy["table"], "key": legacy["key"], "op": entry["op"], "values": legacy["values"]}
        in_legacy_form.append(entry)
    source, _ = connections.resolve(config)
    with connections.connection(source, command="demo traffic") as conn:
        return ledger.check(conn, config.source_schema, ledger.final_entries(in_legacy_form))


def _combined(*checks: ledger.LedgerCheck) -> ledger.LedgerCheck:
    combined = ledger.LedgerCheck()
    for check in checks:
        combined.checked += check.checked
        combined.missing += check.missing
        combined.wrong += check.wrong
        combined.resurrected += check.resurrected
    return combined
