"""The embedded PostgreSQL: a private server under .migrate/ for when no server is configured.

pgserver ships the PostgreSQL binaries as a wheel, so a fresh clone needs nothing installed by
hand. The server listens on a Unix socket inside its data folder only (no TCP port to collide
with another clone) and keeps running between commands until `migrate env down`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import EmbeddedServerError

# Sized for a 2-core, 24 GB machine doing bulk loads and dbt builds; durability stays on.
SETTINGS = {
    "shared_buffers": "2GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "jit": "off",
    "max_connections": "200",
}


@dataclass(frozen=True)
class EmbeddedStatus:
    data_dir: Path
    running: bool
    url: str | None
    pid: int | None


# pgserver asks platformdirs for a runtime folder; its fallback warning is noise on servers.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def data_dir(project_dir: Path) -> Path:
    return project_dir / ".migrate" / "pgdata"


def _postmaster(pgdata: Path):
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info if info is not None and info.is_running() else None


def status(project_dir: Path) -> EmbeddedStatus:
    pgdata = data_dir(project_dir)
    info = _postmaster(pgdata) if pgdata.exists() else None
    if info is None:
        return EmbeddedStatus(pgdata, False, None, None)
    return EmbeddedStatus(pgdata, True, info.get_uri(database="postgres"), info.pid)


def start(project_dir: Path) -> str:
    """Start the server if it is not running; return the admin URL of its `postgres` database."""
    current = status(project_dir)
    if current.running:
        return current.url  # type: ignore[return-value]
    pgdata = data_dir(project_dir)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("pgserver").setLevel(logging.CRITICAL)
    try:
        import pgserver

        server = pgserver.get_server(pgdata, cleanup_mode=None)
        url = server.get_uri(database="postgres")
        if _apply_settings(url):
            _pg_ctl(pgdata, ["-w", "-t", "60", "restart"])
            url = status(project_dir).url
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        log = pgdata / "log"
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        detail = tail[0] if tail else str(exc) or type(exc).__name__
        raise EmbeddedServerError(
            f"the embedded PostgreSQL in {pgdata} did not start ({detail}); "
            f"see {log}, or set MIGRATE_SOURCE_URL and MIGRATE_TARGET_URL to use a server of your own"
        ) from None
    if url is None:
        raise EmbeddedServerError(
            f"the embedded PostgreSQL in {pgdata} stopped right after starting; see {pgdata / 'log'}"
        )
    return url


def stop(project_dir: Path) -> bool:
    """Stop the server; return False when it was not running."""
    pgdata = data_dir(project_dir)
    if not status(project_dir).running:
        return False
    try:
        _pg_ctl(pgdata, ["-w", "-t", "60", "-m", "fast", "stop"])
    except subprocess.SubprocessError as exc:
        raise EmbeddedServerError(f"could not stop the embedded PostgreSQL in {pgdata}: {exc}") from None
    return True


def _apply_settings(url: str) -> bool:
    """Set the server settings once; True when a restart is needed for them to apply."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        current = dict(conn.execute("select name, setting || coalesce(unit, '') from pg_settings").fetchall())
        if current.get("wal_level") == SETTINGS["wal_level"] and current.get("jit") == SETTINGS["jit"]:
            return False
        for name, value in SETTINGS.items():
            conn.execute(f"alter system set {name} = '{value}'")
    return True


def _pg_ctl(pgdata: Path, args: list[str]) -> None:
    from pgserver._commands import pg_ctl

    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    pg_ctl(args, pgdata=pgdata, user=user, timeout=90)


def bin_dir() -> Path:
    """Where the embedded server's client programs (pg_dump, pg_restore, psql) live."""
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)
