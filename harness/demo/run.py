"""The demo migration's own steps: seed the legacy source and read back the dispositions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.core import connections
from harness.core.connections import Database
from harness.demo.seed import seed_legacy


@dataclass
class SeedResult:
    rows: dict[str, int]
    seconds: float
    defects: dict[str, int] = field(default_factory=dict)  # a MySQL source's own defects planted (seed_mysql.py)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def expected_rows(scale: int) -> int:
    """About how many rows `seed` writes at this scale (for a progress bar)."""
    return scale * 16 + max(200, scale // 50)


def seed(
    source: Database,
    scale: int,
    seed_value: int,
    progress: Callable[[str, int], None] | None = None,
    *,
    scratch_admin_url: str | None = None,
) -> SeedResult:
    """The legacy OMS in `source`: schema "oms" of a PostgreSQL database, or a MySQL-family database of
    its own, computed in a scratch database on the PostgreSQL server of `scratch_admin_url` first."""
    started = time.perf_counter()
    if source.engine == "mysql":
        from harness.demo.seed_mysql import seed_mysql_legacy

        rows, defects = seed_mysql_legacy(source, scratch_admin_url, scale, seed_value, progress)
        return SeedResult(rows, time.perf_counter() - started, defects)
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
