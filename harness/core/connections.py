"""The one module that opens database connections.

It decides where the source and target live (URLs from the environment or migration.yml, or
the embedded server), opens psycopg connections tagged with the running command, and turns
every connection failure into one line that names the cause and the setting to change.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from harness.core import embedded
from harness.core.config import Config, Endpoint
from harness.core.errors import ConfigError, ConnectionFailed
from harness.engines import postgres
from harness.engines.postgres import DatabaseOptions

APPLICATION = "migrate"
CONNECT_TIMEOUT = 10
# Every connection talks UTF-8, whatever its database's encoding: Python's strings always fit, and a
# copy streamed from one database into another (load's psql, sync's change log) is read in the
# encoding it was written in; the server converts from and to its own.
CLIENT_ENCODING = "UTF8"
# What a command meets when a database drops away under it (a restart, a network cut): a loop
# that keeps running catches these and tries again.
DROPPED = (ConnectionFailed, psycopg.OperationalError)


@dataclass(frozen=True)
class Database:
    """A database the harness can connect to, and the setting that chose it."""

    side: str  # "source" or "target"
    url: str
    setting: str
    embedded: bool

    @property
    def name(self) -> str:
        return conninfo_to_dict(self.url).get("dbname", "")

    def describe(self) -> str:
        """host:port/db for messages; never the password."""
        info = conninfo_to_dict(self.url)
        host = info.get("host") or "localhost"
        where = "embedded server" if self.embedded else f"{host}:{info.get('port') or 5432}"
        return f"{where}/{info.get('dbname', '')}"


def with_database(url: str, dbname: str) -> str:
    return make_conninfo(url, dbname=dbname)


def resolve(config: Config, *, create_missing: bool = True) -> tuple[Database, Database]:
    """Where the source and the target are. Starts the embedded server when neither is configured."""
    source, target = config.source, config.target
    if source.url and target.url:
        return _configured("source", source), _configured("target", target)
    if source.url or target.url:
        missing = "MIGRATE_TARGET_URL" if source.url else "MIGRATE_SOURCE_URL"
        raise ConfigError(
            f"only one side has a server configured: set {missing} (or its url in migration.yml) too, "
            "or unset both to use the embedded server"
        )
    admin = embedded.start(config.project_dir)
    setting = "the embedded server (.migrate/); `migrate env status` shows it"
    databases = (
        Database("source", with_database(admin, source.database), setting, True),
        Database("target", with_database(admin, target.database), setting, True),
    )
    if create_missing:
        create_database(admin, source.database)
        create_target_database(config, databases[0], admin, target.database)
    return databases


def _configured(side: str, endpoint: Endpoint) -> Database:
    try:
        conninfo_to_dict(endpoint.url)
    except psycopg.ProgrammingError:
        raise ConfigError(
            f"{endpoint.url_setting} is not a valid PostgreSQL URL: use postgresql://user@host:port/db"
        ) from None
    return Database(side, endpoint.url, endpoint.url_setting, False)


def explain_failure(db: Database, exc: psycopg.OperationalError) -> ConnectionFailed:
    text = str(exc).strip()
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        cause = "the password was refused"
    elif "does not exist" in lowered and "database" in lowered:
        cause = f"database {db.name!r} does not exist"
    elif "role" in lowered and "does not exist" in lowered:
        cause = "the user does not exist"
    elif "timeout" in lowered or "timed out" in lowered:
        cause = "the server did not answer in time"
    elif "connection refused" in lowered or "could not connect" in lowered or "no such file" in lowered:
        cause = "the server is unreachable (connection refused)"
    elif "could not translate host name" in lowered or "name or service not known" in lowered:
        cause = "the host name is unknown"
    else:
        cause = text.splitlines()[0] if text else type(exc).__name__
    return ConnectionFailed(f"cannot connect to the {db.side} database at {db.describe()}: {cause}; check {db.setting}")


LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}


def server(url: str) -> tuple[str, str]:
    """Where a URL's server listens (host, port), with this machine's names and sockets as one host."""
    info = conninfo_to_dict(url)
    host = (info.get("host") or info.get("hostaddr") or "").lower()
    if host in LOCAL_HOSTS or host.startswith("/"):
        host = "this machine"
    return host, str(info.get("port") or 5432)


def connect(db: Database, *, command: str = "", autocommit: bool = False) -> psycopg.Connection:
    name = f"{APPLICATION} {command}".strip()
    try:
        return psycopg.connect(
            db.url,
            autocommit=autocommit,
            application_name=name[:63],
            connect_timeout=CONNECT_TIMEOUT,
            client_encoding=CLIENT_ENCODING,
        )
    except psycopg.OperationalError as exc:
        raise explain_failure(db, exc) from None


@contextmanager
def connection(db: Database, *, command: str = "", autocommit: bool = False) -> Iterator[psycopg.Connection]:
    conn = connect(db, command=command, autocommit=autocommit)
    try:
        yield conn
    finally:
        conn.close()


def create_database(admin_url: str, name: str, options: DatabaseOptions | None = None, *, fix: str = "") -> bool:
    """Create a database if it is missing, with these encoding and locale options (else the server's
    defaults); True when it was created. Options the server refuses are one line ending with `fix`."""
    options = options or DatabaseOptions()
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        if _database_exists(conn, name):
            return False
        try:
            conn.execute(postgres.create_database_sql(name, options, conn.info.server_version))
        except (psycopg.errors.DataError, psycopg.errors.ProgrammingError, psycopg.errors.NotSupportedError) as exc:
            if isinstance(exc, psycopg.errors.InsufficientPrivilege):
                raise
            reason = str(exc).strip().splitlines()[0]
            raise ConfigError(
                f"cannot create database {name!r} with {options.describe()}: {reason}{'; ' + fix if fix else ''}"
            ) from None
        return True


def _database_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is not None


def create_target_database(config: Config, source: Database, admin_url: str, name: str) -> bool:
    """Create the target database if it is missing, with the source's encoding and locale where
    migration.yml's target.database_options does not name others; True when it was created."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        if _database_exists(conn, name):
            return False
    with connection(source, command="provision") as src:
        options = postgres.database_options(src).overridden_by(config.target_database_options)
    return create_database(
        admin_url,
        name,
        options,
        fix="the source's options, with target.database_options over them: "
        "set target.database_options in migration.yml to options this server has",
    )


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def dbt_environment(target: Database) -> dict[str, str]:
    """The environment variables that profiles/profiles.yml reads, for the target database."""
    info = conninfo_to_dict(target.url)
    env = {
        "MIGRATE_TARGET_HOST": info.get("host") or "localhost",
        "MIGRATE_TARGET_PORT": str(info.get("port") or 5432),
        "MIGRATE_TARGET_USER": info.get("user") or os.environ.get("PGUSER", "postgres"),
        "MIGRATE_TARGET_PASSWORD": info.get("password") or "",
        "MIGRATE_TARGET_DBNAME": info.get("dbname", ""),
    }
    return env
