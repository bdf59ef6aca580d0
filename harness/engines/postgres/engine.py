"""PostgreSQL as a source engine: harness.engines.base.SourceEngine over this package's modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from harness.core.errors import QueryFailed
from harness.engines.base import Capture, SourceEngine
from harness.engines.postgres import backup, capture, catalog, checksums, copy, describe, timestamp_capture
from harness.engines.postgres import carry_back as fallback_writes
from harness.engines.postgres import freeze as write_freeze
from harness.target import landing


class TriggerCapture(Capture):
    """Row triggers write every change into a change log on the source (capture.py)."""

    method = "trigger"
    not_installed = psycopg.errors.UndefinedTable  # the change log's table

    def prepare(self, conn, schema, tables):
        capture.install(conn, schema, tables)

    keeps_a_log = True

    def register(self, conn, consumer_id, schema, label, position, *, replace):
        capture.register(conn, consumer_id, schema, label, position, replace=replace)

    def after_load(self, ctl, config):
        pass  # sync starts from the load's snapshot, recorded with it

    def state(self, conn, schema, table_names):
        return capture.state(conn, schema, table_names)

    def consumers(self, conn, schema, this_consumer=None):
        return capture.consumers(conn, schema, this_consumer)

    def forget(self, conn, consumer_id):
        return capture.forget(conn, consumer_id)

    def remove(self, conn, schema, table_names):
        capture.remove(conn, schema, table_names)

    def apply_batch(self, config, source, target, *, detect_deletes=False, snapshot_id=None, pause=None):
        return capture.apply_batch(config, source, target, snapshot_id=snapshot_id, pause=pause)

    def backlog(self, conn, schema, position):
        return capture.backlog(conn, schema, position)

    def apply_to_snapshot(self, config, source, target, *, snapshot_id, position, pause):
        return capture.apply_batch(config, source, target, snapshot_id=snapshot_id, pause=pause)


class TimestampCapture(Capture):
    """A last-updated column re-read per batch (timestamp_capture.py): nothing installed."""

    method = "timestamp"
    not_installed = psycopg.errors.UndefinedTable

    def __init__(self, column: str | None):
        self._column = column

    def prepare(self, conn, schema, tables):
        timestamp_capture.require_column(tables, self._column)

    keeps_a_log = False

    def register(self, conn, consumer_id, schema, label, position, *, replace):
        pass  # nothing on the source: each batch re-reads the tables

    def after_load(self, ctl, config):
        timestamp_capture.start_after_load(ctl, config)

    def state(self, conn, schema, table_names):
        return capture.CaptureState(installed=[], missing=list(table_names))

    def consumers(self, conn, schema, this_consumer=None):
        return []

    def forget(self, conn, consumer_id):
        return False  # no log, no readers of it

    def remove(self, conn, schema, table_names):
        capture.remove(conn, schema, table_names)  # triggers left by an earlier trigger capture, if any

    def apply_batch(self, config, source, target, *, detect_deletes=False, snapshot_id=None, pause=None):
        return timestamp_capture.sync_once(config, source, target, detect_deletes=detect_deletes)

    @property
    def detects_deletes_by_keys(self) -> bool:
        return True


class PostgresEngine(SourceEngine):
    name = "postgres"
    dump_tool = "pg_dump"
    COPY_BLOCK_BYTES = copy.PIPE_BYTES

    # The modules' functions are the methods: no state of the engine's own.
    table_exists = staticmethod(catalog.table_exists)
    columns = staticmethod(catalog.columns)
    primary_key = staticmethod(catalog.primary_key)
    columns_and_keys = staticmethod(catalog.columns_and_keys)
    estimated_rows = staticmethod(catalog.estimated_rows)
    check_key = staticmethod(landing.check_key)
    own_types = staticmethod(catalog.own_types)
    row_count = staticmethod(catalog.count_rows)
    column_fills = staticmethod(catalog.column_fills)
    dependent_views = staticmethod(catalog.dependent_views)
    database_options = staticmethod(catalog.database_options)
    fitting_name = staticmethod(catalog.fitting_name)
    schema_exists = staticmethod(describe.schema_exists)
    describe_tables = staticmethod(describe.describe_tables)
    sample_text = staticmethod(describe.sample_text)
    reference_share = staticmethod(describe.reference_share)

    @staticmethod
    def open_snapshot(conn, workers: int = 1) -> tuple[str, str]:
        return copy.open_snapshot(conn)  # an exported snapshot: any number of sessions join it

    key_span = staticmethod(copy.key_span)

    native_hash = staticmethod(checksums.native_hash)
    begin_hashing = staticmethod(checksums.begin_hashing)
    hashed_columns = staticmethod(checksums.hashed_columns)
    key_bounds = staticmethod(checksums.key_bounds)
    row_hashes = staticmethod(checksums.row_hashes)

    freeze = staticmethod(write_freeze.freeze)
    unfreeze = staticmethod(write_freeze.unfreeze)
    frozen_tables = staticmethod(write_freeze.frozen_tables)
    declare_writer = staticmethod(write_freeze.declare_writer)
    freeze_failed = write_freeze.FreezeFailed
    retire = staticmethod(write_freeze.retire)
    read_only_tables = staticmethod(write_freeze.read_only_tables)

    image_session = staticmethod(fallback_writes.image_session)
    carry_back = staticmethod(fallback_writes.carry_back)
    carry_back_begin = staticmethod(fallback_writes.carry_back_begin)
    carry_back_end = staticmethod(fallback_writes.carry_back_end)
    check_carried = staticmethod(fallback_writes.check_carried)

    dump = staticmethod(backup.dump)
    restore_archive = staticmethod(backup.restore_archive)
    counts_and_checksums = staticmethod(backup.counts_and_checksums)
    user_schemas = staticmethod(backup.user_schemas)

    @staticmethod
    def join_snapshot(conn, snapshot_id) -> None:
        conn.execute("set transaction isolation level repeatable read, read only")
        if snapshot_id:
            conn.execute(sql.SQL("set transaction snapshot {}").format(sql.Literal(snapshot_id)))

    @staticmethod
    def run_query(conn, text) -> list[tuple]:
        return fetch_all(conn, text)

    @staticmethod
    def cancel(conn) -> None:
        conn.cancel_safe()

    @contextmanager
    def copy_out(self, source, schema, table, lower, upper, snapshot_id) -> Iterator[int]:
        query = copy.range_select(schema, table, lower, upper)
        with copy.copy_out(source, query, snapshot_id, what=f"reading {table.name}") as pipe:
            yield pipe

    def capture(self, method: str, column: str | None = None) -> Capture:
        return TriggerCapture() if method == "trigger" else TimestampCapture(column)


def fetch_all(conn: psycopg.Connection, text: str) -> list[tuple]:
    """The rows of an operator's query; its failure as QueryFailed, with the server's first line."""
    try:
        return conn.execute(text).fetchall()
    except psycopg.Error as exc:
        raise QueryFailed(first_line(exc)) from exc


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
