"""Timestamp-based capture, for sources that forbid triggers.

Each sync re-reads, per table, the rows whose last-updated column is at or after the newest
value seen so far minus an overlap, and upserts the ones that differ into landing. It needs
nothing on the source but SELECT, and it has blind spots that triggers do not:

- hard deletes leave no row to read: `detect_deletes` compares key sets and tombstones them;
- rows whose timestamp is NULL, or is not bumped by a write, are never re-read: counted and reported;
- a transaction that commits later than `overlap` after it stamped its rows, or an application
  clock that lags the others by more than `overlap`, is missed: future-dated rows are reported,
  and the overlap should exceed the longest write transaction.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.control import STREAM
from harness.core.errors import ConfigError
from harness.engines import postgres
from harness.target import landing


@dataclass
class TimestampBatch:
    changes: int = 0
    per_table: dict[str, int] = field(default_factory=dict)
    deletes_detected: dict[str, int] = field(default_factory=dict)
    null_stamped: dict[str, int] = field(default_factory=dict)
    future_stamped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _tables(src: psycopg.Connection, config: Config) -> list[landing.SourceTable]:
    # Described again each batch, not taken from the command's Context: a column added at the
    # source since the last batch must fail the copy into landing, not be left out of it.
    tables = list(landing.describe_all(src, config, list(config.tables)).values())
    require_column(tables, config.capture.column)
    return tables


def require_column(tables: list[landing.SourceTable], column: str | None) -> None:
    lacking = [t.name for t in tables if column not in {c.name for c in t.columns}]
    if lacking:
        raise ConfigError(
            f"capture.column {column!r} is missing from {', '.join(lacking)}: timestamp capture needs it on every "
            "table, or use capture.method 'trigger'"
        )


def sync_once(config: Config, source: Database, target: Database, *, detect_deletes: bool = False) -> TimestampBatch:
    started = time.perf_counter()
    batch = TimestampBatch()
    column = sql.Identifier(config.capture.column)
    overlap = sql.Literal(f"{config.capture.overlap_seconds} seconds")
    with connections.connection(target, command="sync") as dst, connections.connection(source, command="sync") as src:
        tables = _tables(src, config)
        src.rollback()
        with dst.transaction():
            state = dst.execute(
                sql.SQL("select timestamp_watermark from {} where stream = %s for update").format(
                    control.table(config.control_schema, "sync_state")
                ),
                (STREAM,),
            ).fetchone()
            if state is None:
                raise ConfigError("nothing to sync into: no finished load in the target; run `migrate load` first")
            watermarks: dict[str, str | None] = dict(state[0] or {})
            src.execute("set transaction isolation level repeatable read, read only")
            for table in tables:
                qualified = postgres.qualified(config.source_schema, table.name)
                since = watermarks.get(table.name)
                where = (
                    sql.SQL("where {} >= {}::timestamptz - {}::interval").format(column, sql.Literal(since), overlap)
                    if since
                    else sql.SQL("")
                )
                dst.execute(
                    sql.SQL("create temp table _stamped on commit drop as select * from {} limit 0").format(
                        postgres.qualified(config.landing_schema, table.name)
                    )
                )
                names = [c.name for c in table.columns]
                with (
                    src.cursor().copy(
                        sql.SQL("copy ({} {}) to stdout (format binary)").format(
                            landing.select_masked(config.source_schema, table), where
                        )
                    ) as reader,
                    dst.cursor().copy(
                        sql.SQL("copy _stamped ({}) from stdin (format binary)").format(postgres.column_list(names))
                    ) as writer,
                ):
                    for chunk in reader:
                        writer.write(chunk)
                batch.per_table[table.name] = _upsert_changed(dst, config.landing_schema, table)
                (newest,) = dst.execute(sql.SQL("select max({})::text from _stamped").format(column)).fetchone()
                if newest and (since is None or newest > since):
                    watermarks[table.name] = newest
                dst.execute("drop table _stamped")
                nulls, future = src.execute(
                    sql.SQL(
                        "select count(*) filter (where {c} is null), "
                        "count(*) filter (where {c} > localtimestamp + interval '1 minute') from {t}"
                    ).format(c=column, t=qualified)
                ).fetchone()
                batch.null_stamped[table.name], batch.future_stamped[table.name] = nulls, future
                if detect_deletes:
                    batch.deletes_detected[table.name] = _tombstone_missing(src, dst, config, table)
            src.rollback()
            batch.changes = sum(batch.per_table.values()) + sum(batch.deletes_detected.values())
            dst.execute(
                sql.SQL(
                    "update {} set timestamp_watermark = %s, applied_at = clock_timestamp(), "
                    "changes_applied = changes_applied + %s, "
                    "unbuilt_since = case when %s > 0 then coalesce(unbuilt_since, clock_timestamp()) "
                    "else unbuilt_since end where stream = %s"
                ).format(control.table(config.control_schema, "sync_state")),
                (json.dumps(watermarks), batch.changes, batch.changes, STREAM),
            )
    batch.seconds = time.perf_counter() - started
    return batch


def _upsert_changed(conn: psycopg.Connection, landing_schema: str, table: landing.SourceTable) -> int:
    """Upsert the re-read rows whose content differs from landing; the overlap re-reads many unchanged ones.
    Rows are compared by their values' binary images (`*<>`), not by `=`, which calls -0 and 0, or
    1.10 and 1.1, equal and would keep landing's old value."""
    columns = [c.name for c in table.columns]
    # A key column with a collation of its own takes the row's key too: under a case-insensitive
    # collation 'ZEBRA' finds the row of 'Zebra' (see target.changes.apply_changes).
    others = [c for c in table.columns if c.name not in table.key or c.name in landing.collated_key(table)]
    target = postgres.qualified(landing_schema, table.name)
    result = conn.execute(
        sql.SQL(
            """
            insert into {target} as l ({cols}, {synced}, {deleted})
            select {cols}, now(), false from _stamped
            on conflict ({key}) do update set {assign}, {synced} = now(), {deleted} = false
            where l.{deleted} or row({lcols})::record *<> row({ecols})::record
            """
        ).format(
            target=target,
            cols=postgres.column_list(columns),
            key=postgres.column_list(table.key),
            assign=sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c.name)) for c in others),
            synced=sql.Identifier(landing.SYNCED_AT),
            deleted=sql.Identifier(landing.DELETED),
            # by their bytes: a change of case is a change under a case-insensitive collation too
            lcols=sql.SQL(", ").join(landing.exactly("l", c) for c in others),
            ecols=sql.SQL(", ").join(landing.exactly("excluded", c) for c in others),
        )
    )
    return result.rowcount


def _tombstone_missing(
    src: psycopg.Connection, dst: psycopg.Connection, config: Config, table: landing.SourceTable
) -> int:
    """Hard deletes are invisible to timestamps: compare key sets and tombstone what the source lost."""
    dst.execute(  # typed and collated as landing's key
        sql.SQL("create temp table _source_keys on commit drop as select {} from {} limit 0").format(
            postgres.column_list(table.key), postgres.qualified(config.landing_schema, table.name)
        )
    )
    with (
        src.cursor().copy(
            sql.SQL("copy (select {} from {}) to stdout (format binary)").format(
                postgres.column_list(table.key), postgres.qualified(config.source_schema, table.name)
            )
        ) as reader,
        dst.cursor().copy(sql.SQL("copy _source_keys from stdin (format binary)")) as writer,
    ):
        for chunk in reader:
            writer.write(chunk)
    result = dst.execute(
        sql.SQL(
            "update {t} l set {d} = true, {s} = now() where not l.{d} and not exists (select 1 "
            "from _source_keys k where {match})"
        ).format(
            t=postgres.qualified(config.landing_schema, table.name),
            d=sql.Identifier(landing.DELETED),
            s=sql.Identifier(landing.SYNCED_AT),
            match=landing.key_match(table, "k", "l"),
        )
    )
    dst.execute("drop table _source_keys")
    return result.rowcount


def start_after_load(ctl: psycopg.Connection, config: Config) -> None:
    """Sync starts from the newest change time in the copy (minus the overlap, per batch)."""
    newest = {
        t.name: ctl.execute(
            sql.SQL("select max({})::text from {}").format(
                sql.Identifier(config.capture.column), postgres.qualified(config.landing_schema, t.name)
            )
        ).fetchone()[0]
        for t in config.tables
    }
    ctl.execute(
        sql.SQL("update {} set timestamp_watermark = %s where stream = %s").format(
            control.table(config.control_schema, "sync_state")
        ),
        (json.dumps(newest), STREAM),
    )
