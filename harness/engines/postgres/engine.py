"""PostgreSQL as a source engine: harness.engines.base.SourceEngine over this package's modules."""
from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.engines.base import Capture, Connection, SourceEngine
from harness.engines.postgres import backup, catalog, copy, freeze


class TriggerCapture(Capture):
    """Row triggers write every change into a change log on the source (harness.capture)."""

    method = "trigger"

    def prepare(self, conn, schema, tables):
        from harness import capture

        capture.install(conn, schema, tables)

    keeps_a_log = True

    def register(self, conn, consumer_id, schema, label, position, *, replace):
        from harness import capture

        capture.register(conn, consumer_id, schema, label, position, replace=replace)

    def after_load(self, ctl, config):
        pass  # sync starts from the load's snapshot, recorded with it

    def state(self, conn, schema, table_names):
        from harness import capture

        return capture.state(conn, schema, table_names)

    def consumers(self, conn, schema, this_consumer=None):
        from harness import capture

        return capture.consumers(conn, schema, this_consumer)

    def remove(self, conn, schema, table_names):
        from harness import capture

        capture.remove(conn, schema, table_names)

    def apply_batch(self, config, source, target, *, detect_deletes=False):
        from harness import sync

        return sync.sync_once(config, source, target)


class TimestampCapture(Capture):
    """A last-updated column re-read per batch (harness.timestamp_capture): nothing installed."""

    method = "timestamp"

    def __init__(self, column: str | None):
        self._column = column

    def prepare(self, conn, schema, tables):
        from harness import timestamp_capture

        timestamp_capture.require_column(tables, self._column)

    keeps_a_log = False

    def register(self, conn, consumer_id, schema, label, position, *, replace):
        pass  # nothing on the source: each batch re-reads the tables

    def after_load(self, ctl, config):
        from harness import timestamp_capture

        timestamp_capture.start_after_load(ctl, config)

    def state(self, conn, schema, table_names):
        from harness import capture

        return capture.CaptureState(installed=[], missing=list(table_names))

    def consumers(self, conn, schema, this_consumer=None):
        return []

    def remove(self, conn, schema, table_names):
        from harness import capture

        capture.remove(conn, schema, table_names)  # triggers left by an earlier trigger capture, if any

    def apply_batch(self, config, source, target, *, detect_deletes=False):
        from harness import timestamp_capture

        return timestamp_capture.sync_once(config, source, target, detect_deletes=detect_deletes)

    @property
    def detects_deletes_by_keys(self) -> bool:
        return True


class PostgresEngine(SourceEngine):
    name = "postgres"
    dump_tool = "pg_dump"
    COPY_BLOCK_BYTES = copy.PIPE_BYTES

    def table_exists(self, conn, schema, table):
        return catalog.table_exists(conn, schema, table)

    def columns(self, conn, schema, table):
        return catalog.columns(conn, schema, table)

    def primary_key(self, conn, schema, table):
        return catalog.primary_key(conn, schema, table)

    def estimated_rows(self, conn, schema, table):
        return catalog.estimated_rows(conn, schema, table)

    def column_fills(self, conn, schema, table):
        return catalog.column_fills(conn, schema, table)

    def dependent_views(self, conn, schema, table):
        return catalog.dependent_views(conn, schema, table)

    def open_snapshot(self, conn):
        return copy.open_snapshot(conn)

    def key_span(self, conn, schema, table):
        return copy.key_span(conn, schema, table)

    @contextmanager
    def copy_out(self, source, schema, table, lower, upper, snapshot_id) -> Iterator[int]:
        query = copy.range_select(schema, table, lower, upper)
        with copy.copy_out(source, query, snapshot_id, what=f"reading {table.name}") as pipe:
            yield pipe

    def capture(self, method: str, column: str | None = None) -> Capture:
        return TriggerCapture() if method == "trigger" else TimestampCapture(column)

    def freeze(self, conn, schema, tables, **options):
        return freeze.freeze(conn, schema, tables, **options)

    def unfreeze(self, conn, schema, tables):
        freeze.unfreeze(conn, schema, tables)

    def frozen_tables(self, conn, schema):
        return freeze.frozen_tables(conn, schema)

    def declare_writer(self, conn):
        freeze.declare_writer(conn)

    def retire(self, conn, schema, table_names, *, message, lock_timeout_seconds):
        return freeze.retire(conn, schema, table_names, message=message, lock_timeout_seconds=lock_timeout_seconds)

    def read_only_tables(self, conn, schema):
        return freeze.read_only_tables(conn, schema)

    @property
    def freeze_failed(self) -> type[Exception]:
        return freeze.FreezeFailed

    def dump(self, conn: Connection, database, schemas: list[str], file: Path, snapshot_id: str):
        return backup.dump(conn, database, schemas, file, snapshot_id)

    def restore_archive(self, conn: Connection, restored, file: Path) -> None:
        backup.restore_archive(conn, restored, file)

    def counts_and_checksums(self, conn, schemas):
        return backup.counts_and_checksums(conn, schemas)

    def user_schemas(self, conn, excluded: Collection[str]):
        return backup.user_schemas(conn, excluded)

    def database_options(self, conn):
        return catalog.database_options(conn)
