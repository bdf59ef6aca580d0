"""Backups of a PostgreSQL database: pg_dump archives taken in an exported snapshot, with each
table's row count and content checksum read in that same snapshot, and pg_restore.

A table's checksum is the sum of a 64-bit hash of each row's text, read under fixed session
settings (the text of every type is then exact and the same on both sides), so it does not depend
on row order and any changed value shows."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import psycopg
from psycopg import sql

from harness.core import processes
from harness.core.connections import Database
from harness.engines.postgres import catalog

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
# The text of every value under these settings is exact and does not depend on the session.
TEXT_SETTINGS = {
    "extra_float_digits": "1",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "bytea_output": "hex",
    "TimeZone": "UTC",
    "standard_conforming_strings": "on",
}


def user_schemas(conn: psycopg.Connection, excluded: Collection[str]) -> list[str]:
    rows = conn.execute(
        "select nspname from pg_namespace where nspname <> all(%s) and nspname not like 'pg_temp%%' "
        "and nspname not like 'pg_toast%%' and nspname <> all(%s) order by 1",
        (list(SYSTEM_SCHEMAS), list(excluded)),
    ).fetchall()
    return [name for (name,) in rows]


def counts_and_checksums(conn: psycopg.Connection, schemas: list[str]) -> tuple[dict[str, int], dict[str, str]]:
    """Each table's row count and content checksum, in the connection's current transaction."""
    for name, value in TEXT_SETTINGS.items():
        conn.execute("select set_config(%s, %s, true)", (name, value))
    tables = conn.execute(
        "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where c.relkind in ('r', 'p') and n.nspname = any(%s) order by 1, 2",
        (schemas,),
    ).fetchall()
    counts, sums = {}, {}
    for schema, table in tables:
        # A row's text (its record form) quotes what needs quoting: two different rows never read alike.
        # row(t.*), not t: a column named t would stand for the row.
        count, total = conn.execute(
            sql.SQL("select count(*), coalesce(sum(hashtextextended(row(t.*)::text, 0)), 0)::text from {} as t").format(
                catalog.qualified(schema, table)
            )
        ).fetchone()
        counts[f"{schema}.{table}"], sums[f"{schema}.{table}"] = count, total
    return counts, sums


def dump(
    conn: psycopg.Connection, database: Database, schemas: list[str], file: Path, snapshot_id: str
) -> tuple[str, dict[str, int], dict[str, str]]:
    """pg_dump the schemas into `file` in the snapshot `conn` exported (copy.open_snapshot), whose
    counts and checksums are taken in that same snapshot; returns (server version, counts, checksums)."""
    version = conn.execute("show server_version").fetchone()[0]
    major = conn.info.server_version // 10000
    counts, sums = counts_and_checksums(conn, schemas)
    args: list = [processes.pg_tool("pg_dump", major), "--format=custom", f"--snapshot={snapshot_id}", f"--file={file}"]
    # Double quotes make pg_dump take the name literally: case kept, no pattern characters.
    args += ['--schema="{}"'.format(s.replace('"', '""')) for s in schemas]
    processes.run(args, env=processes.libpq_env(database.url), what=f"pg_dump of the {database.side}")
    conn.rollback()
    return version, counts, sums


def restore_archive(conn: psycopg.Connection, restored: Database, file: Path) -> None:
    """pg_restore `file` into the new database `restored` (`conn` is connected to it)."""
    major = conn.info.server_version // 10000
    pg_restore = processes.pg_tool("pg_restore", major)
    # The harness's own triggers (capture, freeze) call functions in a schema the archive does
    # not hold; a restored copy is the data as the applications know it, without them.
    contents = processes.run([pg_restore, "--list", file], what="pg_restore --list")
    kept = [line for line in contents.splitlines() if not (" TRIGGER " in line and "_migrate_" in line)]
    listing = file.with_suffix(".list")
    listing.write_text("\n".join(kept) + "\n")
    try:
        processes.run(
            [
                pg_restore,
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--clean",
                "--if-exists",
                f"--use-list={listing}",
                f"--dbname={restored.name}",
                file,
            ],
            env=processes.libpq_env(restored.url),
            what="pg_restore",
        )
    finally:
        listing.unlink(missing_ok=True)
