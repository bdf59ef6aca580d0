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
from collections.abc import Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.core.config import Config
    from harness.core.connections import Database
    from harness.target.locks import Pause

Connection = Any  # an open connection to the engine's server, as harness.core.connections opens it


@dataclass(frozen=True)
class CatalogColumn:
    """A column as the source declares it, in the engine's own words."""

    name: str
    type: str  # as the engine prints it, e.g. "character varying(25)", "varchar(25)"
    not_null: bool
    is_text: bool  # holds characters (what sampled values can say something about)
    text_length: int | None = None  # the declared length of a text column, None where unbounded
    # Where landing (PostgreSQL) holds the column as another type than `type` (a source of another
    # engine): that type, which the staging view reads, and how a value becomes it.
    landing_type: str | None = None
    landing_note: str = ""
    unmapped: str = ""  # why landing cannot hold the column ("" where it can): init leaves its table out


@dataclass(frozen=True)
class CatalogForeignKey:
    columns: tuple[str, ...]
    parent: str  # a table of the same schema (others are not followed)
    parent_columns: tuple[str, ...]
    name: str = ""


@dataclass(frozen=True)
class CatalogTable:
    """One table of the source schema with what `migrate init` scaffolds from: its columns, keys,
    declared constraints, size and write rate."""

    name: str
    columns: tuple[CatalogColumn, ...]
    primary_key: tuple[str, ...]
    unique_keys: tuple[tuple[str, ...], ...]  # unique constraints and indexes, the primary key left out
    foreign_keys: tuple[CatalogForeignKey, ...]
    checks: tuple[tuple[str, str], ...]  # (name, the condition as the engine prints it)
    estimated_rows: int  # -1 where the server has no estimate
    total_bytes: int
    writes_per_second: float | None  # inserts, updates and deletes per second since statistics began; None: unknown
    unread_checks: tuple[tuple[str, str], ...] = ()  # (name, condition) PostgreSQL cannot read as written


# --- the canonical row hash -----------------------------------------------------------------------
# harness/reconcile/checksums.py states the rules: each value's canonical text, a row's text, the
# two hashes. Each engine computes them inside its own database (SourceEngine.row_hashes; landing's
# side in harness/target/checksums.py), so that equal rows hash equal whichever engines hold them.

FIELD_SEPARATOR = "\x1f"  # between the texts of a row's columns, and before a portable hash's seed
NULL_MARK = "\x1e"  # the text of NULL
SHOWN_CHARACTERS = 200  # of each differing value, as a reader sees it in the report
KEY_BUCKET_SEED = 1  # a hash segment is hash(key text, 1); refinement level L is hash(key text, 1 + L)


@dataclass(frozen=True)
class HashedColumn:
    """A column as the canonical hash sees it."""

    name: str
    type: str  # as the engine shows it, e.g. "numeric(12,2)"
    base: str  # the type behind it (domains resolved), as the engine names it: two sides' bases are compared
    known: bool  # the canonical rules know the type; else its text form is hashed (and the report says so)
    integer: bool  # an integer type: a leading key of it is cut into key ranges
    not_null: bool


@dataclass(frozen=True)
class Segments:
    """How a table is cut into segments, the same on both sides (planned by harness/reconcile/checksums.py).

    `range`: `count` ranges of `width` keys from `low` over an integer leading key, the first and
    last open-ended (a key below `low` is in segment 0, one above `high` in the last);
    `hash`: `count` (a power of two) buckets, a row's bucket `hash(key text, KEY_BUCKET_SEED) & (count - 1)`.
    A differing bucket is refined FAN_OUT ways at each level L: `hash(key text, KEY_BUCKET_SEED + L) & (FAN_OUT - 1)`.
    """

    kind: str  # "range" or "hash"
    count: int
    low: int = 0
    width: int = 1

    FAN_OUT = 64  # sub-buckets per refinement level, a power of two
    BIGINT_MAX = 2**63 - 1

    @property
    def high(self) -> int:
        return min(self.low + self.count * self.width - 1, self.BIGINT_MAX)

    def key_bounds(self, segments: Sequence[int]) -> list[tuple[int | None, int | None]]:
        """The key ranges [lower, upper) that hold these range segments, neighbours merged, the
        table's ends open (None): what an index on the key serves."""
        bounds: list[tuple[int | None, int | None]] = []
        for first, last in runs(sorted(set(segments))):
            lower = self.low + first * self.width if first > 0 else None
            upper = self.low + (last + 1) * self.width if last < self.count - 1 else None
            bounds.append((lower, upper))
        return bounds


def runs(values: list[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7, 9, 10] → [(1, 3), (7, 7), (9, 10)]"""
    found: list[tuple[int, int]] = []
    for value in values:
        if found and value == found[-1][1] + 1:
            found[-1] = (found[-1][0], value)
        else:
            found.append((value, value))
    return found


Sums = dict[tuple[int, ...], tuple[int, Decimal]]  # bucket path → (rows, sum of row hashes)


class RowHashes(ABC):
    """One copy of a table hashed inside its own database by the canonical rules: only counts,
    sums, keys and hashes leave it. Buckets are paths: (segment, sub-bucket at level 1, ...)."""

    @abstractmethod
    def segment_sums(self, segments: Segments) -> Sums:
        """Rows and hash sum of every segment, in one pass."""

    @abstractmethod
    def bucket_sums(self, segments: Segments, depth: int, buckets: list[tuple[int, ...]]) -> Sums:
        """Rows and hash sum of the sub-buckets `depth` levels down of these buckets (paths of depth or depth + 1)."""

    @abstractmethod
    def rows(
        self, segments: Segments, depth: int, buckets: list[tuple[int, ...]]
    ) -> dict[tuple[str, ...], tuple[tuple[int, ...], tuple[str | None, ...]]]:
        """The rows of these buckets: canonical key → (each column's hash, each column's text as shown)."""

    @abstractmethod
    def total(self) -> tuple[int, Decimal]:
        """Rows and hash sum of the whole table."""

    @abstractmethod
    def of_keys(self, keys: Sequence[Sequence[Any]]) -> dict[tuple[str, ...], int]:
        """The row hashes of the rows with these key values (as the other side read them): canonical key → hash."""


@dataclass
class Frozen:
    """What a freeze did (SourceEngine.freeze)."""

    tables: list[str]
    waited_seconds: float
    ended_transactions: int = 0  # still open after the drain timeout, so ended (never acknowledged)
    revoked: list[str] = field(default_factory=list)  # "table: PRIVILEGE, ..." revoked from the legacy role
    notes: list[str] = field(default_factory=list)


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
    not_installed: type[Exception]  # what a batch raises where capture was never prepared on the source

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
        """A capture that keeps a log it can count (counts_changes_behind): the changes waiting in it
        beyond `position` (the target's watermark), and the oldest one's age in seconds (None: none waits)."""
        raise NotImplementedError(f"{self.method} capture keeps no log")

    def apply_to_snapshot(
        self, config: Config, source: Database, target: Database, *, snapshot_id: str, position: str, pause
    ):
        """One batch that brings landing exactly to the source snapshot `snapshot_id` (open_snapshot's,
        still open; `position` what it returned), applied on `pause`'s session (sync.paused's, the
        sync lock held); only for a method that keeps a log."""
        raise NotImplementedError(f"capture by {self.method} cannot bring landing to a snapshot")

    counts_changes_behind = True  # the changes not applied yet can be counted on the source (a change log table)

    @property
    def detects_deletes_by_keys(self) -> bool:
        """Whether a catch-up must compare key sets to see deletes (the method cannot see them)."""
        return False


class SourceEngine(ABC):
    """A source database engine: catalog, consistent snapshot and copy out, capture, freeze,
    backup and restore."""

    name: str  # as `source.engine` names it
    # Whether `source.schema` is a database of its own (MySQL's): a restored copy of the source is
    # then its own schema, named as the copy's database.
    schema_is_database = False

    # --- catalog and key discovery ------------------------------------------------------------
    @abstractmethod
    def table_exists(self, conn: Connection, schema: str, table: str) -> bool: ...

    @abstractmethod
    def columns(self, conn: Connection, schema: str, table: str) -> list: ...

    @abstractmethod
    def primary_key(self, conn: Connection, schema: str, table: str) -> list[str]: ...

    @abstractmethod
    def columns_and_keys(self, conn: Connection, schema: str, tables: list[str]) -> dict[str, tuple[list, list[str]]]:
        """(columns, primary key) of each of these tables that exists (a missing one is left out), as
        `columns` and `primary_key` give them, with one catalog query per kind however many tables:
        a sync batch describes every listed table, in its own snapshot."""

    def own_types(self, conn: Connection, schema: str, table: str) -> list[tuple[str, str, str]]:
        """(schema, name, CREATE statement in the target's SQL) of each type of the source's own (enum,
        composite, domain, range) the table's columns use, each after those it is made of: landing
        holds the columns in these types. None for an engine whose landing types are the target's."""
        return []

    @abstractmethod
    def check_key(self, conn: Connection, schema: str, table) -> None:
        """Refuse (ConfigError) a key named in migration.yml that does not identify every source row
        (`table`: landing.SourceTable); nothing to check where it is the table's primary key."""

    @abstractmethod
    def estimated_rows(self, conn: Connection, schema: str, table: str) -> int:
        """The server's row estimate (-1 where it has none)."""

    @abstractmethod
    def column_fills(self, conn: Connection, schema: str, table: str) -> dict: ...

    @abstractmethod
    def dependent_views(self, conn: Connection, schema: str, table: str) -> list[str]: ...

    def schema_exists(self, conn: Connection, schema: str) -> bool:
        raise NotImplementedError(f"the {self.name} engine cannot list schemas yet")

    def describe_tables(self, conn: Connection, schema: str) -> list[CatalogTable]:
        """Every table of the schema with its columns, keys and declared constraints (`migrate init`)."""
        raise NotImplementedError(f"the {self.name} engine cannot describe a schema yet")

    def sample_text(self, conn: Connection, schema: str, table: str, columns: list[str], rows: int) -> dict[str, list]:
        """Up to `rows` non-null values of each text column, as text, read from a random sample."""
        raise NotImplementedError(f"the {self.name} engine cannot sample values yet")

    @abstractmethod
    def row_count(self, conn: Connection, schema: str, table: str) -> int:
        """The table's rows, counted."""

    @abstractmethod
    def fitting_name(self, readable: str, *made_for: str) -> str:
        """`readable` where the server holds it whole as a name, else cut to fit and made unique by
        a hash of `made_for` (a scratch database, an alias)."""

    def reference_share(
        self, conn: Connection, schema: str, child: str, column: str, parent: str, key: str, rows: int
    ) -> tuple[int, int] | None:
        """Of up to `rows` sampled non-null values of child.column, how many parent.key holds:
        (checked, found); None where the engine cannot tell (init then proposes no relationship)."""
        return None

    # --- consistent snapshot and copy out -----------------------------------------------------
    @abstractmethod
    def open_snapshot(self, conn: Connection, workers: int = 1) -> tuple[str, str]:
        """Open a consistent read on `conn` (kept until its transaction ends) that other sessions
        join, up to `workers` of them at once; returns (the id they join it by, the position it
        stands for, as capture records it)."""

    @abstractmethod
    def join_snapshot(self, conn: Connection, snapshot_id: str | None) -> None:
        """Start a read-only transaction on `conn` that reads the snapshot `snapshot_id` (open_snapshot's);
        None: a consistent read of its own."""

    @abstractmethod
    def run_query(self, conn: Connection, text: str) -> list[tuple]:
        """The rows of a query the operator wrote (migration.yml); its failure raises
        harness.core.errors.QueryFailed."""

    @abstractmethod
    def cancel(self, conn: Connection) -> None:
        """Stop the statement `conn` is running (called from another thread)."""

    @abstractmethod
    def key_span(self, conn: Connection, schema: str, table) -> tuple[Any, Any, int] | None:
        """(lowest key, highest key, estimated rows) of a table (landing.SourceTable) whose leading
        key is an integer, for planning key ranges; None where it is not."""

    COPY_BLOCK_BYTES = 1 << 20  # the most the target's COPY is handed at once
    COPY_FORMAT = (
        "binary"  # the format copy_out writes: COPY's binary, or its text where an engine converts values itself
    )

    @abstractmethod
    def copy_out(
        self, source: Database, schema: str, table, lower: Any, upper: Any, snapshot_id: str
    ) -> AbstractContextManager[int]:
        """A pipe (file descriptor) of the table's rows with lower <= key < upper (None: open),
        masks applied in the source's SELECT, read in the snapshot `snapshot_id`, in the format
        the target's COPY ... FROM STDIN (FORMAT <COPY_FORMAT>) reads."""

    # --- the canonical row hash (harness/reconcile/checksums.py) ---------------------------------
    @abstractmethod
    def native_hash(self, conn: Connection) -> str | None:
        """The server's fast 64-bit text hash and the bytes it hashes (its encoding), e.g.
        "postgres hashtextextended UTF8"; two sides that name the same one use it, any others hash
        the portable way (md5 of UTF-8). None: the portable hash only."""

    @abstractmethod
    def begin_hashing(self, conn: Connection, snapshot_id: str | None) -> None:
        """Ready `conn` for hashing: the session settings the canonical texts rely on, then a
        read-only transaction in the snapshot `snapshot_id` (None: one of its own)."""

    @abstractmethod
    def hashed_columns(self, conn: Connection, schema: str, table: str) -> list[HashedColumn]: ...

    @abstractmethod
    def key_bounds(self, conn: Connection, schema: str, table: str, column: str) -> tuple[Any, Any]:
        """(lowest, highest) value of the column, (None, None) in an empty table."""

    @abstractmethod
    def row_hashes(
        self,
        conn: Connection,
        schema: str,
        table: str,
        columns: Sequence[HashedColumn],
        key: Sequence[str],
        masks: dict[str, str],
        *,
        portable: bool,
    ) -> RowHashes:
        """The table hashed on `conn` (begin_hashing's): `columns` (hashed_columns', in the order
        compared) make a row's text, masked as load copies them; `key` (among them) its key text.
        `portable`: the md5 hash rather than native_hash's."""

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
    def landing_only(self, column: Any) -> bool:
        """Whether a column of `columns` is landing's alone, not the legacy table's (MySQL's date
        companions): a reverse model may leave it out."""
        return False

    @abstractmethod
    def image_session(self, conn: Connection) -> None:
        """Read and write every value's text exactly in this session (of the command's own), as
        capture's images and the target's reverse models have it."""

    @abstractmethod
    def carry_back(
        self,
        conn: Connection,
        schema: str,
        table: str,
        key: list[str],
        columns: list[str],
        rows: Iterable[bytes],
        *,
        deletes: bool,
        unreferenced: bool = False,
    ) -> dict[str, int]:
        """Write the reverse model's rows (the target's COPY text: the legacy `columns`, then the
        op and the columns each row writes, dbt.contract's FALLBACK_OP and FALLBACK_COLUMNS) into
        the legacy table, in the caller's transaction: with `deletes` only the deletes (the caller
        goes children first; with `unreferenced` it may leave the rows a declared foreign key still
        names to a later call), else the inserts then the updates; counts of rows written."""

    @abstractmethod
    def carry_back_begin(self, conn: Connection) -> None:
        """Before the carry-back's first write, in its transaction: the constraints the engine can
        check once at the end left unchecked until carry_back_end."""

    @abstractmethod
    def carry_back_end(self, conn: Connection, schema: str, carried: dict[str, dict[str, int]]) -> None:
        """After its last write, before its commit: those constraints checked, one the writes broke
        refusing the whole carry-back in one line (`carried`: table -> op -> rows written)."""

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

    # --- assessment -----------------------------------------------------------------------------
    def assess_source(self, run, src: Connection) -> bool:
        """`migrate assess`'s reading of the source, where the engine has its own: fill `run`
        (assess/runner's _Run: server, privileges, tables, columns, profiles, findings, relationships,
        timings) from `src` and return True. False (the default): the runner's own steps read the
        source, over the SQL of the PostgreSQL engine."""
        return False

    # --- backup and restore -------------------------------------------------------------------
    dump_tool: str  # the program that writes the archives, as the operator knows it (pg_dump)

    @abstractmethod
    def dump(
        self, conn: Connection, database: Database, schemas: list[str], file: Path, snapshot_id: str
    ) -> tuple[str, dict, dict]:
        """Write an archive of the schemas to `file` in the snapshot `conn` opened (open_snapshot);
        returns (server version, row counts, content checksums) per table, taken in that snapshot."""

    def archive_position(self, file: Path) -> str | None:
        """The position in the source's log an archive stands for, as capture records positions (the
        manifest keeps it); None where the engine records none."""
        return None

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
