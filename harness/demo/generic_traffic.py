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

The source may be PostgreSQL or MySQL/MariaDB (`source.engine`); what differs between them (SQL,
values, catalog, errors, how a ledger line describes a row) is the side's dialect (dialects.py).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from harness.core import connections
from harness.core.config import Config
from harness.demo import ledger
from harness.demo.dialects import RECENT_ROWS, Dialect, PostgresDialect, Written, dialect_for
from harness.demo.traffic import TrafficReport, drive
from harness.engines.base import CatalogTable
from harness.target.provision import APP_SCHEMA


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
    # What the side's dialect says of the columns' types.
    integers: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)  # text a key change can give a new value
    makeable: set[str] = field(default_factory=set)  # the traffic can make a value of its type
    numbered: set[str] = field(default_factory=set)  # the server numbers it (AUTO_INCREMENT): never written
    computed: set[str] = field(default_factory=set)  # the server computes it (generated): never written
    # The new side: the source table and each app column's source column, where carried back as is.
    legacy_table: str | None = None
    legacy_columns: dict[str, str] = field(default_factory=dict)
    legacy_key: dict[str, str] = field(default_factory=dict)  # each app key column's source column

    @property
    def counters(self) -> list[str]:
        """Key columns the traffic numbers itself: integer, not fed by a foreign key nor by the server."""
        return [c for c in self.key if c not in _fed(self) and c in self.integers and c not in self.numbered]

    @property
    def insertable(self) -> bool:
        fed = _fed(self)
        return all(c in fed or c in self.counters or c in self.numbered or c in self.makeable for c in self.key)

    @property
    def changeable_key(self) -> list[str]:
        return [
            c
            for c in self.key
            if c not in _fed(self) and c not in self.numbered and (c in self.counters or c in self.texts)
        ]

    @property
    def writable(self) -> list[str]:
        """The columns an insert or update may set."""
        return [c for c in self.types if c not in self.numbered and c not in self.computed]


def shapes(
    tables: list[CatalogTable], keys: dict[str, list[str]] | None = None, dialect: Dialect | None = None
) -> dict[str, Shape]:
    """The tables of one side as the traffic writes them; `keys` overrides the catalog's (migration.yml)."""
    dialect = dialect or PostgresDialect()
    result = {}
    for table in tables:
        key = list((keys or {}).get(table.name) or table.primary_key)
        if not key:
            continue
        types = {c.name: c.type for c in table.columns}
        result[table.name] = Shape(
            table.name,
            key,
            types,
            {c.name for c in table.columns if c.not_null},
            integers={c for c, t in types.items() if dialect.is_integer(t)},
            texts={c for c, t in types.items() if dialect.is_text(t)},
            makeable={c for c, t in types.items() if dialect.value_for(t, None) is not None},
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

    catalog = _source_types(config)
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


def _source_types(config: Config) -> dict[str, dict[str, str]]:
    """Each source table's columns as the PostgreSQL types landing holds them in."""
    source, _ = connections.resolve(config)
    dialect = legacy_dialect(config)
    with connections.connection(source, command="demo traffic", autocommit=True) as conn:
        return dialect.landing_types(conn, config.source_schema, dialect.describe(conn, config.source_schema))


def legacy_dialect(config: Config) -> Dialect:
    """The dialect of the source's engine, with migration.yml's masks (a MySQL row is hashed through them)."""
    return dialect_for(config.source.engine, {t.name: dict(t.masks) for t in config.tables})


class GenericApp:
    """One writer of one side: inserts, updates, key changes and deletes over the tables' shapes, in
    the SQL of the side's dialect."""

    KINDS = {"insert": 0.4, "update": 0.3, "change_key": 0.1, "delete": 0.2}

    def __init__(
        self,
        conn,
        side: str,
        schema: str,
        tables: dict[str, Shape],
        rng: random.Random,
        allocate,
        dialect: Dialect | None = None,
    ):
        self.conn, self.side, self.schema, self.tables, self.rng, self.allocate = (
            conn,
            side,
            schema,
            tables,
            rng,
            allocate,
        )
        self.dialect = dialect or PostgresDialect()
        self.dialect.prepare(conn)

    def _offset(self, newest: bool = True) -> int:
        return self.rng.randrange(RECENT_ROWS // 10 if newest and self.rng.random() < 0.5 else RECENT_ROWS)

    def _pick(self, shape: Shape, *, childless: bool = False) -> dict | None:
        """One of the newest rows by key (its key columns), or None."""
        return self.dialect.pick(self.conn, self.schema, shape, self._offset(), childless=childless)

    def _entry(self, shape: Shape, op: str, key: dict, written: Written | None) -> dict:
        entry = {"app": self.side, "table": shape.name, "key": key, "op": op, "at": time.time()}
        entry.update({"md5": None} if op == "D" or written is None else written.content)
        if shape.legacy_table and len(shape.legacy_key) == len(shape.key):
            carried = {} if op == "D" else shape.legacy_columns
            entry["legacy"] = {
                "table": shape.legacy_table,
                "key": {shape.legacy_key[c]: key[c] for c in shape.key},
                "values": {s: _exactly(written.image[c]) for c, s in carried.items()},
            }
            if written is not None and written.texts is not None:  # checked exactly in a PostgreSQL source
                entry["legacy"]["texts"] = {s: written.texts[c] for c, s in carried.items()}
        return entry

    def _written(self, shape: Shape, op: str, written: Written | None) -> list[dict]:
        return [self._entry(shape, op, written.key, written)] if written else []

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
            picked = self.dialect.parent_values(
                self.conn, self.schema, ref, self.tables[ref.parent], self.rng.randrange(RECENT_ROWS)
            )
            if picked is None:
                if set(ref.columns) & (shape.not_null | set(shape.key)):
                    return []
                continue
            values.update(picked)
        for column in shape.key:
            if column not in values and column not in shape.numbered:
                values[column] = (
                    self.allocate(shape.name, column)
                    if column in shape.counters
                    else self.dialect.value_for(shape.types[column], self.rng)
                )
        for column in shape.writable:
            if column not in values and (column in shape.not_null or self.rng.random() < 0.8):
                made = self.dialect.value_for(shape.types[column], self.rng)
                if made is None and column in shape.not_null:
                    return []
                if made is not None:
                    values[column] = made
        return self._written(shape, "I", self.dialect.insert(self.conn, self.schema, shape, values))

    def update(self) -> list[dict]:
        def free(s: Shape) -> list[str]:
            return [c for c in s.writable if c not in s.key and c not in _fed(s)]

        shape = self._choose(free)
        if shape is None:
            return []
        columns = free(shape)
        chosen = self.rng.sample(columns, min(len(columns), self.rng.randint(1, 2)))
        assigned = {c: self.dialect.value_for(shape.types[c], self.rng) for c in chosen}
        assigned = {c: v for c, v in assigned.items() if v is not None}
        key = self._pick(shape)
        if not assigned or key is None:
            return []
        return self._written(shape, "U", self.dialect.update(self.conn, self.schema, shape, assigned, key))

    def change_key(self) -> list[dict]:
        """A row no foreign key points at gets a new key: the old key is gone, the new one holds the row."""
        shape = self._choose(lambda s: s.changeable_key)
        if shape is None:
            return []
        key = self._pick(shape, childless=True)
        if key is None:
            return []
        column = self.rng.choice(shape.changeable_key)
        new = (
            self.allocate(shape.name, column) if column in shape.counters else _new_text(shape.types[column], self.rng)
        )
        written = self.dialect.update(self.conn, self.schema, shape, {column: new}, key)
        return [self._entry(shape, "D", key, None), *self._written(shape, "U", written)] if written else []

    def delete(self) -> list[dict]:
        shape = self._choose(lambda s: True)
        key = self._pick(shape, childless=True) if shape else None
        if key is None or not self.dialect.delete(self.conn, self.schema, shape, key):
            return []
        return [self._entry(shape, "D", key, None)]


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
    dialects = {"legacy": legacy_dialect(config), "new": PostgresDialect()}
    tables: dict[str, dict[str, Shape]] = {}
    counters: dict[tuple[str, str, str], int] = {}
    lock = threading.Lock()

    def refresh(side: str) -> None:
        """Read the side's tables (once), and number new keys above those in use there now."""
        dialect = dialects[side]
        if side not in tables:
            with connections.connection(databases[side], command="demo traffic", autocommit=True) as conn:
                found = dialect.describe(conn, schemas[side])
                if side == "legacy":
                    listed = {t.name: list(t.key) for t in config.tables}
                    shaped = shapes([t for t in found if t.name in listed], listed, dialect)
                    for table in config.tables:
                        if table.name in shaped:
                            shaped[table.name].unchecked = set(table.masks)
                else:
                    shaped = shapes(found, dialect=dialect)
                for shape in shaped.values():
                    shape.numbered, shape.computed = dialect.filled_by_server(conn, schemas[side], shape.name)
            if side == "new":
                new_side_mapping(config, shaped)
            tables[side] = shaped
        with connections.connection(databases[side], command="demo traffic", autocommit=True) as conn:
            tops = {
                (side, shape.name, column): dialect.counter_top(conn, schemas[side], shape.name, column)
                for shape in tables[side].values()
                for column in shape.counters
            }
        with lock:
            for name, top in tops.items():
                counters[name] = max(counters.get(name, 0), top)

    def make_app(side: str, conn, rng: random.Random) -> GenericApp:
        def allocate(table: str, column: str) -> int:
            with lock:
                counters[(side, table, column)] += 1
                return counters[(side, table, column)]

        return GenericApp(conn, side, schemas[side], tables[side], rng, allocate, dialects[side])

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
        errors={side: dialect.errors for side, dialect in dialects.items()},
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
    in_legacy_form = [legacy_form(e) for e in ledger.entries(ledger_path, app=None)]
    in_legacy_form = [e for e in in_legacy_form if e is not None]
    source, _ = connections.resolve(config)
    with connections.connection(source, command="demo traffic") as conn:
        return legacy_dialect(config).check(conn, config.source_schema, ledger.final_entries(in_legacy_form))


def legacy_form(entry: dict) -> dict | None:
    """A ledger entry as the source must hold it after a fallback: a source application's as written (its
    row's md5 on PostgreSQL, canonical hash on MySQL), the new application's as its `legacy` part says
    (None for an app table no source table maps to: nothing to carry back)."""
    if entry.get("app") != "new":
        return entry
    legacy = entry.get("legacy")
    if legacy is None:
        return None
    form = {"table": legacy["table"], "key": legacy["key"], "op": entry["op"], "values": legacy["values"]}
    if "texts" in legacy:
        form["texts"] = legacy["texts"]
    return form


def _combined(*checks: ledger.LedgerCheck) -> ledger.LedgerCheck:
    combined = ledger.LedgerCheck()
    for check in checks:
        combined.checked += check.checked
        combined.missing += check.missing
        combined.wrong += check.wrong
        combined.resurrected += check.resurrected
    return combined
