"""A MySQL-family source for the tests: MIGRATE_TEST_MYSQL_URL when set, else a private MariaDB
started from the installed binaries in a temporary directory for the session, with the binary log
on (row-based, full images), as the embedded PostgreSQL is started for the target. The machine's
server (127.0.0.1:3306, binary log off) is offered apart, to tests that do not read the binary log.
Each test gets a database (MySQL's schema) of its own, dropped afterwards. Where no server can be
had, the MySQL tests are skipped with one line naming what is missing."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest

from harness.core.connections import mysql_settings

SERVER_BINARIES = ("mariadbd", "mysqld")
INSTALL_BINARIES = ("mariadb-install-db", "mysql_install_db")
MACHINE_URL = "mysql://root@127.0.0.1:3306"


def _binary(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name) or next(
            (str(p) for d in ("/usr/sbin", "/usr/local/sbin") if (p := Path(d) / name).exists()), None
        )
        if found:
            return found
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def admin(url: str, **options) -> pymysql.Connection:
    settings = {**mysql_settings(url), **options}
    return pymysql.connect(**settings, charset="utf8mb4", autocommit=True)


@dataclass
class PrivateServer:
    url: str
    process: subprocess.Popen
    directory: Path

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_private_server(directory: Path) -> PrivateServer:
    """A MariaDB of its own in `directory`: TCP on a free port of 127.0.0.1, root without a password,
    the binary log row-based with full images and metadata."""
    server, install = _binary(SERVER_BINARIES), _binary(INSTALL_BINARIES)
    if not server or not install:
        pytest.skip(
            "MySQL tests skipped: no mariadbd/mariadb-install-db on PATH (install mariadb-server) "
            "and MIGRATE_TEST_MYSQL_URL unset"
        )
    data = directory / "data"
    subprocess.run(
        [install, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal", "--skip-test-db"],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    command = [
        server,
        "--no-defaults",
        f"--datadir={data}",
        f"--socket={directory / 'mysqld.sock'}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        f"--pid-file={directory / 'mysqld.pid'}",
        f"--log-error={directory / 'error.log'}",
        # Its own temporary files (internal temporary tables): not /tmp, shared with the other servers
        # tests start on this machine, where two servers' files of one name removed each other's.
        f"--tmpdir={directory}",
        f"--log-bin={data / 'binlog'}",
        "--binlog-format=ROW",
        "--binlog-row-image=FULL",
        "--server-id=1",
        "--innodb-buffer-pool-size=128M",
        "--skip-name-resolve",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_general_ci",
    ]
    if os.geteuid() == 0:
        command.append("--user=root")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"mysql://root@127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            admin(url).close()
            return PrivateServer(url, process, directory)
        except pymysql.err.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                log = (directory / "error.log").read_text(errors="replace")[-2000:]
                process.kill()
                raise RuntimeError(f"the private MariaDB did not start:\n{log}") from None
            time.sleep(0.2)


@pytest.fixture(scope="session")
def mysql_url(tmp_path_factory) -> str:
    """A MySQL-family server with the binary log on: MIGRATE_TEST_MYSQL_URL, else a private MariaDB."""
    url = os.environ.get("MIGRATE_TEST_MYSQL_URL")
    if url:
        yield url
        return
    server = start_private_server(tmp_path_factory.mktemp("mariadb"))
    yield server.url
    server.stop()


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
