"""Trigger-based change capture on the source.

A `_migrate` schema on the source holds one change log; an AFTER trigger on each listed table
appends the operation, the old key and the new row image (masks applied, so a masked value
never enters the log) together with the writing transaction's id. Sync reads the log by
snapshot visibility, not by change id, so a transaction that commits after later ones is never
skipped. Needs neither a restart nor a superuser: only CREATE on the database and TRIGGER on
the tables.

Several targets can consume one source (a rehearsal, a second environment): each is a consumer
in `_migrate.consumers` with the snapshot up to which it has applied the log, and a change is
purged only once every consumer of its schema has applied it. Installing again replaces each
table's function and triggers in one transaction, so no write commits uncaptured meanwhile, and
the log is altered only where the catalog shows something missing. The functions' names carry a
hash of schema and table, so they stay unique within PostgreSQL's 63 bytes.

Row images are exact whatever the writing session set. An image is a jsonb object of each
column's text output (a SQL NULL is a JSON null; a jsonb column holding `null` is the string
"null"), written under IMAGE_SETTINGS: each trigger function carries them as SET clauses, which
PostgreSQL restores when it returns, so the application's session is untouched. Sync casts each
text back to the column's type under the same settings. Text is portable across servers where
binary forms are not (enums, composites and arrays of them hold OIDs there), and json keeps its
text (key order, duplicate keys). A trigger knows the columns its table had when it was made.
After a column is added (found in the catalog at each write: one cheap lookup), dropped or
renamed, it takes the images as the catalog has the columns, slower, until capture is installed
again: a schema change never makes the application's write fail.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.errors import HarnessError
from harness.engines import postgres
from harness.engines.base import Batch
from harness.target import changes, landing, locks, sync_state
from harness.target.landing import MASK_SQL, SourceTable
from harness.target.locks import Pause

CAPTURE_SCHEMA = "_migrate"
TRIGGER = "_migrate_capture"
FROZEN_MESSAGE = "writes are frozen for the migration cutover"
FROZEN_HINT = "the application should retry on the new system or wait for the rollback"

# Under these settings a value's text output is exact and does not depend on the session that
# wrote it: floats keep every digit (3 is exact on every server version) and -0, intervals keep
# months, days and time apart, timestamptz reads as its UTC instant, money reads back as the same
# amount (its text follows lc_monetary), and both XML documents and fragments read back.
IMAGE_SETTINGS = {
    "extra_float_digits": "3",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "TimeZone": "UTC",
    "bytea_output": "hex",
    "lc_monetary": "C",
    "xmloption": "content",
    "standard_conforming_strings": "on",
}
# The log's image_format of an image in text form; NULL marks a JSON image (to_jsonb of the row)
# written by a trigger of an earlier version, which sync still applies as it always did.
TEXT_IMAGES = "text"


class NotInstalled(HarnessError):
    pass


def freeze_lock_key(schema: sql.Composable) -> sql.Composed:
    """The advisory lock every captured write holds shared; the freeze takes it exclusively."""
    return sql.SQL("hashtextextended('_migrate freeze ' || {}, 0)").format(schema)


# Each statement runs only when its object is missing (see ensure_log): even `add column if not
# exists` takes an exclusive lock on the log, which would stall every captured write behind any
# open transaction that wrote one.
LOG_DDL = {
    "schema": "create schema {schema}",
    "changes": """
        create table {schema}.changes (
            change_id   bigint generated always as identity primary key,
            txid        xid8 not null default pg_current_xact_id(),
            table_schema text not null,
            table_name  text not null,
            op          char(1) not null check (op in ('I', 'U', 'D', 'T')),
            old_key     jsonb,          -- the key before an update or delete
            new_row     jsonb,          -- the row after an insert or update, masked
            captured_at timestamptz not null default clock_timestamp(),
            old_row     jsonb,          -- the row before an update or delete: only where a fallback
                                        -- needs it (capture of `app`)
            image_format text           -- 'text'; NULL: JSON images of an earlier trigger version
        )""",
    # Columns of a log created before they existed.
    "old_row": "alter table {schema}.changes add column old_row jsonb",
    "image_format": "alter table {schema}.changes add column image_format text",
    # Every target that applies the log, each at its own pace: a change is purged only once every
    # consumer of its schema has applied it.
    "consumers": """
        create table {schema}.consumers (
            consumer_id   text primary key,       -- kept in the target's control schema
            source_schema text not null,          -- the schema whose changes it applies
            snapshot      pg_snapshot not null,   -- it has applied every change visible in this snapshot
            target        text,                   -- where it applies them, for people
            registered_at timestamptz not null default clock_timestamp(),
            last_applied_at timestamptz
        )""",
}


@dataclass(frozen=True)
class CaptureState:
    installed: list[str]
    missing: list[str]


@dataclass(frozen=True)
class Consumer:
    consumer_id: str
    target: str | None
    registered_at: datetime
    last_applied_at: datetime | None
    changes_held: int  # changes in the log it has not applied yet
    this_target: bool = False


def _function_name(schema: str, table: str) -> sql.Composed:
    # Unique for any names up to 63 bytes: a truncated name shared by two tables would run one
    # table's trigger body (its masks, its key) for the other.
    name = postgres.generated_name(f"capture__{schema}__{table}", schema, table)
    return sql.SQL("{}.{}").format(sql.Identifier(CAPTURE_SCHEMA), sql.Identifier(name))


def _log_table() -> sql.Composed:
    return sql.SQL("{}.changes").format(sql.Identifier(CAPTURE_SCHEMA))


def _consumers_table() -> sql.Composed:
    return sql.SQL("{}.consumers").format(sql.Identifier(CAPTURE_SCHEMA))


def ensure_log(conn: psycopg.Connection) -> None:
    """Create whatever of the change log is missing, looking in the catalog first (no lock on a log in use)."""
    (present,) = conn.execute(
        """
        select array_remove(array[
            case when to_regnamespace(%(schema)s) is not null then 'schema' end,
            case when to_regclass(%(changes)s) is not null then 'changes' end,
            case when exists (select from pg_attribute where attrelid = to_regclass(%(changes)s) and attname = 'old_row'
                              and not attisdropped) then 'old_row' end,
            case when exists (select from pg_attribute where attrelid = to_regclass(%(changes)s)
                              and attname = 'image_format' and not attisdropped) then 'image_format' end,
            case when to_regclass(%(consumers)s) is not null then 'consumers' end], null)
        """,
        {
            "schema": sql.Identifier(CAPTURE_SCHEMA).as_string(conn),
            "changes": _log_table().as_string(conn),
            "consumers": _consumers_table().as_string(conn),
        },
    ).fetchone()
    added_columns = ("old_row", "image_format")  # part of a log created now
    missing = [
        name for name in LOG_DDL if name not in present and not (name in added_columns and "changes" not in present)
    ]
    for name in missing:
        conn.execute(sql.SQL(LOG_DDL[name]).format(schema=sql.Identifier(CAPTURE_SCHEMA)))


def text_image(row: sql.Composable, columns: Sequence[str], masks: Mapping[str, str] | None = None) -> sql.Composable:
    """The row image of `row` (NEW, OLD, a table alias): a jsonb object of each column's text, a
    masked column's through its mask. Evaluate it under IMAGE_SETTINGS."""
    pairs = []
    for column in columns:
        value = sql.SQL("{}.{}").format(row, sql.Identifier(column))
        if masks and column in masks:
            value = sql.SQL("({})").format(sql.SQL(MASK_SQL[masks[column]].format(col="{col}")).format(col=value))
        pairs.append(sql.SQL("{}, {}::text").format(sql.Literal(column), value))
    if not pairs:
        return sql.SQL("'{}'::jsonb")
    # jsonb_build_object takes at most 100 arguments: 50 columns a call.
    calls = [
        sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(pairs[i : i + 50]))
        for i in range(0, len(pairs), 50)
    ]
    return sql.SQL(" || ").join(calls)


def _row_trigger_body(
    table: SourceTable, columns: dict[str, int], last_attnum: int, before_images: bool
) -> sql.Composed:
    """The capture function of a table whose columns are `columns` now (name: number), the last
    number it has used `last_attnum`."""
    masks = list(table.masks.items())
    return sql.SQL(
        """
declare
    new_row jsonb;
    old_key jsonb;
    old_row jsonb;
    new_image text;
    key_image text;
    old_image text;
begin
    -- A freeze is waiting for the writes in flight or holds the lock: refuse at once.
    if not pg_try_advisory_xact_lock_shared({freeze_key}) then
        raise exception using errcode = 'read_only_sql_transaction', message = {message}, hint = {hint};
    end if;
    if TG_OP = 'TRUNCATE' then
        insert into {log} (table_schema, table_name, op, image_format)
        values (TG_TABLE_SCHEMA, TG_TABLE_NAME, 'T', {format});
        return null;
    end if;
    begin
        -- A column numbered above {last} was added since this function was made: see below.
        if has_column_privilege(TG_RELID, {next}::int2, 'SELECT') is not null then
            raise exception using errcode = 'undefined_column';
        end if;
        if TG_OP in ('INSERT', 'UPDATE') then
            new_row := {new_image};
        end if;
        if TG_OP in ('UPDATE', 'DELETE') then
            old_key := {old_key};
            {old_row}
        end if;
    exception when undefined_column then
        -- The table's columns changed since this function was made (added, dropped, renamed): the
        -- images as the catalog has the columns now, a mask on its column's name and on its number
        -- (a renamed column stays masked); slower, until capture is installed again. Never the
        -- application's write refused for it.
        select string_agg(format('jsonb_build_object(%L, (%s)::text)', a.attname,
                                 replace(coalesce(m.expression, '{{col}}'), '{{col}}',
                                         '($1).' || quote_ident(a.attname))),
                          ' || ' order by a.attnum),
               string_agg(format('jsonb_build_object(%L, ($2).%I::text)', a.attname, a.attname),
                          ' || ' order by a.attnum)
                   filter (where a.attnum = any({key_numbers})),
               string_agg(format('jsonb_build_object(%L, ($2).%I::text)', a.attname, a.attname),
                          ' || ' order by a.attnum)
        into new_image, key_image, old_image
        from pg_attribute a
        left join unnest({mask_names}, {mask_numbers}, {mask_expressions}) as m(attname, attnum, expression)
            on m.attname = a.attname or m.attnum = a.attnum
        where a.attrelid = TG_RELID and a.attnum > 0 and not a.attisdropped;
        execute format('select %s, %s, %s',
                       coalesce(new_image, 'null'), coalesce(key_image, 'null'), coalesce(old_image, 'null'))
        into new_row, old_key, old_row using NEW, OLD;
        if TG_OP = 'INSERT' then
            old_key := null;
            old_row := null;
        elsif TG_OP = 'DELETE' then
            new_row := null;
        end if;
        {no_old_row}
    end;
    insert into {log} (table_schema, table_name, op, old_key, new_row, old_row, image_format)
    values (TG_TABLE_SCHEMA, TG_TABLE_NAME, left(TG_OP, 1), old_key, new_row, old_row, {format});
    return null;
end
"""
    ).format(
        log=_log_table(),
        new_image=text_image(sql.SQL("NEW"), list(columns), table.masks),
        old_key=text_image(sql.SQL("OLD"), table.key),
        old_row=sql.SQL("old_row := {};").format(text_image(sql.SQL("OLD"), list(columns)))
        if before_images
        else sql.SQL(""),
        no_old_row=sql.SQL("") if before_images else sql.SQL("old_row := null;"),
        key_numbers=sql.SQL("{}::int2[]").format(sql.Literal([columns[k] for k in table.key if k in columns])),
        mask_names=sql.SQL("{}::name[]").format(sql.Literal([name for name, _ in masks])),
        mask_numbers=sql.SQL("{}::int2[]").format(sql.Literal([columns.get(name, 0) for name, _ in masks])),
        mask_expressions=sql.SQL("{}::text[]").format(sql.Literal([MASK_SQL[mask] for _, mask in masks])),
        last=sql.Literal(last_attnum),
        next=sql.Literal(last_attnum + 1),
        format=sql.Literal(TEXT_IMAGES),
        freeze_key=freeze_lock_key(sql.SQL("TG_TABLE_SCHEMA")),
        message=sql.Literal(FROZEN_MESSAGE),
        hint=sql.Literal(FROZEN_HINT),
    )


def _columns_now(conn: psycopg.Connection, relation: sql.Composable) -> tuple[dict[str, int], int]:
    """The table's columns with their numbers, and the highest number it has used (dropped columns count)."""
    rows = conn.execute(
        "select attname, attisdropped, attnum from pg_attribute "
        "where attrelid = %s::regclass and attnum > 0 order by attnum",
        (relation.as_string(conn),),
    ).fetchall()
    return {name: attnum for name, dropped, attnum in rows if not dropped}, max(
        (attnum for *_, attnum in rows), default=0
    )


def use_image_settings(conn: psycopg.Connection, *, local: bool = True) -> None:
    """IMAGE_SETTINGS on the connection: for its transaction (local), or its session."""
    settings = sql.SQL(", ").join(
        sql.SQL("set_config({}, {}, {})").format(sql.Literal(name), sql.Literal(value), sql.Literal(local))
        for name, value in IMAGE_SETTINGS.items()
    )
    conn.execute(sql.SQL("select {}").format(settings))


def _image_settings() -> sql.Composed:
    return sql.SQL(" ").join(
        sql.SQL("set {} = {}").format(sql.Identifier(name.lower()), sql.Literal(value))
        for name, value in IMAGE_SETTINGS.items()
    )


def install(conn: psycopg.Connection, schema: str, tables: list[SourceTable], *, before_images: bool = False) -> None:
    """Create the change log and a capture trigger per table; safe to run again.

    `before_images` also logs each updated or deleted row as it was (the fallback compares the
    new application's rows with what cutover left, column by column).
    """
    ensure_log(conn)
    for table in tables:
        target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table.name))
        function = _function_name(schema, table.name)
        # One transaction per table, triggers replaced in place: there is no moment without a
        # trigger for a write to commit in. Replacing one waits for the table's writers in flight
        # (and later writers queue behind it): every write that commits afterwards is captured,
        # every earlier one is in the load's snapshot or was captured by the trigger it replaces.
        with conn.transaction():
            # The lock CREATE TRIGGER takes, taken first: no column changes until the trigger is in place.
            conn.execute(sql.SQL("lock table {} in share row exclusive mode").format(target))
            columns, last_attnum = _columns_now(conn, target)
            previous = _trigger_functions(conn, schema, table.name)
            # security definer: the legacy application's role needs no grant on the change log.
            conn.execute(
                sql.SQL(
                    "create or replace function {fn}() returns trigger language plpgsql security definer "
                    "set search_path = pg_catalog {settings} as {body}"
                ).format(
                    fn=function,
                    settings=_image_settings(),
                    body=sql.Literal(_row_trigger_body(table, columns, last_attnum, before_images).as_string(conn)),
                )
            )
            # Its argument, the last column number the function knows, is for image_carries.
            conn.execute(
                sql.SQL(
                    "create or replace trigger {} after insert or update or delete on {} "
                    "for each row execute function {}({})"
                ).format(sql.Identifier(TRIGGER), target, function, sql.Literal(str(last_attnum)))
            )
            conn.execute(
                sql.SQL(
                    "create or replace trigger {} after truncate on {} for each statement execute function {}()"
                ).format(sql.Identifier(TRIGGER + "_truncate"), target, function)
            )
            _drop_unused_functions(conn, previous)


def image_carries(conn: psycopg.Connection, schema: str, table: str, column: str) -> bool:
    """Whether the table's capture images carry the column. A trigger of an earlier version (a
    JSON image of the whole row) always does; one of this version knows the columns it was made
    with and takes those numbered above its last one by name, but it looks only at the number right
    after its last: if the column added first since was dropped again, a column added after it is
    missing from the log."""
    row = conn.execute(
        "select t.tgrelid, t.tgnargs, t.tgargs, a.attnum from pg_trigger t join pg_class c on c.oid = t.tgrelid "
        "join pg_namespace s on s.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid and a.attname = %s "
        "where s.nspname = %s and c.relname = %s and t.tgname = %s",
        (column, schema, table, TRIGGER),
    ).fetchone()
    if row is None:
        return True  # no capture, so no image lacks it
    relation, arguments, packed, attnum = row
    if arguments == 0:
        return True
    known = int(bytes(packed).split(b"\x00")[0])  # the arguments, each ended by a zero byte
    if attnum <= known:
        return True
    return conn.execute(
        "select exists (select from pg_attribute where attrelid = %s and attnum = %s and not attisdropped)",
        (relation, known + 1),
    ).fetchone()[0]


def _trigger_functions(conn: psycopg.Connection, schema: str, table: str) -> list[int]:
    """The functions the capture triggers of a table call now (the oids)."""
    rows = conn.execute(
        "select distinct t.tgfoid from pg_trigger t join pg_class c on c.oid = t.tgrelid "
        "join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s and t.tgname in (%s, %s)",
        (schema, table, TRIGGER, TRIGGER + "_truncate"),
    ).fetchall()
    return [oid for (oid,) in rows]


def _drop_unused_functions(conn: psycopg.Connection, oids: list[int]) -> None:
    """Drop capture functions no trigger calls any more (those of an earlier naming)."""
    rows = conn.execute(
        "select n.nspname, p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        "where p.oid = any(%s) and n.nspname = %s and not exists (select from pg_trigger t where t.tgfoid = p.oid)",
        (oids, CAPTURE_SCHEMA),
    ).fetchall()
    for namespace, name in rows:
        conn.execute(sql.SQL("drop function {}.{}()").format(sql.Identifier(namespace), sql.Identifier(name)))


def _ensure_consumers(conn: psycopg.Connection) -> None:
    """The consumers table beside a log made before it existed; the log itself only `install` makes."""
    log, consumers = conn.execute(
        "select to_regclass(%s), to_regclass(%s)",
        (_log_table().as_string(conn), _consumers_table().as_string(conn)),
    ).fetchone()
    if log is None:
        raise NotInstalled(
            f"the source has no change log ({CAPTURE_SCHEMA}.changes): install capture with `migrate load` or "
            "`migrate sync --install` (after decommission there is nothing left to sync)"
        )
    if consumers is None:
        conn.execute(sql.SQL(LOG_DDL["consumers"]).format(schema=sql.Identifier(CAPTURE_SCHEMA)))


def register(
    conn: psycopg.Connection,
    consumer_id: str,
    source_schema: str,
    target: str,
    snapshot: str | None = None,
    *,
    replace: bool = True,
) -> None:
    """Register a target as a consumer of the log from `snapshot`, or from the current snapshot,
    which is older than any the caller takes next. `replace` starts it afresh (a target loading
    again); without, only a consumer not registered yet is (a target loaded before consumers existed)."""
    _ensure_consumers(conn)
    action = (
        "update set source_schema = excluded.source_schema, snapshot = excluded.snapshot, target = excluded.target, "
        "registered_at = clock_timestamp(), last_applied_at = null"
        if replace
        else "nothing"
    )
    conn.execute(
        sql.SQL(
            "insert into {} (consumer_id, source_schema, snapshot, target) "
            "values (%s, %s, coalesce(%s::pg_snapshot, pg_current_snapshot()), %s) on conflict (consumer_id) do {}"
        ).format(_consumers_table(), sql.SQL(action)),
        (consumer_id, source_schema, snapshot, target),
    )


def applied(conn: psycopg.Connection, consumer_id: str, source_schema: str, target: str, snapshot: str) -> None:
    """A consumer has applied every change visible in `snapshot`: move it there, then purge the
    changes that every consumer of the schema has applied (call in one transaction)."""
    conn.execute(
        sql.SQL(
            "insert into {} (consumer_id, source_schema, snapshot, target, last_applied_at) "
            "values (%s, %s, %s, %s, clock_timestamp()) "
            "on conflict (consumer_id) do update "
            "set snapshot = excluded.snapshot, last_applied_at = excluded.last_applied_at"
        ).format(_consumers_table()),
        (consumer_id, source_schema, snapshot, target),
    )
    conn.execute(
        sql.SQL(
            "delete from {log} c where c.table_schema = %(schema)s "
            "and pg_visible_in_snapshot(c.txid, %(snapshot)s::pg_snapshot) "
            "and not exists (select from {consumers} k where k.source_schema = %(schema)s "
            "and not pg_visible_in_snapshot(c.txid, k.snapshot))"
        ).format(log=_log_table(), consumers=_consumers_table()),
        {"schema": source_schema, "snapshot": snapshot},
    )


def consumers(conn: psycopg.Connection, source_schema: str, this_consumer: str | None = None) -> list[Consumer]:
    """The targets consuming the schema's changes, each with the changes it holds in the log."""
    if conn.execute("select to_regclass(%s)", (_consumers_table().as_string(conn),)).fetchone()[0] is None:
        return []
    rows = conn.execute(
        sql.SQL(
            "select k.consumer_id, k.target, k.registered_at, k.last_applied_at, "
            "(select count(*) from {log} c where c.table_schema = k.source_schema "
            "and not pg_visible_in_snapshot(c.txid, k.snapshot)) "
            "from {consumers} k where k.source_schema = %s order by k.registered_at, k.consumer_id"
        ).format(log=_log_table(), consumers=_consumers_table()),
        (source_schema,),
    ).fetchall()
    return [Consumer(*row, this_target=row[0] == this_consumer) for row in rows]


def forget(conn: psycopg.Connection, consumer_id: str) -> bool:
    """Stop keeping changes for a consumer that is gone; whether there was one."""
    if conn.execute("select to_regclass(%s)", (_consumers_table().as_string(conn),)).fetchone()[0] is None:
        return False
    return (
        conn.execute(
            sql.SQL("delete from {} where consumer_id = %s").format(_consumers_table()), (consumer_id,)
        ).rowcount
        > 0
    )


def remove_triggers(conn: psycopg.Connection, schema: str, keep: Collection[str] = ()) -> list[str]:
    """Drop the capture triggers from every table of a schema but those in `keep`, keeping the change log."""
    rows = [(table, trigger) for table, trigger in _capture_triggers(conn, schema) if table not in keep]
    for table, trigger in rows:
        conn.execute(
            sql.SQL("drop trigger if exists {} on {}").format(
                sql.Identifier(trigger), sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            )
        )
    return sorted({table for table, _ in rows})


def remove(conn: psycopg.Connection, schema: str, table_names: list[str]) -> None:
    """Drop every capture object from the source (decommission)."""
    for name in table_names:
        target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
        if postgres.table_exists(conn, schema, name):
            conn.execute(sql.SQL("drop trigger if exists {} on {}").format(sql.Identifier(TRIGGER), target))
            conn.execute(
                sql.SQL("drop trigger if exists {} on {}").format(sql.Identifier(TRIGGER + "_truncate"), target)
            )
    conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(CAPTURE_SCHEMA)))


def _capture_triggers(conn: psycopg.Connection, schema: str) -> list[tuple[str, str]]:
    """The schema's capture triggers (row and truncate), as (table, trigger)."""
    return postgres.triggers_named(conn, schema, [TRIGGER, TRIGGER + "_truncate"])


def state(conn: psycopg.Connection, schema: str, table_names: list[str]) -> CaptureState:
    installed = set(postgres.tables_with_trigger(conn, schema, TRIGGER))
    return CaptureState(
        installed=[t for t in table_names if t in installed],
        missing=[t for t in table_names if t not in installed],
    )


# --- a sync batch: the log read up to a snapshot, applied to landing ---------------------------


def apply_batch(
    config: Config, source: Database, target: Database, *, snapshot_id: str | None = None, pause: Pause | None = None
) -> Batch:
    """Apply every change committed since the watermark, in one target transaction.

    The watermark is a source snapshot, not a change id: a batch applies exactly the changes of
    transactions that are visible in the new snapshot and were not visible in the previous one.
    Visibility only grows, so every committed transaction lands in exactly one batch, however late
    it commits relative to others. The landing changes and the new watermark commit in one target
    transaction; only afterwards does the source move this target's consumer (`applied`) to the
    new snapshot and purge what every consumer has applied, so several targets sync from one
    source independently. A batch killed at any point loses nothing and applies nothing twice.

    With `snapshot_id` (a source snapshot exported by the caller, still open), the batch applies
    exactly the changes visible in that snapshot, so landing then equals the source as of it;
    the caller must have taken the snapshot after `locks.paused` locked, so that the watermark is
    not already past it. With `pause`, the batch runs on the pausing session.
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
        locks.hold_sync_lock(dst, config)
        stack.callback(locks.release_sync_lock, dst, config)
        consumer_id = control.consumer_id(dst, config.control_schema)
        label = control.consumer_label(target.describe(), config.control_schema)
        with dst.transaction():
            previous = sync_state.watermark(dst, config.control_schema, for_update=True)
            # A target loaded before consumers existed (or forgotten by mistake) registers from its
            # watermark; from then on no other target's sync purges a change it has not applied.
            register(src, consumer_id, config.source_schema, label, previous, replace=False)
            src.commit()
            src.execute("set transaction isolation level repeatable read, read only")
            if snapshot_id is not None:
                src.execute(sql.SQL("set transaction snapshot {}").format(sql.Literal(snapshot_id)))
            # Both sides read and write every value's text under the same settings: the images, and
            # what travels in the copy of the log (its times, a column's missing value).
            for side in (src, dst):
                use_image_settings(side)
            (current,) = src.execute("select pg_current_snapshot()::text").fetchone()
            batch.snapshot = current
            # Described in the batch's own snapshot: every change it reads was written with these columns
            # or earlier ones.
            tables = landing.describe_all(src, config, list(config.tables))
            added = _check_schema(src, dst, config, list(tables.values()))
            reloaded = sync_state.table_loads_to_cover(dst, config.control_schema)
            with (
                src.cursor().copy(_changes_since(src, config.source_schema, previous, reloaded)) as reader,
                changes.staged(dst) as writer,
            ):
                for chunk in reader:
                    writer.write(chunk)
            src.rollback()
            counts = changes.staged_counts(dst)
            for name, _, json_images in counts:
                if json_images and name in tables:
                    changes.text_images_from_json(dst, config.landing_schema, tables[name])
            changes.fill_added_columns(dst, added)
            batch.columns_added = {name: [column.name for column, _ in columns] for name, columns in added.items()}
            for name, count, _ in counts:
                if name in tables:
                    changes.apply_changes(dst, config.landing_schema, tables[name])
                    batch.per_table[name] = count
            batch.changes = sum(count for _, count, _ in counts)
            sync_state.record_batch(dst, config.control_schema, current, batch.changes)
        # Only now that the target committed may the source move this consumer on and forget the
        # changes that every consumer has applied.
        with src.transaction():
            applied(src, consumer_id, config.source_schema, label, current)
    batch.seconds = time.perf_counter() - started
    return batch


def _changes_since(
    src: psycopg.Connection, source_schema: str, previous: str, reloaded: list[tuple[str, str]]
) -> sql.Composed:
    """The COPY of the schema's changes not visible in `previous`, in log order, but those of a
    table reloaded alone that are visible in its copy's snapshot (see load._load_table)."""
    skip = sql.SQL("").join(
        sql.SQL(" and not (table_name = {} and pg_visible_in_snapshot(txid, {}::pg_snapshot))").format(
            sql.Literal(name), sql.Literal(snapshot)
        )
        for name, snapshot in reloaded
    )
    return sql.SQL(
        "copy (select {cols} from {log} where table_schema = {schema} "
        "and not pg_visible_in_snapshot(txid, {previous}::pg_snapshot){reloaded} order by change_id) to stdout"
    ).format(
        cols=_log_columns(src),
        log=_log_table(),
        schema=sql.Literal(source_schema),
        previous=sql.Literal(previous),
        reloaded=skip,
    )


def _log_columns(src: psycopg.Connection) -> sql.Composable:
    """What is copied of the source's log: changes.CHANGE_COLUMNS, with image_format NULL in a log made
    before it existed (written by triggers of that version: JSON images, every one)."""
    (has_format,) = src.execute(
        "select exists (select from pg_attribute where attrelid = %s::regclass "
        "and attname = 'image_format' and not attisdropped)",
        (sql.SQL("{}.changes").format(sql.Identifier(CAPTURE_SCHEMA)).as_string(src),),
    ).fetchone()
    return sql.SQL(", ").join(
        sql.Identifier(c) if c != "image_format" or has_format else sql.SQL("null") for c in changes.CHANGE_COLUMNS
    )


def backlog(conn: psycopg.Connection, source_schema: str, position: str) -> tuple[int, float | None]:
    """The schema's changes in the log not visible in `position`: how many, and the oldest one's age in seconds."""
    behind, oldest = conn.execute(
        sql.SQL(
            "select count(*), extract(epoch from clock_timestamp() - min(captured_at)) from {} "
            "where table_schema = %s and not pg_visible_in_snapshot(txid, %s::pg_snapshot)"
        ).format(_log_table()),
        (source_schema, position),
    ).fetchone()
    return int(behind), float(oldest) if oldest is not None else None


class SchemaChanged(HarnessError):
    """A source table's columns changed in a way landing cannot follow by itself."""


def _check_schema(
    src: psycopg.Connection, dst: psycopg.Connection, config: Config, tables: list[landing.SourceTable]
) -> dict[str, list[tuple[postgres.Column, str | None]]]:
    """Compare each listed table at the source with its landing copy, at the start of a batch.

    A NOT NULL dropped at the source is dropped in landing. A column added at the source whose
    older rows are known to hold null or the constant it was added with is added to landing (the capture
    trigger's images carry it from then on, see image_carries); the added columns are
    returned with that constant (None: null) for changes.fill_added_columns. Anything else
    (a table not loaded, a column dropped, renamed or retyped, a volatile default) stops the
    sync before anything is applied or purged, with the fix.
    """
    added: dict[str, list[tuple[postgres.Column, str]]] = {}
    # Every landing table at once, as the source's: a query or two per table would add up over hundreds.
    landing_tables = postgres.columns_and_keys(dst, config.landing_schema, [t.name for t in tables])
    for table in tables:
        name = table.name
        reload = f"update the models, then run `migrate load --table {name}`"
        if name not in landing_tables:
            raise sync_state.NotLoaded(
                f"table {name} is listed in migration.yml but not loaded, and sync would drop its changes: "
                f"run `migrate load --table {name}`"
            )
        landed = {c.name: c for c in landing_tables[name][0] if c.name not in landing.SYNC_COLUMNS}
        current = {c.name for c in table.columns}
        for gone in (c for c in landed if c not in current):
            raise SchemaChanged(f"table {name}: column {gone} was dropped (or renamed) at the source: {reload}")
        fills = None
        for column in table.columns:
            before = landed.get(column.name)
            if before is not None:
                if before.type != column.type:
                    raise SchemaChanged(
                        f"table {name}: column {column.name} changed type at the source "
                        f"from {before.type} to {column.type}: {reload}"
                    )
                if before.not_null and not column.not_null and column.name not in table.key:
                    landing.allow_null(dst, config.landing_schema, name, column.name)  # its nulls may come now
                continue
            fills = fills or postgres.column_fills(src, config.source_schema, name)
            if not fills[column.name].known:
                raise SchemaChanged(
                    f"table {name}: column {column.name} was added at the source "
                    f"with a default that older rows may not hold: {reload}"
                )
            if column.name in table.masks:
                raise SchemaChanged(
                    f"table {name}: column {column.name} was added at the source and is masked in migration.yml: "
                    f"run `migrate load --table {name}` so that capture masks it"
                )
            if not image_carries(src, config.source_schema, name, column.name):
                raise SchemaChanged(
                    f"table {name}: column {column.name} was added at the source "
                    f"after another added column was dropped, "
                    f"and the change log does not hold its values: run `migrate load --table {name}`"
                )
            missing = fills[column.name].missing
            landing.create_types(dst, postgres.own_types(src, config.source_schema, name))
            landing.create_collations(src, dst, config.source_schema, config.landing_schema, name, [column])
            landing.add_column(dst, config.landing_schema, name, column, missing)
            added.setdefault(name, []).append((column, missing))
    return added
