"""A private MariaDB started from the installed binaries, in a folder of its own, with the binary log
on (row-based, full images): the MySQL-family source of `migrate demo run --source-engine mysql` (in
the project's .migrate/mariadb) and of the MySQL tests (in a temporary folder), as the embedded
PostgreSQL is the target's. It listens on a free TCP port of 127.0.0.1 and a Unix socket in its folder,
root without a password, and stops with `stop()`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pymysql

from harness.core.connections import mysql_settings
from harness.core.errors import HarnessError

SERVER_BINARIES = ("mariadbd", "mysqld")
INSTALL_BINARIES = ("mariadb-install-db", "mysql_install_db")
START_TIMEOUT_SECONDS = 60


class NoServerBinaries(HarnessError):
    """No MariaDB server binaries on this machine."""


def binary(names: tuple[str, ...]) -> str | None:
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
    url: str  # mysql://root@127.0.0.1:<port>, in no database
    process: subprocess.Popen
    directory: Path

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _stop_orphan(directory: Path) -> None:
    """Stop a server an earlier start in this folder left running (its owner killed with kill -9): it
    holds the data directory's lock, on which a new server would fail."""
    try:
        pid = int((directory / "mysqld.pid").read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if f"--datadir={directory / 'data'}".encode() not in command:
        return  # the pid is another process's now
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _running(pid):
        os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    try:  # a zombie (exited, its parent not yet told) holds no lock
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_private_server(directory: Path) -> PrivateServer:
    """A MariaDB of its own in `directory` (its data directory made there if missing)."""
    server, install = binary(SERVER_BINARIES), binary(INSTALL_BINARIES)
    if not server or not install:
        raise NoServerBinaries(
            "no MariaDB server binaries found (mariadbd and mariadb-install-db): install mariadb-server, "
            "or set MIGRATE_SOURCE_URL to a MySQL or MariaDB server with the binary log on"
        )
    directory.mkdir(parents=True, exist_ok=True)
    _stop_orphan(directory)
    data = directory / "data"
    if not (data / "mysql").is_dir():
        shutil.rmtree(data, ignore_errors=True)  # a data directory left half made by an interrupted start
        subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
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
        # started on this machine, where two servers' files of one name removed each other's.
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
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            admin(url).close()
            return PrivateServer(url, process, directory)
        except pymysql.err.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                log = (directory / "error.log").read_text(errors="replace")[-2000:]
                process.kill()
                raise HarnessError(f"the private MariaDB in {directory} did not start:\n{log}") from None
            time.sleep(0.2)
