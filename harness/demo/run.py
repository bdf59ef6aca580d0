"""The demo migration: seed the legacy source, fill landing, build the dbt project."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from harness import connections, dbt, landing
from harness.config import Config
from harness.connections import Database
from harness.demo.seed import seed_legacy


@dataclass
class SeedResult:
    rows: dict[str, int]
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.rows.values())


@dataclass
class DemoResult:
    seed: SeedResult
    landed: dict[str, int] = field(default_factory=dict)
    dbt_nodes: int = 0
    dispositions: list[tuple] = field(default_factory=list)
    seconds: float = 0.0


def seed(source: Database, scale: int, seed_value: int, progress: Callable[[str, int], None] | None = None) -> SeedResult:
    started = time.perf_counter()
    with connections.connection(source, command="demo seed") as conn:
        rows = seed_legacy(conn, scale, seed_value, progress)
        conn.commit()
    return SeedResult(rows, time.perf_counter() - started)


def fill_landing(config: Config, source: Database, target: Database, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """A plain snapshot copy of every listed table into landing (the demo's stand-in for `load`)."""
    landed = {}
    with connections.connection(source, command="demo landing") as src, connections.connection(target, command="demo landing") as dst:
        src.execute("set transaction isolation level repeatable read, read only")
        for table_config in config.tables:
            table = landing.describe(src, config, table_config)
            landing.create_landing_table(dst, config.landing_schema, table)
            landed[table.name] = landing.copy_table(src, dst, config, table)
            if progress:
                progress(table.name, landed[table.name])
        dst.commit()
        src.rollback()
    return landed


def read_dispositions(target: Database) -> list[tuple]:
    with connections.connection(target, command="demo") as conn:
        return conn.execute(
            "select source_table, source_rows, migrated, merged, quarantined from quarantine.dispositions order by source_table"
        ).fetchall()
