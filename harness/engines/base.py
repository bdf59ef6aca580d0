"""What the lifecycle asks of a source database engine, engine-neutral.

A lifecycle module (load, sync, cutover, fallback, rollback, decommission, status, backup, ...)
gets the engine of `source.engine` from `harness.engines.source_engine(config)` and calls these
methods; the SQL, tools and catalog names of an engine live in its package under
harness/engines/ (harness/engines/postgres/ today). A second engine is a new package that
implements `SourceEngine` (and one `Capture` per capture method it offers), with no edit to the
lifecycle modules.

Connections are passed through as the engine's own connection objects (`Connection`): the
lifecycle opens them with harness.core.connections and never looks inside.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.core.config import Config
    from harness.core.connections import Database
    from harness.target.locks import Pause

Connection = Any  # an open connection to the engine's server, as harness.core.connections opens it


@dataclass
class Batch:
    """A sync batch read from a capture's log."""

    changes: int = 0
    per_table: dict[str, int] = field(default_factory=dict)
    snapshot: str = ""  # the source position landing now holds every change up to
    seconds: float = 0.0
    # Columns added at the source that landing now follows: capture takes their values by name, at
    # a cost to each write, until installed again (`migrate sync --install`).
    columns_added: dict[str, list[str]] = field(default_factory=dict)


class Capture(ABC):
    """One way of capturing the source's changes (`capture.method`): triggers into a change log,
    a last-updated column re-read per batch, a binary log read from a recorded position."""

    method: str  # as migration.yml names it

    @abstractmethod
    def prepare(self, conn: Connection, schema: str, tables: list) -> None:
        """Before the initial load: install what captures the tables' changes (idempotent), or check
        that the tables carry what this method reads (`tables`: landing.SourceTable)."""

    @property
    @abstractmethod
    def keeps_a_log(self) -> bool:
        """Whether changes wait in a log on the source, read from a position each target registers
        (so the load hands over at its snapshot, and single tables can be reloaded in a running sync)."""

    @abstractmethod
    def register(
        self, conn: Connection, consumer_id: str, schema: str, label: str, position: str | None, *, replace: bool
    ) -> None:
        """Register a target as a reader of the log from `position` (None: from now); `replace`
        starts it afresh where it exists."""

    @abstractmethod
    def after_load(self, ctl: Connection, config: Config) -> None:
        """Once the initial load is recorded: the position sync starts from, where the method keeps
        it on the target (`ctl`, the control schema)."""

    @abstractmethod
    def state(self, conn: Connection, schema: str, table_names: list[str]):
        """Which tables are captured and which are not (a CaptureState)."""

    @abstractmethod
    def consumers(self, conn: Connection, schema: str, this_consumer: str | None = None) -> list:
        """The targets reading this source's changes, with their positions."""

    @abstractmethod
    def forget(self, conn: Connection, consumer_id: str) -> bool:
        """Stop keeping changes for a target that is gone; whether it was a reader."""

    @abstractmethod
    def remove(self, conn: Connection, schema: str, table_names: list[str]) -> None:
        """Remove what capture installed on these tables (decommission)."""

    @abstractmethod
    def apply_batch(
        self,
        config: Config,
        source: Database,
        target: Database,
        *,
        detect_deletes: bool = False,
        snapshot_id: str | None = None,
        pause: Pause | None = None,
    ):
        """Apply every change since the target's position to landing, in one target transaction;
        returns the batch (its `changes` count, and the per-table counts). A capture that keeps a
        log reads it up to the snapshot `snapshot_id` (open_snapshot) where given, and applies on
        the session of `pause` (the target's sync lock held) where given; one without a log reads
        the tables as they are and takes neither."""

    def backlog(self, conn: Connection, schema: str, position: str) -> tuple[int, float | None]:
        """A capture that keeps a log: the changes waiting in it beyond `position` (the target's
        watermark), and the oldest one's age in seconds (None: none waits)."""
        raise NotImplementedError(f"{self.method} capture keeps no log")

    @property
    def detects_deletes_by_keys(self) -> bool:
        """Whether a catch-up must compare key sets to see deletes (the method cannot see them)."""
        return False


class SourceEngine(ABC):
    """A source database engine: catalog, consistent snapshot and copy out, capture, freeze,
    backup and restore."""

    name: str  # as `source.engine` names it

    # --- catalog and key discovery ------------------------------------------------------------
    @abstractmethod
    def table_exists(self, conn: Connection, schema: str, table: str) -> bool: ...

    @abstractmethod
    def columns(self, conn: Connection, schema: str, table: str) -> list: ...

    @abstractmethod
    def primary_key(self, conn: Connection, schema: str, table: str) -> list[str]: ...

    @abstractmethod
    def estimated_rows(self, conn: Connection, schema: str, table: str) -> int:
        """The server's row estimate (-1 where it has none)."""

    @abstractmethod
    def count_rows(self, conn: Connection, schema: str, table: str) -> int:
        """The table's rows, counted."""

    @abstractmethod
    def row_hashes_of_keys(
        self, conn: Connection, schema: str, table: str, side: Any, key: list[str], keys: list[list[Any]]
    ) -> dict[tuple, str]:
        """The checksums level's row hash of each row whose key is in `keys` (one list of values per
        key column), by its canonical key texts (`side`: reconcile.checksums' query of the table)."""

    @abstractmethod
    def column_fills(self, conn: Connection, schema: str, table: str) -> dict: ...

    @abstractmethod
    def dependent_views(self, conn: Connection, schema: str, table: str) -> list[str]: ...

    # --- consistent snapshot and copy out -----------------------------------------------------
    @abstractmethod
    def open_snapshot(self, conn: Connection) -> tuple[str, str]:
        """Open a consistent read on `conn` (kept until its transaction ends) that other sessions
        join; returns (the id they join it by, the position it stands for, as capture records it)."""

    @abstractmethod
    def key_span(self, conn: Connection, schema: str, table) -> tuple[Any, Any, int] | None:
        """(lowest key, highest key, estimated rows) of a table (landing.SourceTable) whose leading
        key is an integer, for planning key ranges; None where it is not."""

    COPY_BLOCK_BYTES = 1 << 20  # the most the target's COPY is handed at once

    @abstractmethod
    def copy_out(
        self, source: Database, schema: str, table, lower: Any, upper: Any, snapshot_id: str
    ) -> AbstractContextManager[int]:
        """A pipe (file descriptor) of the table's rows with lower <= key < upper (None: open),
        masks applied in the source's SELECT, read in the snapshot `snapshot_id`, in the format
        the target's COPY ... FROM STDIN (FORMAT BINARY) reads."""

    # --- capture --------------------------------------------------------------------------------
    @abstractmethod
    def capture(self, method: str, column: str | None = None) -> Capture:
        """The capture implementation of `capture.method` (`column`: capture.column)."""

    # --- freeze for the cutover ---------------------------------------------------------------
    @abstractmethod
    def freeze(self, conn: Connection, schema: str, tables: list[str], **options):
        """Refuse the applications' writes on the tables, once the writers in flight are drained."""

    @abstractmethod
    def unfreeze(self, conn: Connection, schema: str, tables: list[str]) -> None: ...

    @abstractmethod
    def frozen_tables(self, conn: Connection, schema: str) -> list[str]: ...

    @abstractmethod
    def declare_writer(self, conn: Connection) -> None:
        """Let this session's current transaction write past the freeze (the fallback's writer)."""

    freeze_failed: type[Exception]  # the error a freeze that could not happen raises

    # --- the fallback's carry-back ------------------------------------------------------------
    @abstractmethod
    def image_session(self, conn: Connection) -> None:
        """Read and write every value's text exactly in this session (of the command's own), as
        capture's images and the target's reverse models have it."""

    @abstractmethod
    def carry_back(
        self, conn: Connection, schema: str, table: str, key: list[str], columns: list[str], rows: Iterable[bytes]
    ) -> dict[str, int]:
        """Write the reverse model's rows (the target's COPY text: the legacy `columns`, then the
        op and the columns each row writes, dbt.contract's FALLBACK_OP and FALLBACK_COLUMNS) into
        the legacy table, in the caller's transaction: counts of rows inserted, updated, deleted."""

    @abstractmethod
    def check_carried(
        self, conn: Connection, schema: str, table: str, key: list[str], columns: list[str], rows: Iterable[bytes]
    ) -> tuple[int, int, Any]:
        """The reverse model's rows (as for carry_back) held against the legacy table: (rows
        checked, rows that differ or a delete still there, a few of their keys)."""

    @abstractmethod
    def retire(
        self, conn: Connection, schema: str, table_names: list[str], *, message: str, lock_timeout_seconds: float
    ) -> list[str]:
        """Decommission: in one transaction, make the tables read-only for good (refusing with
        `message`), lift the freeze and remove capture; returns the read-only tables."""

    @abstractmethod
    def read_only_tables(self, conn: Connection, schema: str) -> list[str]:
        """The tables `retire` made read-only."""

    # --- backup and restore -------------------------------------------------------------------
    dump_tool: str  # the program that writes the archives, as the operator knows it (pg_dump)

    @abstractmethod
    def dump(
        self, conn: Connection, database: Database, schemas: list[str], file: Path, snapshot_id: str
    ) -> tuple[str, dict, dict]:
        """Write an archive of the schemas to `file` in the snapshot `conn` opened (open_snapshot);
        returns (server version, row counts, content checksums) per table, taken in that snapshot."""

    @abstractmethod
    def restore_archive(self, conn: Connection, restored: Database, file: Path) -> None:
        """Restore an archive made by `dump` into the new, empty database `restored` (`conn` is on it)."""

    @abstractmethod
    def counts_and_checksums(self, conn: Connection, schemas: list[str]) -> tuple[dict[str, int], dict[str, str]]:
        """Each table's row count and content checksum (proving a restore against the manifest)."""

    @abstractmethod
    def user_schemas(self, conn: Connection, excluded: Collection[str]) -> list[str]:
        """The schemas of the database that hold user data, but `excluded`."""

    @abstractmethod
    def database_options(self, conn: Connection):
        """The database's encoding and locale (restored with the same)."""
