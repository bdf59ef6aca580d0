"""Applying captured changes to landing, then through the incremental dbt models.

The watermark is a source snapshot, not a change id: a batch applies exactly the changes of
transactions that are visible in the new snapshot and were not visible in the previous one.
Visibility only grows, so every committed transaction lands in exactly one batch, however late
it commits relative to others. The landing changes and the new watermark commit in one target
transaction; only afterwards does the source move this target's consumer (capture.applied) to the
new snapshot and purge what every consumer has applied, so several targets sync from one source
independently. A sync killed at any point loses nothing and applies nothing twice. Each batch
first compares the source's columns with landing's: what landing can follow (an added column, a
dropped NOT NULL) it follows, anything else stops the sync.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql

from harness import dbt, engines
from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.context import Context
from harness.core.control import STREAM
from harness.core.errors import EXIT_CHECK_FAILED, ConfigError, ConnectionFailed, DbtFailed, HarnessError
from harness.dbt import compiled_plan
from harness.dbt import contract as dbt_contract
from harness.engines import postgres
from harness.engines.postgres import capture
from harness.target import history, landing

CHANGE_COLUMNS = ["change_id", "table_schema", "table_name", "op", "old_key", "new_row", "captured_at", "image_format"]


@dataclass
class Batch:
    changes: int = 0
    per_table: dict[str, int] = field(default_factory=dict)
    snapshot: str = ""
    seconds: float = 0.0
    # Columns added at the source that landing now follows: capture takes their values by name, at
    # a cost to each write, until installed again (`migrate sync --install`).
    columns_added: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Lag:
    changes_behind: int | None  # unknown with timestamp capture
    seconds_behind: float
    app_seconds_behind: float


class NotLoaded(HarnessError):
    pass


class FollowerBusy(HarnessError):
    """A `sync --follow` batch or build did not yield to the cutover in time."""

    exit_code = EXIT_CHECK_FAILED


def _watermark(ctl: psycopg.Connection, schema: str) -> str:
    row = ctl.execute(
        sql.SQL("select snapshot from {} where stream = %s").format(control.table(schema, "sync_state")), (STREAM,)
    ).fetchone()
    if row is None:
        raise NotLoaded("nothing to sync into: no finished load in the target; run `migrate load` first")
    return row[0]


def apply(config: Config, source: Database, target: Database, *, detect_deletes: bool = False):
    """One sync batch by the configured capture method."""
    return engines.source_capture(config).apply_batch(config, source, target, detect_deletes=detect_deletes)


@dataclass(frozen=True)
class Pause:
    """Proof that no sync batch is applying: a target session holding the sync lock."""

    conn: psycopg.Connection


def _lock_name(config: Config) -> str:
    return f"migrate sync {config.control_schema}"


@contextmanager
def paused(config: Config, target: Database, *, command: str = "reconcile") -> Iterator[Pause]:
    """Hold the sync lock until the block ends: a batch in flight finishes first, later ones wait.

    Every batch takes the same lock (an advisory lock named after the control schema) before
    the transaction that moves the watermark begins, so while it is held landing and the
    watermark stand still, and the rows of a batch that waited are stamped (`_migrate_synced_at`,
    the transaction's start) after the pause ended. `sync_once(..., pause=...)` applies a batch
    on the holding session itself.
    """
    conn = connections.connect(target, command=f"{command} (sync paused)", autocommit=True)
    try:
        conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (_lock_name(config),))
        yield Pause(conn)
    finally:
        conn.close()  # the session's end releases the lock


def _release_sync_lock(conn: psycopg.Connection, config: Config) -> None:
    with contextlib.suppress(psycopg.Error):  # a broken session has released it already
        conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (_lock_name(config),))


def sync_once(
    config: Config, source: Database, target: Database, *, snapshot_id: str | None = None, pause: Pause | None = None
) -> Batch:
    """Apply every change committed since the watermark, in one target transaction.

    With `snapshot_id` (a source snapshot exported by the caller, still open), the batch applies
    exactly the changes visible in that snapshot, so landing then equals the source as of it;
    the caller must have taken the snapshot after `paused` locked, so that the watermark is not
    already past it. With `pause`, the batch runs on the pausing session.
    """
    started = time.perf_counter()
    batch = Batch()
    with ExitStack() as stack:
        dst = (
            pause.conn
            if pause is not None
            else stack.enter_context(connections.connection(target, command="sync", autocommit=True))
        )
        src = stack.enter_context(connections.connection(source, command="sync"))
        dst.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (_lock_name(config),))
        stack.callback(_release_sync_lock, dst, config)
        consumer_id = control.consumer_id(dst, config.control_schema)
        label = control.consumer_label(target.describe(), config.control_schema)
        with dst.transaction():
            previous = dst.execute(
                sql.SQL("select snapshot from {} where stream = %s for update").format(
                    control.table(config.control_schema, "sync_state")
                ),
                (STREAM,),
            ).fetchone()
            if previous is None:
                raise NotLoaded("nothing to sync into: no finished load in the target; run `migrate load` first")
            # A target loaded before consumers existed (or forgotten by mistake) registers from its
            # watermark; from then on no other target's sync purges a change it has not applied.
            capture.register(src, consumer_id, config.source_schema, label, previous[0], replace=False)
            src.commit()
            src.execute("set transaction isolation level repeatable read, read only")
            if snapshot_id is not None:
                src.execute(sql.SQL("set transaction snapshot {}").format(sql.Literal(snapshot_id)))
            # Both sides read and write every value's text under the same settings: the images, and
            # what travels in the copy of the log (its times, a column's missing value).
            for side in (src, dst):
                capture.use_image_settings(side)
            (current,) = src.execute("select pg_current_snapshot()::text").fetchone()
            batch.snapshot = current
            # Described in the batch's own snapshot: every change it reads was written with these columns or earlier ones.
            tables = {t.name: t for t in _landing_tables(src, config)}
            added = _check_schema(src, dst, config, list(tables.values()))
            reloaded = _table_loads_covered(dst, config)
            dst.execute(
                "create temp table _changes (change_id bigint, table_schema text, table_name text, op char(1), "
                "old_key jsonb, new_row jsonb, captured_at timestamptz, image_format text) on commit drop"
            )
            changes = sql.SQL(
                "copy (select {cols} from {log} where table_schema = {schema} "
                "and not pg_visible_in_snapshot(txid, {previous}::pg_snapshot){reloaded} order by change_id) to stdout"
            ).format(
                cols=_log_columns(src),
                log=sql.SQL("{}.changes").format(sql.Identifier(capture.CAPTURE_SCHEMA)),
                schema=sql.Literal(config.source_schema),
                previous=sql.Literal(previous[0]),
                reloaded=reloaded,
            )
            with (
                src.cursor().copy(changes) as reader,
                dst.cursor().copy(
                    sql.SQL("copy _changes ({}) from stdin").format(postgres.column_list(CHANGE_COLUMNS))
                ) as writer,
            ):
                for chunk in reader:
                    writer.write(chunk)
            src.rollback()
            counts = dst.execute(
                "select table_name, count(*), count(*) filter (where image_format is null and op <> 'T') from _changes group by table_name"
            ).fetchall()
            for name, _, json_images in counts:
                if json_images and name in tables:
                    _text_images_from_json(dst, config.landing_schema, tables[name])
            _fill_added_columns(dst, added)
            batch.columns_added = {name: [column.name for column, _ in columns] for name, columns in added.items()}
            for name, count, _ in counts:
                if name in tables:
                    apply_changes(dst, config.landing_schema, tables[name])
                    batch.per_table[name] = count
            batch.changes = sum(count for _, count, _ in counts)
            dst.execute(
                sql.SQL(
                    "update {} set snapshot = %s, applied_at = clock_timestamp(), changes_applied = changes_applied + %s, "
                    "unbuilt_since = coalesce(unbuilt_since, (select min(captured_at) from _changes)) where stream = %s"
                ).format(control.table(config.control_schema, "sync_state")),
                (current, batch.changes, STREAM),
            )
        # Only now that the target committed may the source move this consumer on and forget the
        # changes that every consumer has applied.
        with src.transaction():
            capture.applied(src, consumer_id, config.source_schema, label, current)
    batch.seconds = time.perf_counter() - started
    return batch


def _log_columns(src: psycopg.Connection) -> sql.Composable:
    """What is copied of the source's log: CHANGE_COLUMNS, with image_format NULL in a log made
    before it existed (written by triggers of that version: JSON images, every one)."""
    (has_format,) = src.execute(
        "select exists (select from pg_attribute where attrelid = %s::regclass and attname = 'image_format' and not attisdropped)",
        (sql.SQL("{}.changes").format(sql.Identifier(capture.CAPTURE_SCHEMA)).as_string(src),),
    ).fetchone()
    return sql.SQL(", ").join(
        sql.Identifier(c) if c != "image_format" or has_format else sql.SQL("null") for c in CHANGE_COLUMNS
    )


def forget_consumer(config: Config, source: Database, target: Database, consumer_id: str) -> None:
    """Stop keeping changes in the source's log for a consumer whose target is gone."""
    with connections.connection(target, command="sync forget", autocommit=True) as dst:
        if consumer_id == control.consumer_id(dst, config.control_schema):
            raise ConfigError(
                f"consumer {consumer_id} is this target's own: forget only a target that is gone (`migrate status` lists them)"
            )
    with connections.connection(source, command="sync forget", autocommit=True) as src:
        if not capture.forget(src, consumer_id):
            raise ConfigError(
                f"no consumer {consumer_id!r} of the change log on the source: `migrate status` lists them"
            )


def install_capture(context: Context) -> list[landing.SourceTable]:
    """Install the trigger capture on every listed table of the source (`migrate sync --install`)."""
    with connections.connection(context.source, command="sync install", autocommit=True) as conn:
        tables = context.tables(conn=conn)
        engines.source_engine(context.config).capture("trigger").prepare(conn, context.config.source_schema, tables)
    return tables


def _landing_tables(src: psycopg.Connection, config: Config) -> list[landing.SourceTable]:
    # Not the command's Context: a batch describes the tables in its own snapshot, which is how it
    # sees a column added at the source while `sync --follow` runs (_check_schema).
    return [landing.describe(src, config, t) for t in config.tables]


class SchemaChanged(HarnessError):
    """A source table's columns changed in a way landing cannot follow by itself."""


def _check_schema(
    src: psycopg.Connection, dst: psycopg.Connection, config: Config, tables: list[landing.SourceTable]
) -> dict[str, list[tuple[postgres.Column, str | None]]]:
    """Compare each listed table at the source with its landing copy, at the start of a batch.

    A NOT NULL dropped at the source is dropped in landing. A column added at the source whose
    older rows are known to hold null or the constant it was added with is added to landing (the capture
    trigger's images carry it from then on, see capture.image_carries); the added columns are
    returned with that constant (None: null) for _fill_added_columns. Anything else
    (a table not loaded, a column dropped, renamed or retyped, a volatile default) stops the
    sync before anything is applied or purged, with the fix.
    """
    added: dict[str, list[tuple[postgres.Column, str]]] = {}
    for table in tables:
        name = table.name
        reload = f"update the models, then run `migrate load --table {name}`"
        if not postgres.table_exists(dst, config.landing_schema, name):
            raise NotLoaded(
                f"table {name} is listed in migration.yml but not loaded, and sync would drop its changes: run `migrate load --table {name}`"
            )
        landed = {
            c.name: c for c in postgres.columns(dst, config.landing_schema, name) if c.name not in landing.SYNC_COLUMNS
        }
        current = {c.name for c in table.columns}
        for gone in (c for c in landed if c not in current):
            raise SchemaChanged(f"table {name}: column {gone} was dropped (or renamed) at the source: {reload}")
        fills = None
        for column in table.columns:
            before = landed.get(column.name)
            if before is not None:
                if before.type != column.type:
                    raise SchemaChanged(
                        f"table {name}: column {column.name} changed type at the source from {before.type} to {column.type}: {reload}"
                    )
                if before.not_null and not column.not_null and column.name not in table.key:
                    landing.allow_null(dst, config.landing_schema, name, column.name)  # its nulls may come now
                continue
            fills = fills or postgres.column_fills(src, config.source_schema, name)
            if not fills[column.name].known:
                raise SchemaChanged(
                    f"table {name}: column {column.name} was added at the source with a default that older rows may not hold: {reload}"
                )
            if column.name in table.masks:
                raise SchemaChanged(
                    f"table {name}: column {column.name} was added at the source and is masked in migration.yml: run `migrate load --table {name}` so that capture masks it"
                )
            if not capture.image_carries(src, config.source_schema, name, column.name):
                raise SchemaChanged(
                    f"table {name}: column {column.name} was added at the source after another added column was dropped, "
                    f"and the change log does not hold its values: run `migrate load --table {name}`"
                )
            missing = fills[column.name].missing
            landing.create_collations(src, dst, config.source_schema, config.landing_schema, name, [column])
            landing.add_column(dst, config.landing_schema, name, column, missing)
            added.setdefault(name, []).append((column, missing))
    return added


def _fill_added_columns(dst: psycopg.Connection, added: dict[str, list[tuple[postgres.Column, str | None]]]) -> None:
    """Changes written before a column was added do not hold it, but at the source those rows hold
    the constant it was added with, as landing's older rows now do: give it to them. All such
    changes are in this batch, the first whose snapshot sees the column (the ALTER waited for
    their writers to commit). In the images' text form: run after _text_images_from_json."""
    for table_name, columns in added.items():
        for column, missing in columns:
            if missing is None:
                continue  # older rows hold NULL: so does an image without the column
            dst.execute(
                sql.SQL(
                    "update _changes set new_row = jsonb_build_object({name}, (({missing}::{type}[])[1])::text) || new_row "
                    "where table_name = {table} and op in ('I', 'U') and not new_row ? {name}"
                ).format(
                    name=sql.Literal(column.name),
                    missing=sql.Literal(missing),
                    type=sql.SQL(column.type),
                    table=sql.Literal(table_name),
                )
            )


def _table_loads_covered(dst: psycopg.Connection, config: Config) -> sql.Composable:
    """The condition that skips the changes already in a table's copy by `migrate load --table`
    (see load._load_table); this batch's snapshot contains each such copy's, so they are covered."""
    loads = control.table(config.control_schema, "table_loads")
    if dst.execute("select to_regclass(%s)", (loads.as_string(dst),)).fetchone()[0] is None:
        return sql.SQL("")  # a control schema from before `migrate load --table`: nothing to skip
    rows = dst.execute(
        sql.SQL("update {} set covered = true where not covered returning table_name, snapshot").format(loads)
    ).fetchall()
    return sql.SQL("").join(
        sql.SQL(" and not (table_name = {} and pg_visible_in_snapshot(txid, {}::pg_snapshot))").format(
            sql.Literal(name), sql.Literal(snapshot)
        )
        for name, snapshot in rows
    )


def apply_until_caught_up(config: Config, source: Database, target: Database) -> int:
    """Apply batches until one finds no change (the source frozen, or quiet); the changes applied."""
    applied = 0
    deletes_by_keys = engines.source_capture(config).detects_deletes_by_keys
    while changes := apply(config, source, target, detect_deletes=deletes_by_keys).changes:
        applied += changes
    return applied


def _text_images_from_json(conn: psycopg.Connection, landing_schema: str, table: landing.SourceTable) -> None:
    """Turn the table's JSON images in `_changes` (to_jsonb of the row, written by a trigger of an
    earlier version, left in the log when the kit was upgraded) into text images. Each is read as
    sync always read them (jsonb_populate_record), so those changes land as they always did; only
    images in text form are exact (a float's digits, -0, jsonb null)."""
    target = postgres.qualified(landing_schema, table.name)
    columns = [c.name for c in table.columns]
    conn.execute(
        sql.SQL(
            """
            update _changes c set
                new_row = case when c.new_row is not null then (
                    select jsonb_object_agg(i.key, i.value)
                    from jsonb_populate_record(null::{target}, c.new_row) as r cross join lateral jsonb_each({row_image}) as i
                    where c.new_row ? i.key) end,
                old_key = case when c.old_key is not null then (
                    select {key_image} from jsonb_populate_record(null::{target}, c.old_key) as k) end,
                image_format = {text}
            where c.table_name = {name} and c.image_format is null and c.op <> 'T'
            """
        ).format(
            target=target,
            row_image=capture.text_image(sql.SQL("r"), columns),
            key_image=capture.text_image(sql.SQL("k"), table.key),
            text=sql.Literal(capture.TEXT_IMAGES),
            name=sql.Literal(table.name),
        )
    )


def apply_changes(conn: psycopg.Connection, landing_schema: str, table: landing.SourceTable) -> None:
    """Fold this table's changes in `_changes` into landing: the last image per key wins.

    A truncate tombstones every row; only the changes after the last truncate count. An update
    that changed the key tombstones the old key. Deletes become tombstones so that the
    incremental models can apply them. Images hold each column's text: each is cast to the
    column's type under capture.IMAGE_SETTINGS (set by the caller). Changes are grouped by their
    key's value, by the type's equality: two changes of one key whose texts differ (numeric 1.0
    and 1.00) are one key, and the later one's text lands, key columns too.

    A key column with a collation of its own is matched exactly (its bytes) as well: under a
    case-insensitive collation the new key 'ZEBRA' finds the row of the old key 'Zebra' (taking
    its key from the image), and the old key's tombstone must not then hit that row.
    """
    target = postgres.qualified(landing_schema, table.name)
    collated_key = landing.collated_key(table)
    name = sql.Literal(table.name)
    types = {c.name: sql.SQL(c.type) for c in table.columns}

    def typed(image: str, column: str) -> sql.Composed:
        return sql.SQL("({} ->> {})::{}").format(sql.SQL(image), sql.Literal(column), types[column])

    key_of_new = sql.SQL("jsonb_build_object({})").format(
        sql.SQL(", ").join(sql.SQL("{}, new_row -> {}").format(sql.Literal(k), sql.Literal(k)) for k in table.key)
    )
    typed_key = sql.SQL(", ").join(typed("k", k) for k in table.key)
    (last_truncate,) = conn.execute(
        sql.SQL("select coalesce(max(change_id), 0) from _changes where table_name = {} and op = 'T'").format(name)
    ).fetchone()
    if last_truncate:
        conn.execute(
            sql.SQL("update {} set {} = true, {} = now() where not {}").format(
                target,
                sql.Identifier(landing.DELETED),
                sql.Identifier(landing.SYNCED_AT),
                sql.Identifier(landing.DELETED),
            )
        )
    conn.execute("drop table if exists _latest")
    # Of an update that changed the key's text, its image wins over its own tombstone of the old key.
    conn.execute(
        sql.SQL(
            """
            create temp table _latest on commit drop as
            with events as (
                select change_id, old_key as k, null::jsonb as new_row
                from _changes where table_name = {name} and change_id > {after} and op = 'D'
                union all
                select change_id, old_key, null
                from _changes where table_name = {name} and change_id > {after} and op = 'U' and old_key <> {key_of_new}
                union all
                select change_id, {key_of_new}, new_row
                from _changes where table_name = {name} and change_id > {after} and op in ('I', 'U')
            )
            select distinct on ({typed_key}) k, new_row from events order by {typed_key}, change_id desc, new_row is null
            """
        ).format(name=name, after=sql.Literal(last_truncate), key_of_new=key_of_new, typed_key=typed_key)
    )
    columns = [c.name for c in table.columns]
    conn.execute(
        sql.SQL(
            """
            insert into {target} ({cols}, {synced}, {deleted})
            select {values}, now(), false from _latest l
            where l.new_row is not null
            on conflict ({key}) do update set {assign}, {synced} = excluded.{synced}, {deleted} = false
            """
        ).format(
            target=target,
            cols=postgres.column_list(columns),
            values=sql.SQL(", ").join(typed("l.new_row", c) for c in columns),
            key=postgres.column_list(table.key),
            assign=sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in columns),
            synced=sql.Identifier(landing.SYNCED_AT),
            deleted=sql.Identifier(landing.DELETED),
        )
    )
    conn.execute(
        sql.SQL(
            """
            update {target} t set {deleted} = true, {synced} = now()
            from _latest l
            where l.new_row is null and not t.{deleted} and {match}
            """
        ).format(
            target=target,
            deleted=sql.Identifier(landing.DELETED),
            synced=sql.Identifier(landing.SYNCED_AT),
            match=sql.SQL(" and ").join(
                [sql.SQL("t.{} = {}").format(sql.Identifier(c), typed("l.k", c)) for c in table.key]
                + [
                    sql.SQL('t.{} collate "C" = {} collate "C"').format(sql.Identifier(c), typed("l.k", c))
                    for c in collated_key
                ]
            ),
        )
    )


def lag(config: Config, source: Database, target: Database) -> Lag:
    own = engines.source_capture(config)
    if not own.keeps_a_log or not own.counts_changes_behind:
        with connections.connection(target, command="sync lag") as dst:
            _watermark(dst, config.control_schema)
            since_apply, unbuilt = dst.execute(
                sql.SQL(
                    "select extract(epoch from clock_timestamp() - applied_at), extract(epoch from clock_timestamp() - unbuilt_since) "
                    "from {} where stream = %s"
                ).format(control.table(config.control_schema, "sync_state")),
                (STREAM,),
            ).fetchone()
        # Without a change log the best bound is the time since the last read of the source.
        return Lag(None, float(since_apply), max(float(since_apply), float(unbuilt or 0.0)))
    with (
        connections.connection(target, command="sync lag") as dst,
        connections.connection(source, command="sync lag") as src,
    ):
        watermark = _watermark(dst, config.control_schema)
        behind, oldest = src.execute(
            sql.SQL(
                "select count(*), extract(epoch from clock_timestamp() - min(captured_at)) from {}.changes "
                "where table_schema = %s and not pg_visible_in_snapshot(txid, %s::pg_snapshot)"
            ).format(sql.Identifier(capture.CAPTURE_SCHEMA)),
            (config.source_schema, watermark),
        ).fetchone()
        (unbuilt,) = dst.execute(
            sql.SQL("select extract(epoch from clock_timestamp() - unbuilt_since) from {} where stream = %s").format(
                control.table(config.control_schema, "sync_state")
            ),
            (STREAM,),
        ).fetchone()
    seconds = float(oldest or 0.0)
    # app is behind by whatever landing is behind, or by its oldest unbuilt change if older.
    return Lag(int(behind), seconds, max(seconds, float(unbuilt or 0.0)))


# What a sync batch builds (selectors.yml `sync`): the incremental models downstream of landing and
# the data tests that prove the batch, checked on the rows it recomputed. It leaves target/'s
# manifest and run_results to the full builds (assess and docs read the last full build's timing
# there; this one's results come back in memory). It logs to logs/dbt.log at info level, errors
# included, but not each statement's SQL: writing those is a sixth of a small build's time, and a
# sync runs one after every batch. bench/bench_dbt_build.py times exactly this command. A plain
# `dbt build` (load, cutover, `migrate build`) runs every node, with dbt's full debug log.
SYNC_BUILD = ("build", "--selector", dbt_contract.SYNC_SELECTOR, "--no-write-json", "--log-level-file", "info")


def _defines_sync_selector(project_dir: Path) -> bool:
    path = project_dir / "selectors.yml"
    if not path.exists():
        return False
    return any(
        s.get("name") == dbt_contract.SYNC_SELECTOR
        for s in (yaml.safe_load(path.read_text()) or {}).get("selectors") or []
    )


def build(
    config: Config,
    target: Database,
    args: tuple[str, ...] = SYNC_BUILD,
    *,
    quiet: bool = True,
    manifest: Any = None,
    listeners: Sequence[Callable[[Any], None]] = (),
    plan: compiled_plan.CompiledPlan | None = None,
) -> dbt.DbtOutcome:
    """Run dbt over what sync applied to landing, and record the watermark it covered (`manifest`:
    the project parsed beforehand, see dbt.parse), and how long dbt took. `listeners` see dbt's
    events; `plan`, a sync build recorded earlier (harness/dbt/compiled_plan.py), runs instead of dbt."""
    with connections.connection(target, command="sync build", autocommit=True) as dst:
        control.ensure(dst, config.control_schema)  # a control schema made before builds were timed gets the columns
        covered = _watermark(dst, config.control_schema)
    if "--selector" in args and not _defines_sync_selector(config.project_dir):
        # A project without the `sync` selector builds everything, as a plain `dbt build` would.
        args = tuple(a for a in args if a not in ("--selector", dbt_contract.SYNC_SELECTOR, "--no-write-json"))
    started = time.perf_counter()
    if plan is not None:
        outcome = compiled_plan.run(plan, target)
    else:
        outcome = dbt.run(config, target, list(args), quiet=quiet, manifest=manifest, listeners=listeners)
    seconds = time.perf_counter() - started
    # Only the incremental build is what a final sync runs; a full build keeps the last one's time.
    incremental = "--selector" in args and "--full-refresh" not in args
    with connections.connection(target, command="sync build", autocommit=True) as dst:
        # Changes applied while dbt ran stay pending: unbuilt_since is cleared only if none came.
        dst.execute(
            sql.SQL(
                "update {} set built_at = clock_timestamp(), built_snapshot = %s, "
                "sync_build_seconds = case when %s then %s else sync_build_seconds end, "
                "sync_built_at = case when %s then clock_timestamp() else sync_built_at end, "
                "unbuilt_since = case when snapshot = %s then null else unbuilt_since end where stream = %s"
            ).format(control.table(config.control_schema, "sync_state")),
            (covered, incremental, seconds, incremental, covered, STREAM),
        )
    return outcome


@dataclass
class FollowReport:
    batches: int = 0
    changes: int = 0
    builds: int = 0
    retries: int = 0
    interrupted: bool = False  # Ctrl-C or SIGTERM: the batch in flight committed, no build after it
    yielded: int = 0  # turns skipped because a cutover holds the follow lock
    source_frozen: bool = False  # stopped because every listed table is frozen: nothing left to follow


# The follow lock: each unit of `sync --follow`'s work (a batch, a dbt build) holds it shared; a
# cutover holds it exclusively for its whole run. A cutover waits for the unit in flight, and while
# it runs the follower neither moves landing under the cutover's build and checks nor runs a dbt
# build beside it. Session-level, so a killed cutover or follower releases it.
def _follow_lock_key(config: Config) -> str:
    return f"migrate follow {config.control_schema}"


def exclude_followers(conn: psycopg.Connection, config: Config, timeout_seconds: float) -> None:
    """Hold the follow lock on `conn` (until its session ends): waits for a follower's unit in flight."""
    conn.execute(sql.SQL("set lock_timeout = {}").format(sql.Literal(f"{int(timeout_seconds * 1000)}ms")))
    try:
        conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (_follow_lock_key(config),))
    except psycopg.errors.LockNotAvailable:
        raise FollowerBusy(
            f"a `migrate sync --follow` batch or build did not finish within {timeout_seconds:g} s (cutover.lock_timeout_seconds); "
            "nothing was changed: run migrate cutover again, or stop the follower"
        ) from None
    finally:
        conn.execute("reset lock_timeout")


@contextmanager
def _follow_turn(config: Config, target: Database) -> Iterator[bool]:
    """One unit of the follower's work: True when it may run (no cutover holds the follow lock)."""
    with connections.connection(target, command="sync --follow", autocommit=True) as conn:
        (free,) = conn.execute(
            "select pg_try_advisory_lock_shared(hashtextextended(%s, 0))", (_follow_lock_key(config),)
        ).fetchone()
        yield free  # the session's end releases the lock


def _source_frozen(config: Config, source: Database) -> bool:
    """Every listed table frozen at the source: a cutover froze it, nothing more will be captured."""
    with connections.connection(source, command="sync --follow", autocommit=True) as conn:
        return set(engines.source_engine(config).frozen_tables(conn, config.source_schema)) >= {
            t.name for t in config.tables
        }


# While landing keeps syncing during a dbt run, a batch can commit after the run read its high
# watermark with rows stamped before it: re-reading this far back keeps them (merges are idempotent).
# The same sync build otherwise; every follow build passes the same vars, so dbt's partial parsing
# stays warm between them.
CONCURRENT_BUILD_VARS = '{"sync_overlap": "30 seconds"}'
CONCURRENT_SYNC_BUILD = (*SYNC_BUILD, "--vars", CONCURRENT_BUILD_VARS)


def follow(
    config: Config,
    source: Database,
    target: Database,
    *,
    interval: float = 1.0,
    build_every: float = 30.0,
    until: Callable[[], bool] = lambda: False,
    on_batch: Callable[[Batch, Lag], None] | None = None,
    on_retry: Callable[[str, float], None] | None = None,
    run_dbt: bool = True,
) -> FollowReport:
    """Keep syncing until `until()` says stop; a source or target that drops away is retried with backoff.

    Landing is synced in a thread of its own, so a dbt run (in this thread) never holds it back;
    only a run that failed while landing moved is run again with landing held still. A cutover
    pauses both (the follow lock, see exclude_followers); once it has frozen every listed table
    at the source the follower stops: nothing more can be captured.
    """
    report = FollowReport()
    stop = threading.Event()
    failure: list[BaseException] = []

    def landing_loop() -> None:
        backoff = interval
        try:
            while not stop.is_set() and not until():
                try:
                    with _follow_turn(config, target) as free:
                        batch = apply(config, source, target) if free else None
                    if (batch is None or not batch.changes) and _source_frozen(config, source):
                        report.source_frozen = True
                        return
                    if batch is None:
                        report.yielded += 1
                        stop.wait(interval)
                        continue
                    report.batches += 1
                    report.changes += batch.changes
                    observed = lag(config, source, target)
                    history.record_lag(
                        config,
                        target,
                        observed.seconds_behind,
                        observed.app_seconds_behind,
                        observed.changes_behind,
                        batch.changes,
                    )
                    if on_batch:
                        on_batch(batch, observed)
                    backoff = interval
                    stop.wait(interval)
                except (ConnectionFailed, psycopg.OperationalError) as exc:
                    report.retries += 1
                    if on_retry:
                        on_retry(str(exc).splitlines()[0], backoff)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 30.0)
        except BaseException as exc:  # raised again in the calling thread
            failure.append(exc)

    syncer = threading.Thread(target=landing_loop, name="sync-landing", daemon=True)
    syncer.start()
    built_changes = 0
    try:
        while syncer.is_alive():
            syncer.join(timeout=build_every)
            if run_dbt and syncer.is_alive() and report.changes > built_changes:
                seen = report.changes
                with _follow_turn(config, target) as free:
                    # Never after a cutover's freeze: from its switch on the new application writes app.
                    if free and not _source_frozen(config, source):
                        _follow_build(config, target, report)
                        built_changes = seen
    except KeyboardInterrupt:
        # A safe point: the batch in flight commits (or rolls back whole) before the thread ends;
        # what is applied but not built stays pending for the next sync's build.
        report.interrupted = True
    finally:
        stop.set()
        syncer.join()
    if failure:
        raise failure[0]
    if run_dbt and report.changes > built_changes and not report.interrupted:
        with _follow_turn(config, target) as free:
            if free and not _source_frozen(config, source):
                _follow_build(config, target, report)
    return report


def _follow_build(config: Config, target: Database, report: FollowReport) -> None:
    try:
        build(config, target, CONCURRENT_SYNC_BUILD)
    except DbtFailed:
        # The batch's tests compare landing with app on the rows it recomputed, and a batch
        # applied meanwhile may have rewritten one of them: build again with landing held
        # still; only a failure there is real.
        report.builds += 1
        with paused(config, target, command="sync --follow"):
            build(config, target, CONCURRENT_SYNC_BUILD)
    report.builds += 1
