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
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from harness.core import embedded
from harness.core.config import Config, Endpoint
from harness.core.errors import ConfigError, ConnectionFailed, DatabaseFailed
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

# What a database raises through a connection opened here: a lifecycle module that runs on after a
# failed query (a check that fails, a criterion that cannot tell) catches this, not the driver's class.
DatabaseError = psycopg.Error


@dataclass(frozen=True)
class Database:
    """A database the harness can connect to, and the setting that chose it."""

    side: str  # "source" or "target"
    url: str
    setting: str
    embedded: bool

    @property
    def engine(self) -> str:
        """The server's engine, by the URL's scheme: mysql://, mariadb:// or PostgreSQL's."""
        return "mysql" if is_mysql_url(self.url) else "postgres"

    @property
    def name(self) -> str:
        if self.engine == "mysql":
            return mysql_settings(self.url).get("database") or ""
        return conninfo_to_dict(self.url).get("dbname", "")

    def describe(self) -> str:
        """host:port/db for messages; never the password."""
        if self.engine == "mysql":
            settings = mysql_settings(self.url)
            where = settings.get("unix_socket") or f"{settings['host']}:{settings['port']}"
            return f"{where}/{settings.get('database') or ''}"
        info = conninfo_to_dict(self.url)
        host = info.get("host") or "localhost"
        where = "embedded server" if self.embedded else f"{host}:{info.get('port') or 5432}"
        return f"{where}/{info.get('dbname', '')}"


MYSQL_SCHEMES = ("mysql", "mariadb")


def is_mysql_url(url: str) -> bool:
    return urlsplit(url).scheme in MYSQL_SCHEMES


def mysql_settings(url: str) -> dict:
    """PyMySQL's connect() arguments of mysql://user:password@host:port/database?unix_socket=/path."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    settings = {
        "host": parts.hostname or "localhost",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "database": unquote(parts.path.lstrip("/")) or None,
    }
    if "unix_socket" in query:
        settings["unix_socket"] = query["unix_socket"][0]
    return settings


def postgres_settings(url: str) -> dict[str, str]:
    """libpq's settings (host, port, dbname, user, password, sslmode, ...) of a PostgreSQL URL or conninfo."""
    return conninfo_to_dict(url)


def with_database(url: str, dbname: str) -> str:
    if is_mysql_url(url):
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path="/" + quote(dbname, safe="") if dbname else ""))
    return make_conninfo(url, dbname=dbname)


def admin_url(url: str) -> str:
    """The server of `url` as an administrator reaches it to create and drop databases: PostgreSQL's
    `postgres` database, or a MySQL session in no database."""
    return with_database(url, "" if is_mysql_url(url) else "postgres")


def resolve(config: Config, *, create_missing: bool = True) -> tuple[Database, Database]:
    """Where the source and the target are. Starts the embedded server when neither is configured."""
    source, target = config.source, config.target
    if source.engine != "postgres" and not source.url:
        raise ConfigError(
            f"source.engine is {source.engine} and no source server is configured: set MIGRATE_SOURCE_URL "
            "(or source.url in migration.yml), e.g. mysql://user@host:3306/db"
        )
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


def url_problem(url: str) -> str | None:
    """What is wrong with a connection URL given on the command line, or None."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "is not a valid PostgreSQL URL"
    return None if info.get("dbname") else "names no database"


def _configured(side: str, endpoint: Endpoint) -> Database:
    if endpoint.engine == "mysql":
        if not is_mysql_url(endpoint.url):
            raise ConfigError(
                f"{endpoint.url_setting} is not a MySQL URL, and {side}.engine is mysql: use mysql://user@host:3306/db"
            )
        return Database(side, endpoint.url, endpoint.url_setting, False)
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


def server(url: str) -> tuple[str, str, str]:
    """Which engine's server a URL reaches and where it listens (engine, host, port), this machine's
    names and sockets as one host."""
    if is_mysql_url(url):
        settings = mysql_settings(url)
        host = "/" if settings.get("unix_socket") else settings["host"].lower()
        engine, port = "mysql", str(settings["port"])
    else:
        info = conninfo_to_dict(url)
        host = (info.get("host") or info.get("hostaddr") or "").lower()
        engine, port = "postgres", str(info.get("port") or 5432)
    if host in LOCAL_HOSTS or host.startswith("/"):
        host = "this machine"
    return engine, host, port


def connect(db: Database, *, command: str = "", autocommit: bool = False) -> psycopg.Connection:
    name = f"{APPLICATION} {command}".strip()
    if db.engine == "mysql":
        return connect_mysql(db, command=command, autocommit=autocommit)
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


def connect_mysql(db: Database, *, command: str = "", autocommit: bool = False, streaming: bool = False):
    """A MySQL or MariaDB session (PyMySQL) that hands every value over as the server's text (bytes
    for binary columns), in utf8mb4, with the session's time zone UTC: harness/engines/mysql turns
    that text into the landing types' text itself. `streaming`: rows read as they arrive (SSCursor)."""
    import pymysql
    import pymysql.converters
    import pymysql.cursors

    from harness.engines.mysql.session import MysqlSession

    settings = mysql_settings(db.url)
    try:
        conn = MysqlSession(
            **settings,
            charset="utf8mb4",
            # Encoders for parameters only: no decoder, so every value arrives as the server's text.
            conv={k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)},
            autocommit=autocommit,
            connect_timeout=CONNECT_TIMEOUT,
            init_command="set time_zone = '+00:00'",
            program_name=f"{APPLICATION} {command}".strip()[:32],
            cursorclass=pymysql.cursors.SSCursor if streaming else pymysql.cursors.Cursor,
        )
    except pymysql.err.OperationalError as exc:
        raise explain_mysql_failure(db, exc) from None
    conn.origin = db  # the engine opens the sessions that join this one's snapshot from it
    return conn


def explain_mysql_failure(db: Database, exc: Exception) -> ConnectionFailed:
    code = exc.args[0] if exc.args else None
    text = str(exc.args[1] if len(exc.args) > 1 else exc)
    causes = {
        1045: "the user or password was refused",
        1049: f"database {db.name!r} does not exist",
        2003: "the server is unreachable (connection refused)",
        2002: "the server's socket is unreachable",
    }
    cause = causes.get(code, text.splitlines()[0] if text else type(exc).__name__)
    return ConnectionFailed(f"cannot connect to the {db.side} database at {db.describe()}: {cause}; check {db.setting}")


@contextmanager
def connection(db: Database, *, command: str = "", autocommit: bool = False) -> Iterator[psycopg.Connection]:
    conn = connect(db, command=command, autocommit=autocommit)
    try:
        yield conn
    finally:
        conn.close()


def first_line(exc: BaseException) -> str:
    """The first line of a database error, or its class name when it says nothing."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@contextmanager
def database_errors() -> Iterator[None]:
    """Around a whole command: a database error no step expected becomes DatabaseFailed, its
    first line, so that the command line prints one line instead of a traceback."""
    try:
        yield
    except psycopg.Error as exc:
        raise DatabaseFailed(first_line(exc)) from exc


def server_version(db: Database, *, command: str = "") -> str:
    """The server's version, as it names it (e.g. "16.4")."""
    with connection(db, command=command) as conn:
        return conn.execute("show server_version").fetchone()[0]


def probe(url: str, *, timeout: int = 3) -> str:
    """What answers at `url`, never raising: "PostgreSQL <version>" or "not reachable: <why>"."""
    try:
        with psycopg.connect(url, connect_timeout=timeout) as conn:
            return "PostgreSQL " + conn.execute("show server_version").fetchone()[0]
    except psycopg.Error as exc:
        return "not reachable: " + (str(exc).strip().splitlines() or ["?"])[0]


def create_database(admin_url: str, name: str, options: DatabaseOptions | None = None, *, fix: str = "") -> bool:
    """Create a database if it is missing, with these encoding and locale options (else the server's
    defaults); True when it was created. Options the server refuses are one line ending with `fix`."""
    options = options or DatabaseOptions()
    if is_mysql_url(admin_url):
        return _create_mysql_database(admin_url, name)
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


def _create_mysql_database(admin_url: str, name: str) -> bool:
    """A MySQL database in utf8mb4 (a restored archive's tables carry their own character sets)."""
    from harness.engines.mysql import catalog

    with connection(Database("source", admin_url, "the server's URL", False), command="create database") as conn:
        if conn.execute("select 1 from information_schema.schemata where schema_name = %s", (name,)):
            return False
        conn.execute(f"create database {catalog.quoted(name)} character set utf8mb4")
        return True


def _database_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is not None


def create_target_database(config: Config, source: Database, admin_url: str, name: str) -> bool:
    """Create the target database if it is missing, with the source's encoding and locale where
    migration.yml's target.database_options does not name others; True when it was created."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        if _database_exists(conn, name):
            return False
    from harness import engines

    with connection(source, command="provision") as src:
        options = engines.source_engine(config).database_options(src).overridden_by(config.target_database_options)
    return create_database(
        admin_url,
        name,
        options,
        fix="the source's options, with target.database_options over them: "
        "set target.database_options in migration.yml to options this server has",
    )


def drop_database(admin_url: str, name: str) -> None:
    if is_mysql_url(admin_url):
        from harness.engines.mysql import catalog

        with connection(Database("source", admin_url, "the server's URL", False), command="drop database") as conn:
            conn.execute(f"drop database if exists {catalog.quoted(name)}")
        return
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
