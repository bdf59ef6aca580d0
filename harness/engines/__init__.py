"""Source database engines: the interface the lifecycle calls (base.SourceEngine) and one package
per engine that implements it (postgres/, mysql/)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.core.errors import ConfigError

if TYPE_CHECKING:
    from harness.core.config import Config
    from harness.engines.base import Capture, SourceEngine

SUPPORTED = ("postgres", "mysql")


def source_engine(config: Config) -> SourceEngine:
    """The engine of migration.yml's `source.engine`."""
    return engine_named(config.source.engine)


def source_capture(config: Config) -> Capture:
    """The source engine's capture of migration.yml's `capture.method`."""
    return source_engine(config).capture(config.capture.method, config.capture.column)


def engine_named(name: str) -> SourceEngine:
    if name == "postgres":
        from harness.engines.postgres.engine import PostgresEngine

        return PostgresEngine()
    if name == "mysql":
        from harness.engines.mysql.engine import MysqlEngine

        return MysqlEngine()
    raise ConfigError(f"source.engine {name!r} is not supported yet; use {', '.join(repr(n) for n in SUPPORTED)}")


def target_engine() -> SourceEngine:
    """The target's server, always PostgreSQL (dbt-postgres): its catalog and backups are the postgres engine's."""
    return engine_named("postgres")
