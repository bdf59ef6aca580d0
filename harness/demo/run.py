"""The demo migration's own steps: seed the legacy source and read back the dispositions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.core import connections
from harness.core.connections import Database
from harness.demo.seed import seed_legacy


@dataclass
class SeedResult:
    rows: dict[str, int]
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def expected_rows(scale: int) -> int:
    """About how many rows `seed` writes at this scale (for a progress bar)."""
    return scale * 16 + max(200, scale // 50)


def seed(
    source: Database, scale: int, seed_value: int, progress: Callable[[str, int], None] | None = None
) -> SeedResult:
    started = time.perf_counter()
    with connections.connection(source, command="demo seed") as conn:
        rows = seed_legacy(conn, scale, seed_value, progress)
        conn.commit()
    return SeedResult(rows, time.perf_counter() - started)


def read_dispositions(target: Database) -> list[tuple]:
    """Per legacy table: rows, migrated, merged, quarantined (the dbt model `dispositions`)."""
    with connections.connection(target, command="demo") as conn:
        return conn.execute(
            "select source_table, source_rows, migrated, merged, quarantined "
            "from quarantine.dispositions order by source_table"
        ).fetchall()
