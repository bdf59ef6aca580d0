"""MySQL and MariaDB as a source engine: harness.engines.base.SourceEngine over this package's modules.

What is built: the catalog with every type's landing type (types.py), the consistent parallel load
(copy.py), capture from the binary log (binlog.py) or by triggers (trigger.py), the canonical row
hash (checksums.py), the freeze and decommission's read-only guard (freeze.py), the fallback's
carry-back of the reverse models' rows into the legacy tables (carry_back.py), backup and restore
with mariadb-dump (backup.py). What is not built yet refuses with one line naming what to do instead
(docs/mysql.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from harness.core.errors import ConfigError, HarnessError
from harness.engines.base import Capture, SourceEngine
from harness.engines.mysql import backup, binlog, catalog, checksums, copy, describe, trigger
from harness.engines.mysql import carry_back as fallback_writes
from harness.engines.mysql import freeze as write_freeze
from harness.engines.postgres import catalog as postgres_names
from harness.engines.postgres.capture import CaptureState


class NotBuilt(ConfigError):
    """A step of the lifecycle the MySQL engine does not offer yet."""


def database_of(conn):
    """The Database a session was opened for (harness.core.connections sets it)."""
    return conn.origin


def _not_built(what: str, instead: str):
    def refuse(*args, **kwargs):
        raise NotBuilt(f"{what} is not built for MySQL and MariaDB sources yet: {instead}")

    return refuse


class BinlogCapture(Capture):
    """Row events of the binary log, read from the load's recorded position (binlog.py)."""

    method = "binlog"
    not_installed = binlog.NothingInstalled  # nothing is installed on the source: never raised
    counts_changes_behind = False  # the binary log is not counted: the lag is the time since the last batch
    keeps_a_log = True  # the server's binary log, read from a position kept on the target

    def prepare(self, conn, schema, tables):
        binlog.check_server(conn)
        for table in tables:
            engine = catalog.storage_engine(conn, schema, table.name)
            if engine.lower() in ("myisam", "aria", "memory"):
                raise ConfigError(
                    f"{schema}.{table.name} is a {engine} table: it has no transactions, so no consistent snapshot "
                    "hands over to the binary log; convert it (ALTER TABLE ... ENGINE=InnoDB) or load it while "
                    "nothing writes it"
                )

    def register(self, conn, consumer_id, schema, label, position, *, replace):
        pass  # the position lives on the target (sync_state): nothing to register on the source

    def after_load(self, ctl, config):
        pass  # sync starts from the position the load's snapshot recorded

    def state(self, conn, schema, table_names):
        return CaptureState(installed=list(table_names), missing=[])

    def consumers(self, conn, schema, this_consumer=None):
        return []

    def forget(self, conn, consumer_id):
        return False  # the server keeps its log for every replica alike: no reader of it to forget

    def remove(self, conn, schema, table_names):
        pass  # nothing installed

    def apply_batch(self, config, source, target, *, detect_deletes=False, snapshot_id=None, pause=None):
        if snapshot_id is not None:
            raise NotBuilt(
                "a sync batch up to an exported snapshot is not built for MySQL and MariaDB sources: "
                "landing is brought to a snapshot by its binary log position instead (as `migrate reconcile` does)"
            )
        return binlog.apply_batch(config, source, target, self, pause=pause)

    def apply_to_snapshot(self, config, source, target, *, snapshot_id, position, pause):
        # The snapshot's binary log position: the transactions up to it, none after.
        return binlog.apply_batch(config, source, target, self, until=position or None, pause=pause)


class TriggerCapture(Capture):
    """Triggers write every change into a change table on the source (trigger.py): the fallback
    where the binary log cannot be read."""

    method = "trigger"
    not_installed = trigger.NotInstalled
    keeps_a_log = True

    def prepare(self, conn, schema, tables):
        trigger.install(conn, schema, tables)

    def register(self, conn, consumer_id, schema, label, position, *, replace):
        trigger.register(conn, consumer_id, schema, label, position, replace=replace)

    def after_load(self, ctl, config):
        pass  # sync starts from the change table's position in the load's snapshot, recorded with it

    def state(self, conn, schema, table_names):
        return trigger.state(conn, schema, table_names)

    def consumers(self, conn, schema, this_consumer=None):
        return trigger.consumers(conn, schema, this_consumer)

    def forget(self, conn, consumer_id):
        return trigger.forget(conn, consumer_id)

    def remove(self, conn, schema, table_names):
        trigger.remove(conn, schema, table_names)

    def apply_batch(self, config, source, target, *, detect_deletes=False, snapshot_id=None, pause=None):
        return trigger.apply_batch(config, source, target, snapshot_id=snapshot_id, pause=pause)

    def backlog(self, conn, schema, position):
        return trigger.backlog(conn, schema, position)

    def apply_to_snapshot(self, config, source, target, *, snapshot_id, position, pause):
        return trigger.apply_batch(config, source, target, snapshot_id=snapshot_id, pause=pause)


class MysqlEngine(SourceEngine):
    name = "mysql"
    schema_is_database = True  # a MySQL database is the source schema: a copy's tables are in the copy's
    dump_tool = "mariadb-dump"
    COPY_BLOCK_BYTES = copy.PIPE_BYTES
    COPY_FORMAT = "text"

    table_exists = staticmethod(catalog.table_exists)
    columns = staticmethod(catalog.columns)
    primary_key = staticmethod(catalog.primary_key)
    columns_and_keys = staticmethod(catalog.columns_and_keys)
    estimated_rows = staticmethod(catalog.estimated_rows)
    column_fills = staticmethod(catalog.column_fills)
    dependent_views = staticmethod(catalog.dependent_views)
    database_options = staticmethod(catalog.database_options)
    user_schemas = staticmethod(catalog.user_schemas)
    schema_exists = staticmethod(describe.schema_exists)
    describe_tables = staticmethod(describe.describe_tables)
    sample_text = staticmethod(describe.sample_text)
    reference_share = staticmethod(describe.reference_share)

    open_snapshot = staticmethod(copy.open_snapshot)
    key_span = staticmethod(copy.key_span)

    def check_key(self, conn, schema, table) -> None:
        """Refuse a key named in migration.yml that does not identify every source row."""
        if table.key == catalog.primary_key(conn, schema, table.name):
            return
        key = ", ".join(catalog.quoted(k) for k in table.key)
        source = catalog.qualified(schema, table.name)
        declared = f"table {schema}.{table.name}: the key ({', '.join(table.key)}) named in migration.yml"
        fix = "name columns that identify every row there"
        duplicate = conn.execute(f"select count(*) from {source} group by {key} having count(*) > 1 limit 1")
        if duplicate:
            raise ConfigError(f"{declared} is not unique in the source; {fix}")
        nulls = " or ".join(f"{catalog.quoted(k)} is null" for k in table.key)
        if conn.execute(f"select 1 from {source} where {nulls} limit 1"):
            raise ConfigError(f"{declared} is null in some source rows; {fix}")

    @contextmanager
    def copy_out(self, source, schema, table, lower, upper, snapshot_id) -> Iterator[int]:
        with copy.copy_out(source, schema, table, lower, upper, snapshot_id) as pipe:
            yield pipe

    def assess_source(self, run, src) -> bool:
        from harness.engines.mysql import assess

        assess.read_source(run, src)
        return True

    def capture(self, method: str, column: str | None = None) -> Capture:
        if method == "trigger":
            return TriggerCapture()
        if method != "binlog":
            raise ConfigError(f"capture.method {method!r} does not work with MySQL sources: use 'binlog' or 'trigger'")
        return BinlogCapture()

    freeze = staticmethod(write_freeze.freeze)
    unfreeze = staticmethod(write_freeze.unfreeze)
    frozen_tables = staticmethod(write_freeze.frozen_tables)
    # The fallback's writer passes the freeze's triggers (@migrate_writer set to the freeze's secret)
    # and writes the reverse rows, converted back to the legacy types, in MySQL's SQL (carry_back.py).
    declare_writer = staticmethod(fallback_writes.declare_writer)
    # A date column's companion (_mysql_raw_<column>) is landing's alone: a reverse model may leave it out.
    landing_only = staticmethod(lambda column: not column.selected)
    image_session = staticmethod(fallback_writes.image_session)
    carry_back = staticmethod(fallback_writes.carry_back)
    carry_back_begin = staticmethod(fallback_writes.carry_back_begin)
    carry_back_end = staticmethod(fallback_writes.carry_back_end)
    check_carried = staticmethod(fallback_writes.check_carried)
    freeze_failed = write_freeze.FreezeFailed
    retire = staticmethod(write_freeze.retire)
    read_only_tables = staticmethod(write_freeze.read_only_tables)

    # The canonical row hash computed inside MySQL (checksums.py); MySQL shares no native hash with
    # landing, so both sides hash portably.
    native_hash = staticmethod(lambda conn: None)
    begin_hashing = staticmethod(checksums.begin_hashing)
    hashed_columns = staticmethod(checksums.hashed_columns)
    key_bounds = staticmethod(checksums.key_bounds)
    row_hashes = staticmethod(checksums.row_hashes)
    cancel = staticmethod(checksums.cancel)

    @staticmethod
    def row_count(conn, schema: str, table: str) -> int:
        # On the snapshot's session where `conn` joined one (join_snapshot).
        ((count,),) = checksums.reader(conn).execute(f"select count(*) from {catalog.qualified(schema, table)}")
        return int(count)

    @staticmethod
    def fitting_name(readable: str, *made_for: str) -> str:
        return postgres_names.fitting_name(readable, *made_for)  # within 63 bytes also fits MySQL's 64 characters

    @staticmethod
    def join_snapshot(conn, snapshot_id: str | None) -> None:
        # MySQL sessions cannot join another session's snapshot: `conn` borrows a session of the
        # snapshot itself until its transaction ends (a read of its own would be of a later moment).
        checksums.begin_hashing(conn, snapshot_id)
        if snapshot_id and checksums.reader(conn) is conn:
            raise HarnessError(f"every session of the source snapshot {snapshot_id} is in use: run the command again")

    run_query = staticmethod(_not_built("queries from migration.yml on the source", "run them on landing instead"))

    dump = staticmethod(backup.dump)
    restore_archive = staticmethod(backup.restore_archive)
    counts_and_checksums = staticmethod(backup.counts_and_checksums)
    archive_position = staticmethod(backup.archive_position)
