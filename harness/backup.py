"""Verified backups: pg_dump archives of the source or target, a manifest, and a proven restore.

The manifest's row count and content checksum of every table are taken in the very snapshot
pg_dump uses (an exported snapshot), so a restore is proven against them exactly, by content and
not by counts alone, even while the source is written. A table's checksum is the sum of a 64-bit
hash of each row's text, read under fixed session settings (the text of every type is then exact
and the same on both sides), so it does not depend on row order and any changed value shows.
A source archive holds what the source holds, full card numbers included: archives are readable
by their owner only, in a folder only the owner can enter, and a source archive is restored onto
the target's server only when asked to.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness import engines
from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.errors import CheckFailed, ConfigError
from harness.engines.base import Connection, SourceEngine
from harness.engines.postgres import DatabaseOptions
from harness.engines.postgres.capture import CAPTURE_SCHEMA
from harness.target import backups as manifests
from harness.target.provision import provision

# What to run for a verified source backup, as the gates and status say it.
VERIFY_HINT = (
    "migrate backup, then migrate restore --into <scratch db> (with --allow-source-copy where the scratch database "
    "is on the target's server, as with the embedded one)"
)


@dataclass
class Backup:
    backup_id: int
    side: str
    file: Path
    server_version: str
    size_bytes: int
    sha256: str
    row_counts: dict[str, int]
    seconds: float = 0.0
    checksums: dict[str, str] | None = None  # None: a backup from before checksums were recorded
    database_options: DatabaseOptions | None = None  # None: a backup from before they were recorded
    log_position: str | None = None  # the source log's position the archive stands for (MySQL's binary log)


@dataclass
class Restore:
    backup: Backup
    database: str
    row_counts: dict[str, int]
    seconds: float
    checksums: dict[str, str] | None = None

    @property
    def by_content(self) -> bool:
        """Proven by content (checksums), not only by row counts (a backup from before checksums)."""
        return self.backup.checksums is not None

    @property
    def differences(self) -> dict[str, tuple]:
        """Per differing table: (rows, checksum) in the manifest and in the restored database."""
        ours, theirs = self.backup.checksums or {}, self.checksums or {}
        names = set(self.backup.row_counts) | set(self.row_counts)
        return {
            n: ((self.backup.row_counts.get(n), ours.get(n)), (self.row_counts.get(n), theirs.get(n)))
            if self.by_content
            else (self.backup.row_counts.get(n), self.row_counts.get(n))
            for n in sorted(names)
            if self.backup.row_counts.get(n) != self.row_counts.get(n)
            or (self.by_content and ours.get(n) != theirs.get(n))
        }


def _schemas(engine: SourceEngine, conn: Connection, config: Config, side: str) -> list[str]:
    if side == "source":
        return [config.source_schema]
    return engine.user_schemas(conn, [CAPTURE_SCHEMA])


def _engine(config: Config, side: str) -> SourceEngine:
    return engines.source_engine(config) if side == "source" else engines.target_engine()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backup(config: Config, source: Database, target: Database, side: str, directory: Path) -> Backup:
    started = time.perf_counter()
    db = source if side == "source" else target
    provision(config, source, target)  # the manifest lives in the target's control schema
    _private_folder(directory)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    file = directory / f"{side}-{db.name}-{stamp}.dump"
    # Created here, owner-only, before pg_dump writes into it: no moment readable by others.
    os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    os.chmod(file, 0o600)  # whatever the umask took away
    engine = _engine(config, side)
    with connections.connection(db, command="backup") as conn:
        snapshot_id, _ = engine.open_snapshot(conn)
        options = engine.database_options(conn)
        schemas = _schemas(engine, conn, config, side)
        version, counts, sums = engine.dump(conn, db, schemas, file, snapshot_id)
    result = Backup(
        0,
        side,
        file,
        version,
        file.stat().st_size,
        _sha256(file),
        counts,
        checksums=sums,
        database_options=options,
        log_position=engine.archive_position(file),
    )
    with connections.connection(target, command="backup", autocommit=True) as ctl:
        result.backup_id = manifests.record(
            ctl,
            config.control_schema,
            side,
            str(file.resolve()),
            version,
            result.size_bytes,
            result.sha256,
            counts,
            sums,
            dataclasses.asdict(options),
            result.log_position,
        )
    result.seconds = time.perf_counter() - started
    return result


def _private_folder(directory: Path) -> None:
    """The archives' folder, created if missing and made enterable by its owner only."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(directory, 0o700)
    except PermissionError:
        raise ConfigError(
            f"cannot make {directory} private (owner-only) for the archives: choose a folder of your own with --dir"
        ) from None


def prove(restored: Database, chosen: Backup, engine: SourceEngine | None = None) -> Restore:
    """A restored database's counts and checksums, held against the backup's manifest (`differences`);
    `engine`: the restored server's (None: PostgreSQL's)."""
    engine = engine or engines.target_engine()
    with connections.connection(restored, command="restore verify") as conn:
        schemas = sorted({name.split(".", 1)[0] for name in chosen.row_counts})
        counts, sums = engine.counts_and_checksums(conn, schemas)
    return Restore(chosen, restored.name, counts, 0.0, sums)


def _options_of(chosen: Backup, server: Database, engine: SourceEngine) -> DatabaseOptions:
    """The encoding and locale a restore of this backup is created with: those of the database it
    was taken from (its text is then the same bytes, sorted the same way, and proven by the same
    checksums); for a backup from before they were recorded, that database's as it is now."""
    if chosen.database_options is not None:
        return chosen.database_options
    with connections.connection(server, command="restore") as conn:
        return engine.database_options(conn)


def find_backup(config: Config, target: Database, backup_id: int | None, side: str) -> Backup:
    with connections.connection(target, command="restore") as ctl:
        control.ensure(ctl, config.control_schema)
        row = manifests.manifest(ctl, config.control_schema, backup_id, side)
        ctl.commit()
    if row is None:
        wanted = f"backup {backup_id}" if backup_id is not None else f"a backup of the {side}"
        raise ConfigError(f"no record of {wanted} in the control schema: run `migrate backup --side {side}` first")
    backup_id, side, file, version, size, sha, counts, sums, options, position = row
    return Backup(
        backup_id,
        side,
        Path(file),
        version,
        size,
        sha,
        counts,
        checksums=sums,
        database_options=DatabaseOptions(**options) if options else None,
        log_position=position,
    )


def restore(
    config: Config,
    source: Database,
    target: Database,
    into: str,
    *,
    backup_id: int | None = None,
    side: str = "source",
    allow_source_copy: bool = False,
) -> Restore:
    """Restore a backup into a new database on the same server, and prove it against the manifest.

    A source archive is refused when its server is also the target's (`allow_source_copy` allows
    it): the copy would put the source's unmasked data beside the target's.
    """
    started = time.perf_counter()
    chosen = find_backup(config, target, backup_id, side)
    if not chosen.file.exists():
        raise ConfigError(f"backup file {chosen.file} is missing: it was moved or deleted")
    if _sha256(chosen.file) != chosen.sha256:
        raise CheckFailed(
            f"backup file {chosen.file} does not match its recorded sha256: it is damaged; take a new backup"
        )
    server = source if chosen.side == "source" else target
    engine = _engine(config, chosen.side)
    admin = connections.admin_url(server.url)
    if into in (source.name, target.name):
        raise ConfigError(f"refusing to restore over the live {into!r} database: name a new database with --into")
    if (
        chosen.side == "source"
        and not allow_source_copy
        and connections.server(server.url) == connections.server(target.url)
    ):
        raise ConfigError(
            f"refusing to restore source backup {chosen.backup_id} onto the target's server "
            f"({target.describe().rsplit('/', 1)[0]}): it holds the source's unmasked data, card numbers included; "
            "pass --allow-source-copy if that copy is intended"
        )
    fix = "those of the backed-up database: install that locale on this server, or restore onto one that has it"
    if not connections.create_database(admin, into, _options_of(chosen, server, engine), fix=fix):
        raise ConfigError(f"database {into!r} already exists: choose another name with --into or drop it first")
    restored = Database(server.side, connections.with_database(server.url, into), server.setting, server.embedded)
    with connections.connection(restored, command="restore") as conn:
        engine.restore_archive(conn, restored, chosen.file)
    result = prove(restored, chosen, engine)
    result.seconds = time.perf_counter() - started
    if result.differences:
        raise CheckFailed(
            f"restored database {into!r} differs from the backup's manifest "
            f"({'(rows, checksum)' if result.by_content else 'rows'} in the manifest, then restored): "
            f"{result.differences}"
        )
    with connections.connection(target, command="restore", autocommit=True) as ctl:
        manifests.verified(ctl, config.control_schema, chosen.backup_id, into)
    return result
