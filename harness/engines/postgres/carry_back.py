"""The fallback's writes into the legacy schema: the reverse models' rows staged in a temp table
`_fallback` typed like the legacy table, then deleted, updated (only the columns each row lists)
and inserted, and read back to verify them. Sessions under capture.IMAGE_SETTINGS (image_session)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

from harness.dbt import contract as dbt_contract
from harness.engines import postgres
from harness.engines.postgres import capture

OP, COLUMNS = dbt_contract.FALLBACK_OP, dbt_contract.FALLBACK_COLUMNS


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


def carry_back(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    key: list[str],
    columns: list[str],
    blocks: Iterable[bytes],
    *,
    deletes: bool,
) -> dict[str, int]:
    """Write the reverse rows into the legacy table (in the caller's transaction): with `deletes`
    only the D rows (the caller goes children first), else I inserts a key not there, then I and U
    update the columns each lists; the rows deleted, or inserted and updated."""
    _stage(conn, schema, table, columns, blocks)
    legacy = postgres.qualified(schema, table)
    match = _match(key)
    if deletes:
        deleted = conn.execute(
            sql.SQL("delete from {} t using _fallback f where f.{} = 'D' and {}").format(
                legacy, sql.Identifier(OP), match
            )
        ).rowcount
        return {"deleted": deleted}
    others = [c for c in columns if c not in key]
    inserted = conn.execute(
        sql.SQL(
            "insert into {t} ({cols}) select {fcols} from _fallback f "
            "where f.{op} = 'I' and not exists (select 1 from {t} t where {match})"
        ).format(
            t=legacy,
            cols=postgres.column_list(columns),
            fcols=sql.SQL(", ").join(sql.SQL("f.{}").format(sql.Identifier(c)) for c in columns),
            op=sql.Identifier(OP),
            match=match,
        )
    ).rowcount
    # After the inserts an update may point at a row born in this batch; it also rewrites the rows
    # just inserted (same values), which are not counted as updated.
    updated = conn.execute(
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
        )
    ).rowcount
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
