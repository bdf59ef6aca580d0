"""What the benchmarks share: a scratch server, scratch databases, a loaded worked example."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from harness.core import connections, embedded  # noqa: E402
from harness.core.config import load_config  # noqa: E402
from harness.core.connections import Database  # noqa: E402


def arguments(description: str, default_scale: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--scale", type=int, default=default_scale, help="legacy customers (rows ≈ 16 × scale)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--url", help="admin URL of the server to use (default: the embedded one)")
    return parser


def admin_url(url: str | None) -> str:
    return url or os.environ.get("MIGRATE_TEST_ADMIN_URL") or embedded.start(PROJECT_DIR)


@contextlib.contextmanager
def scratch_databases(admin: str, *sides: str) -> Iterator[list[Database]]:
    """Fresh databases, dropped afterwards, as harness Database objects."""
    names = [f"bench_{side}_{uuid.uuid4().hex[:8]}" for side in sides]
    for name in names:
        connections.create_database(admin, name)
    try:
        yield [
            Database(side, connections.with_database(admin, name), "bench", False) for side, name in zip(sides, names)
        ]
    finally:
        for name in names:
            connections.drop_database(admin, name)


def migration_config(source: Database, target: Database):
    os.environ["MIGRATE_SOURCE_URL"] = source.url
    os.environ["MIGRATE_TARGET_URL"] = target.url
    return load_config(PROJECT_DIR)


def seed(source: Database, scale: int, seed_value: int) -> int:
    from harness.demo.seed import seed_legacy

    with connections.connection(source, command="bench seed") as conn:
        rows = seed_legacy(conn, scale, seed_value)
        conn.commit()
    return sum(rows.values())


class Timer:
    def __enter__(self):
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.started
