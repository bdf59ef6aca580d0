"""The new application's schema on the target (`app`): its tables, and its sequences continued
above the migrated values."""

from __future__ import annotations

import psycopg
from psycopg import sql

from harness.engines import postgres
from harness.engines.postgres import capture
from harness.target import landing
from harness.target.provision import APP_SCHEMA


def app_table_names(conn: psycopg.Connection) -> list[str]:
    return [
        n
        for (n,) in conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s "
            "and c.relkind = 'r' order by 1",
            (APP_SCHEMA,),
        ).fetchall()
    ]


def app_tables(conn: psycopg.Connection) -> list[landing.SourceTable]:
    return [
        landing.SourceTable(n, postgres.columns(conn, APP_SCHEMA, n), postgres.primary_key(conn, APP_SCHEMA, n), {})
        for n in app_table_names(conn)
    ]


def align_sequences(conn: psycopg.Connection, schema: str) -> dict[str, int]:
    """Every identity or serial sequence of the schema continues above its column's largest value."""
    rows = conn.execute(
        """
        select c.relname, a.attname, pg_get_serial_sequence(format('%%I.%%I', n.nspname, c.relname), a.attname)
        from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %s and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped
          and pg_get_serial_sequence(format('%%I.%%I', n.nspname, c.relname), a.attname) is not null
        """,
        (schema,),
    ).fetchall()
    aligned = {}
    for table, column, sequence in rows:
        (top,) = conn.execute(
            sql.SQL("select max({}) from {}").format(sql.Identifier(column), postgres.qualified(schema, table))
        ).fetchone()
        if top is not None:
            conn.execute(
                "select setval(%s, greatest(%s, (select last_value from pg_sequences "
                "where format('%%I.%%I', schemaname, sequencename) = %s)))",
                (sequence, top, sequence),
            )
            aligned[f"{table}.{column}"] = top
    return aligned


def forget_changes(conn: psycopg.Connection, names: list[str]) -> None:
    """Empty the reverse capture's log of these `app` tables."""
    conn.execute(
        sql.SQL("delete from {}.changes where table_schema = %s and table_name = any(%s)").format(
            sql.Identifier(capture.CAPTURE_SCHEMA)
        ),
        (APP_SCHEMA, names),
    )


def remove_reverse_capture(conn: psycopg.Connection) -> list[str]:
    """Take the reverse capture off the `app` tables, its log with it (decommission: no fallback any more);
    the tables it was removed from."""
    removed = capture.remove_triggers(conn, APP_SCHEMA)
    conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(capture.CAPTURE_SCHEMA)))
    return removed
