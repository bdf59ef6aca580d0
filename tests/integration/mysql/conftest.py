"""A MySQL-family source for the tests: MIGRATE_TEST_MYSQL_URL when set, else a private MariaDB
started from the installed binaries in a temporary directory for the session, with the binary log
on (row-based, full images), as the embedded PostgreSQL is started for the target. The machine's
server (127.0.0.1:3306, binary log off) is offered apart, to tests that do not read the binary log.
Each test gets a database (MySQL's schema) of its own, dropped afterwards. Where no server can be
had, the MySQL tests are skipped with one line naming what is missing."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pymysql
import pytest

from harness.engines.mysql import server
from harness.engines.mysql.server import PrivateServer, admin

MACHINE_URL = "mysql://root@127.0.0.1:3306"


def start_private_server(directory: Path) -> PrivateServer:
    """The private MariaDB (harness/engines/mysql/server.py); the test is skipped where its binaries are missing."""
    try:
        return server.start_private_server(directory)
    except server.NoServerBinaries:
        pytest.skip(
            "MySQL tests skipped: no mariadbd/mariadb-install-db on PATH (install mariadb-server) "
            "and MIGRATE_TEST_MYSQL_URL unset"
        )


@pytest.fixture(scope="session")
def mysql_url(tmp_path_factory) -> str:
    """A MySQL-family server with the binary log on: MIGRATE_TEST_MYSQL_URL, else a private MariaDB."""
    url = os.environ.get("MIGRATE_TEST_MYSQL_URL")
    if url:
        yield url
        return
    private = start_private_server(tmp_path_factory.mktemp("mariadb"))
    yield private.url
    private.stop()


@pytest.fixture(scope="session")
def machine_mysql_url() -> str:
    """The machine's server at 127.0.0.1:3306 (binary log off), for tests that do not read the log."""
    try:
        admin(MACHINE_URL).close()
    except pymysql.err.OperationalError:
        pytest.skip("the machine's MariaDB at 127.0.0.1:3306 is not reachable")
    return MACHINE_URL


def _database(url: str):
    name = f"t_my_{uuid.uuid4().hex[:10]}"
    with admin(url) as conn:
        conn.cursor().execute(f"create database `{name}` character set utf8mb4")
    return name


def _drop(url: str, name: str) -> None:
    with admin(url) as conn:
        conn.cursor().execute(f"drop database if exists `{name}`")


@pytest.fixture
def mysql_database(mysql_url):
    """(server URL, a new database on it), dropped after the test."""
    name = _database(mysql_url)
    yield mysql_url, name
    _drop(mysql_url, name)


@pytest.fixture
def machine_mysql_database(machine_mysql_url):
    name = _database(machine_mysql_url)
    yield machine_mysql_url, name
    _drop(machine_mysql_url, name)


def run_sql(url: str, database: str | None, statements: str, *, sql_mode: str | None = None) -> None:
    """Statements separated by ';' at line ends, run in one session."""
    with admin(url, database=database) as conn, conn.cursor() as cur:
        if sql_mode is not None:
            cur.execute("set session sql_mode = %s", (sql_mode,))
        for statement in statements.split(";\n"):
            if statement.strip():
                cur.execute(statement)


def fetch(url: str, database: str | None, query: str) -> list[tuple]:
    with admin(url, database=database) as conn, conn.cursor() as cur:
        cur.execute(query)
        return list(cur.fetchall())
