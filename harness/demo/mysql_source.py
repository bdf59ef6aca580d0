"""Where `migrate demo … --source-engine mysql` finds its MySQL-family source: MIGRATE_SOURCE_URL when
set (a MySQL or MariaDB server with the binary log on; the demo drops and recreates the database it
names, `oms` when it names none), else a private MariaDB started from the installed binaries in the
project's .migrate/mariadb for the command's time (harness/engines/mysql/server.py)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager

from harness.core import connections
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.errors import ConfigError
from harness.engines.mysql import server

DEMO_DATABASE = "oms"
ENGINES = ("postgres", "mysql")


def postgres_only(config: Config) -> Config:
    """The config with the source's URL left to the demo: the target stays the embedded PostgreSQL."""
    return dataclasses.replace(config, source=dataclasses.replace(config.source, url=None))


@contextmanager
def mysql_source(config: Config) -> Iterator[Database]:
    url = os.environ.get("MIGRATE_SOURCE_URL")
    if url:
        if not connections.is_mysql_url(url):
            raise ConfigError(
                "MIGRATE_SOURCE_URL is not a MySQL URL, and --source-engine is mysql: use mysql://user@host:3306/oms"
            )
        if os.environ.get("MIGRATE_TARGET_URL"):
            raise ConfigError("the demo's target is the embedded PostgreSQL: unset MIGRATE_TARGET_URL")
        database = connections.mysql_settings(url).get("database") or DEMO_DATABASE
        yield Database("source", connections.with_database(url, database), "MIGRATE_SOURCE_URL", False)
        return
    private = server.start_private_server(config.project_dir / ".migrate" / "mariadb")
    try:
        yield Database(
            "source",
            connections.with_database(private.url, DEMO_DATABASE),
            "the demo's private MariaDB (.migrate/mariadb)",
            True,
        )
    finally:
        private.stop()
