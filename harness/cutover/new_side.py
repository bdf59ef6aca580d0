"""The new side made ready for the applications: the `app` tables captured for a fallback (with
before images) and their sequences continued above the migrated values."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Collection

import psycopg
from psycopg import sql

from harness import capture, connections, dbt_artifacts, landing
from harness.config import Config
from harness.connections import Database
from harness.cutover.strategy import Plan
from harness.engines import postgres
from harness.provision import APP_SCHEMA


def app_table_names(conn: psycopg.Connection) -> list[str]:
    return [n for (n,) in conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s and c.relkind = 'r' order by 1",
        (APP_SCHEMA,),
    ).fetchall()]


def app_tables(conn: psycopg.Connection) -> list[landing.SourceTable]:
    return [landing.SourceTable(n, postgres.columns(conn, APP_SCHEMA, n), postgres.primary_key(conn, APP_SCHEMA, n), {}) for n in app_table_names(conn)]


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
        (top,) = conn.execute(sql.SQL("select max({}) from {}").format(sql.Identifier(column), postgres.qualified(schema, table))).fetchone()
        if top is not None:
            conn.execute("select setval(%s, greatest(%s, (select last_value from pg_sequences where format('%%I.%%I', schemaname, sequencename) = %s)))", (sequence, top, sequence))
            aligned[f"{table}.{column}"] = top
    return aligned


def app_sources(project_dir: Path, legacy_tables: Collection[str]) -> dict[str, set[str]]:
    """Each table of `app` with the legacy tables it is made from, as the models declare them
    (model meta `source_table`, e.g. "CUSTOMER, ORDER_HDR"), read from dbt's manifest."""
    result = {}
    for model in dbt_artifacts.models(dbt_artifacts.load(project_dir)):
        if model.is_target and model.schema == APP_SCHEMA and model.source_table:
            named = {name.strip().strip('"') for name in re.split(r"[,;]", model.source_table) if name.strip()}
            if named <= set(legacy_tables):
                result[model.relation.split(".", 1)[1]] = named
    return result


def reverse_capture_due(config: Config, conn: psycopg.Connection, chosen: Plan) -> list[landing.SourceTable]:
    """The `app` tables the new application may write once this cutover switches.

    All of them, except in a phased cutover: there a table is captured once every legacy table it
    is made from is switched (tables of unknown origin with the last wave), so a fallback carries
    back only the new application's writes, never the syncs of the tables still on the legacy side.
    """
    candidates = app_tables(conn)
    if chosen.wave is None:
        return candidates
    before, after = set(chosen.switched_before), set(chosen.switched_after)
    origin = app_sources(config.project_dir, [t.name for t in config.tables])

    def switched(table: str, tables: set[str]) -> bool:
        return table in origin and origin[table] <= tables

    # Those that an earlier wave's cutover did not capture (a question of the waves, not of which
    # triggers exist: a resumed run must find the same tables).
    return [t for t in candidates if not switched(t.name, before) and (chosen.last or switched(t.name, after))]


def install_reverse_capture(target: Database, tables: list[landing.SourceTable]) -> None:
    """Capture (with before images) on the `app` tables the new application will write. Creating
    triggers locks each table; before the freeze that costs the window nothing."""
    with connections.connection(target, command="cutover", autocommit=True) as conn:
        installed = set(capture.state(conn, APP_SCHEMA, [t.name for t in tables]).installed)
        capture.install(conn, APP_SCHEMA, [t for t in tables if t.name not in installed], before_images=True)


def clear_reverse_log(target: Database, names: list[str]) -> None:
    """Forget what the migration itself wrote to these tables (its builds): until the switch nobody
    else writes them, so the log holds the new application's writes only from the switch on."""
    with connections.connection(target, command="cutover", autocommit=True) as conn:
        conn.execute(
            sql.SQL("delete from {}.changes where table_schema = %s and table_name = any(%s)").format(sql.Identifier(capture.CAPTURE_SCHEMA)),
            (APP_SCHEMA, names),
        )

