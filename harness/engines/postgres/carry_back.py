"""The fallback's writes into the legacy schema: the reverse models' rows staged in a temp table
`_fallback` typed like the legacy table, then deleted, updated (only the columns each row lists)
and inserted, and read back to verify them. Sessions under capture.IMAGE_SETTINGS (image_session).

The caller orders the statements so that every declared constraint holds after each one (fallback.PASSES);
a row the carried data itself leaves breaking one (a key taken twice, a reference to a row not
there) refuses the whole carry-back with one line naming the table, the key and the constraint."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

from harness.core.errors import HarnessError
from harness.dbt import contract as dbt_contract
from harness.engines import postgres
from harness.engines.postgres import capture

OP, COLUMNS = dbt_contract.FALLBACK_OP, dbt_contract.FALLBACK_COLUMNS


class NotWritable(HarnessError):
    """A reverse row the legacy table cannot take as it is."""

    exit_code = 1


def image_session(conn: psycopg.Connection) -> None:
    """capture.IMAGE_SETTINGS for the whole session (of this command's own)."""
    capture.use_image_settings(conn, local=False)
    conn.commit()


def _stage(conn: psycopg.Connection, schema: str, table: str, columns: list[str], blocks: Iterable[bytes]) -> None:
    """The reverse rows (COPY text: `columns`, OP, COLUMNS) into `_fallback`, typed like the legacy table."""
    conn.execute("drop table if exists _fallback")
    conn.execute(
        sql.SQL(
            # Typed like the legacy table, without its NOT NULLs: a delete's row carries only its key.
            "create temp table _fallback as select * from {} with no data; "
            "alter table _fallback add column {} char(1), add column {} text[]"
        ).format(postgres.qualified(schema, table), sql.Identifier(OP), sql.Identifier(COLUMNS))
    )
    names = postgres.column_list([*columns, OP, COLUMNS])
    with conn.cursor().copy(sql.SQL("copy _fallback ({}) from stdin").format(names)) as into:
        for block in blocks:
            into.write(block)


def _match(key: list[str]) -> sql.Composable:
    return sql.SQL(" and ").join(sql.SQL("t.{0} = f.{0}").format(sql.Identifier(k)) for k in key)


def carry_back_begin(conn: psycopg.Connection) -> None:
    """The legacy schema's DEFERRABLE constraints checked once, at the end (carry_back_end); the
    others (PostgreSQL defers no other) hold after each statement by the caller's order."""
    conn.execute("set constraints all deferred")


def carry_back_end(conn: psycopg.Connection, schema: str, carried: dict[str, dict[str, int]]) -> None:
    """The deferred constraints checked now, before the commit: one the writes broke refuses in one line."""
    _written(conn, sql.SQL("set constraints all immediate"), "the legacy tables")


def _references(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str, list[str], list[str]]]:
    """The declared foreign keys naming the table that a delete breaks at once: (the referencing
    table's schema and name, its columns, the table's columns they name). Not a DEFERRABLE one
    without an ON DELETE action (deferred, carry_back_begin), nor a partition's copy of one."""
    return conn.execute(
        """
        select n.nspname, r.relname,
               array(select a.attname::text from unnest(c.conkey) with ordinality k(num, i)
                     join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.num order by k.i),
               array(select a.attname::text from unnest(c.confkey) with ordinality k(num, i)
                     join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.num order by k.i)
        from pg_constraint c join pg_class r on r.oid = c.conrelid join pg_namespace n on n.oid = r.relnamespace
        where c.contype = 'f' and c.conparentid = 0 and not (c.condeferrable and c.confdeltype = 'a')
          and c.confrelid = (
            select p.oid from pg_class p join pg_namespace pn on pn.oid = p.relnamespace
            where pn.nspname = %s and p.relname = %s)
        """,
        (schema, table),
    ).fetchall()


def _written(conn: psycopg.Connection, statement: sql.Composable, table: str) -> int:
    """The rows one statement wrote; a constraint it breaks refuses in one line (the caller's
    transaction, aborted, is rolled back: nothing written)."""
    try:
        return conn.execute(statement).rowcount
    except psycopg.errors.IntegrityError as exc:
        detail = f" ({exc.diag.message_detail.rstrip('.')})" if exc.diag.message_detail else ""
        raise NotWritable(
            f"the fallback cannot write {table} into the source: {exc.diag.message_primary}{detail}; "
            "fix the reverse model and run migrate rollback again (nothing was written)"
        ) from None


def carry_back(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    key: list[str],
    columns: list[str],
    blocks: Iterable[bytes],
    *,
    deletes: bool,
    unreferenced: bool = False,
) -> dict[str, int]:
    """Write the reverse rows into the legacy table (in the caller's transaction): with `deletes`
    only the D rows (the caller goes children first; with `unreferenced` only those no declared
    foreign key names, the rest waiting for the writes to move the references away), else I
    inserts a key not there, then I and U update the columns each lists; the rows deleted, or
    inserted and updated."""
    _stage(conn, schema, table, columns, blocks)
    legacy = postgres.qualified(schema, table)
    match = _match(key)
    if deletes:
        named = [
            sql.SQL("not exists (select 1 from {} r where {})").format(
                postgres.qualified(child_schema, child),
                sql.SQL(" and ").join(
                    sql.SQL("r.{} = t.{}").format(sql.Identifier(c), sql.Identifier(p))
                    for c, p in zip(child_columns, parent_columns, strict=True)
                ),
            )
            for child_schema, child, child_columns, parent_columns in (
                _references(conn, schema, table) if unreferenced else []
            )
        ]
        deleted = _written(
            conn,
            sql.SQL("delete from {} t using _fallback f where f.{} = 'D' and {}").format(
                legacy, sql.Identifier(OP), sql.SQL(" and ").join([match, *named])
            ),
            table,
        )
        return {"deleted": deleted}
    others = [c for c in columns if c not in key]
    inserted = _written(
        conn,
        sql.SQL(
            "insert into {t} ({cols}) select {fcols} from _fallback f "
            "where f.{op} = 'I' and not exists (select 1 from {t} t where {match})"
        ).format(
            t=legacy,
            cols=postgres.column_list(columns),
            fcols=sql.SQL(", ").join(sql.SQL("f.{}").format(sql.Identifier(c)) for c in columns),
            op=sql.Identifier(OP),
            match=match,
        ),
        table,
    )
    # After the inserts an update may point at a row born in this batch; it also rewrites the rows
    # just inserted (same values), which are not counted as updated.
    updated = _written(
        conn,
        sql.SQL("update {t} t set {assign} from _fallback f where f.{op} <> 'D' and {match}").format(
            t=legacy,
            assign=sql.SQL(", ").join(
                sql.SQL("{0} = case when {1} = any(f.{2}) then f.{0} else t.{0} end").format(
                    sql.Identifier(c), sql.Literal(c), sql.Identifier(COLUMNS)
                )
                for c in others
            ),
            op=sql.Identifier(OP),
            match=match,
        ),
        table,
    )
    return {"inserted": inserted, "updated": updated - inserted}


def check_carried(
    conn: psycopg.Connection, schema: str, table: str, key: list[str], columns: list[str], blocks: Iterable[bytes]
) -> tuple[int, int, Any]:
    """Every reverse row is in the legacy table as written (its listed columns), every delete is
    gone: (rows checked, rows wrong, up to three wrong keys)."""
    _stage(conn, schema, table, columns, blocks)
    return conn.execute(
        sql.SQL(
            """
            select count(*), count(*) filter (where bad), (array_agg(key) filter (where bad))[1:3]
            from (
                select jsonb_build_object({key}) as key,
                       case when f.{op} = 'D' then t.ctid is not null
                            else t.ctid is null or exists (
                                select 1 from unnest(f.{cols}) c where {written} ->> c is distinct from {read} ->> c)
                       end as bad
                from _fallback f left join {t} t on {match}
            ) checked
            """
        ).format(
            key=sql.SQL(", ").join(sql.SQL("{}, f.{}").format(sql.Literal(k), sql.Identifier(k)) for k in key),
            op=sql.Identifier(OP),
            cols=sql.Identifier(COLUMNS),
            t=postgres.qualified(schema, table),
            match=_match(key),
            written=capture.text_image(sql.SQL("f"), columns),
            read=capture.text_image(sql.SQL("t"), columns),
        )
    ).fetchone()
