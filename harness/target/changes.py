"""Captured changes folded into landing: a batch stages the source's changes in a temp table
`_changes` on the target (one transaction), then each table's changes land, the last image per key
winning. Images hold each column's text, read back under capture.IMAGE_SETTINGS."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from harness.engines import postgres
from harness.engines.postgres import capture
from harness.target import landing

CHANGE_COLUMNS = ["change_id", "table_schema", "table_name", "op", "old_key", "new_row", "captured_at", "image_format"]


@contextmanager
def staged(conn: psycopg.Connection) -> Iterator[psycopg.Copy]:
    """Create `_changes` (dropped on commit) and take the changes' rows (COPY text, CHANGE_COLUMNS)."""
    conn.execute(
        "create temp table _changes (change_id bigint, table_schema text, table_name text, op char(1), "
        "old_key jsonb, new_row jsonb, captured_at timestamptz, image_format text) on commit drop"
    )
    with conn.cursor().copy(
        sql.SQL("copy _changes ({}) from stdin").format(postgres.column_list(CHANGE_COLUMNS))
    ) as writer:
        yield writer


def staged_counts(conn: psycopg.Connection) -> list[tuple[str, int, int]]:
    """Per table: the changes staged, and how many of them hold JSON images (see text_images_from_json)."""
    return conn.execute(
        "select table_name, count(*), count(*) filter (where image_format is null and op <> 'T') "
        "from _changes group by table_name"
    ).fetchall()


def fill_added_columns(dst: psycopg.Connection, added: dict[str, list[tuple[postgres.Column, str | None]]]) -> None:
    """Changes written before a column was added do not hold it, but at the source those rows hold
    the constant it was added with, as landing's older rows now do: give it to them. All such
    changes are in this batch, the first whose snapshot sees the column (the ALTER waited for
    their writers to commit). In the images' text form: run after text_images_from_json."""
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


def text_images_from_json(conn: psycopg.Connection, landing_schema: str, table: landing.SourceTable) -> None:
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
