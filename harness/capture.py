"""Trigger-based change capture on the source.

A `_migrate` schema on the source holds one change log; an AFTER trigger on each listed table
appends the operation, the old key and the new row image (masks applied, so a masked value
never enters the log) together with the writing transaction's id. Sync reads the log by
snapshot visibility, not by change id, so a transaction that commits after later ones is never
skipped. Needs neither a restart nor a superuser: only CREATE on the database and TRIGGER on
the tables.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

import psycopg
from psycopg import sql

from harness.engines import postgres
from harness.landing import MASK_SQL, SourceTable

CAPTURE_SCHEMA = "_migrate"
TRIGGER = "_migrate_capture"
FROZEN_MESSAGE = "writes are frozen for the migration cutover"
FROZEN_HINT = "the application should retry on the new system or wait for the rollback"


def freeze_lock_key(schema: sql.Composable) -> sql.Composed:
    """The advisory lock every captured write holds shared; the freeze takes it exclusively."""
    return sql.SQL("hashtextextended('_migrate freeze ' || {}, 0)").format(schema)

LOG_DDL = """
create schema if not exists {schema};
create table if not exists {schema}.changes (
    change_id   bigint generated always as identity primary key,
    txid        xid8 not null default pg_current_xact_id(),
    table_schema text not null,
    table_name  text not null,
    op          char(1) not null check (op in ('I', 'U', 'D', 'T')),
    old_key     jsonb,          -- the key before an update or delete
    new_row     jsonb,          -- the row after an insert or update, masked
    captured_at timestamptz not null default clock_timestamp()
);
-- The row before an update or delete: kept only where a fallback needs it (capture of `app`).
alter table {schema}.changes add column if not exists old_row jsonb;
"""


@dataclass(frozen=True)
class CaptureState:
    installed: list[str]
    missing: list[str]


def _function_name(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(CAPTURE_SCHEMA), sql.Identifier(f"capture__{schema}__{table}"))


def ensure_log(conn: psycopg.Connection) -> None:
    conn.execute(sql.SQL(LOG_DDL).format(schema=sql.Identifier(CAPTURE_SCHEMA)))


def _row_trigger_body(table: SourceTable, before_images: bool) -> sql.Composed:
    masks = [
        sql.SQL("new_row := new_row || jsonb_build_object({name}, {expr});").format(
            name=sql.Literal(column),
            expr=sql.SQL(MASK_SQL[mask].format(col="{col}")).format(col=sql.SQL("NEW.{}").format(sql.Identifier(column))),
        )
        for column, mask in table.masks.items()
    ]
    old_key = sql.SQL(", ").join(
        sql.SQL("{}, OLD.{}").format(sql.Literal(k), sql.Identifier(k)) for k in table.key
    )
    return sql.SQL(
        """
declare
    new_row jsonb;
    old_key jsonb;
    old_row jsonb;
begin
    -- A freeze is waiting for the writes in flight or holds the lock: refuse at once.
    if not pg_try_advisory_xact_lock_shared({freeze_key}) then
        raise exception using errcode = 'read_only_sql_transaction', message = {message}, hint = {hint};
    end if;
    if TG_OP = 'TRUNCATE' then
        insert into {log} (table_schema, table_name, op) values (TG_TABLE_SCHEMA, TG_TABLE_NAME, 'T');
        return null;
    end if;
    if TG_OP in ('INSERT', 'UPDATE') then
        new_row := to_jsonb(NEW);
        {masks}
    end if;
    if TG_OP in ('UPDATE', 'DELETE') then
        old_key := jsonb_build_object({old_key});
        {old_row}
    end if;
    insert into {log} (table_schema, table_name, op, old_key, new_row, old_row)
    values (TG_TABLE_SCHEMA, TG_TABLE_NAME, left(TG_OP, 1), old_key, new_row, old_row);
    return null;
end
"""
    ).format(
        log=sql.SQL("{}.changes").format(sql.Identifier(CAPTURE_SCHEMA)),
        masks=sql.SQL("\n        ").join(masks),
        old_key=old_key,
        old_row=sql.SQL("old_row := to_jsonb(OLD);" if before_images else ""),
        freeze_key=freeze_lock_key(sql.SQL("TG_TABLE_SCHEMA")),
        message=sql.Literal(FROZEN_MESSAGE),
        hint=sql.Literal(FROZEN_HINT),
    )


def install(conn: psycopg.Connection, schema: str, tables: list[SourceTable], *, before_images: bool = False) -> None:
    """Create the change log and a capture trigger per table; safe to run again.

    `before_images` also logs each updated or deleted row as it was (the fallback compares the
    new application's rows with what cutover left, column by column).
    """
    ensure_log(conn)
    for table in tables:
        function = _function_name(schema, table.name)
        # security definer: the legacy application's role needs no grant on the change log.
        conn.execute(
            sql.SQL(
                "create or replace function {fn}() returns trigger language plpgsql security definer "
                "set search_path = pg_catalog as {body}"
            ).format(fn=function, body=sql.Literal(_row_trigger_body(table, before_images).as_string(conn)))
        )
        target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table.name))
        # Creating a trigger waits for in-flight writers of the table: every write that commits
        # after this point is captured, every earlier one is in the load's snapshot.
        conn.execute(sql.SQL("drop trigger if exists {} on {}").format(sql.Identifier(TRIGGER), target))
        conn.execute(sql.SQL("drop trigger if exists {} on {}").format(sql.Identifier(TRIGGER + "_truncate"), target))
        conn.execute(
            sql.SQL("create trigger {} after insert or update or delete on {} for each row execute function {}()").format(
                sql.Identifier(TRIGGER), target, function
            )
        )
        conn.execute(
            sql.SQL("create trigger {} after truncate on {} for each statement execute function {}()").format(
                sql.Identifier(TRIGGER + "_truncate"), target, function
            )
        )


def remove_triggers(conn: psycopg.Connection, schema: str, keep: Collection[str] = ()) -> list[str]:
    """Drop the capture triggers from every table of a schema but those in `keep`, keeping the change log."""
    rows = conn.execute(
        "select c.relname, t.tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s and t.tgname in (%s, %s) "
        "and c.relname <> all(%s)",
        (schema, TRIGGER, TRIGGER + "_truncate", list(keep)),
    ).fetchall()
    for table, trigger in rows:
        conn.execute(sql.SQL("drop trigger if exists {} on {}").format(sql.Identifier(trigger), sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))))
    return sorted({table for table, _ in rows})


def remove(conn: psycopg.Connection, schema: str, table_names: list[str]) -> None:
    """Drop every capture object from the source (decommission)."""
    for name in table_names:
        target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
        if postgres.table_exists(conn, schema, name):
            conn.execute(sql.SQL("drop trigger if exists {} on {}").format(sql.Identifier(TRIGGER), target))
            conn.execute(sql.SQL("drop trigger if exists {} on {}").format(sql.Identifier(TRIGGER + "_truncate"), target))
    conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(CAPTURE_SCHEMA)))


def state(conn: psycopg.Connection, schema: str, table_names: list[str]) -> CaptureState:
    rows = conn.execute(
        """
        select c.relname from pg_trigger t
        join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %s and t.tgname = %s
        """,
        (schema, TRIGGER),
    ).fetchall()
    installed = {name for (name,) in rows}
    return CaptureState(
        installed=[t for t in table_names if t in installed],
        missing=[t for t in table_names if t not in installed],
    )
