"""How fast the legacy OMS generator fills a database.

    python bench/bench_seed.py [--scale 100000] [--seed 42] [--url URL]

Creates a scratch database on the server of URL (by default the local PostgreSQL), seeds it,
prints the rows of each table, the seconds and the rows per second, and drops the database.
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from harness import connections  # noqa: E402
from harness.connections import Database  # noqa: E402
from harness.demo.seed import seed_legacy  # noqa: E402

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url(url: str | None) -> str:
    """The server to measure on: the one of --url, else the local PostgreSQL."""
    return url or LOCAL_SERVER


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100_000, help="customers (default 100000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--url", help="a database URL on the server to use; a scratch database is created beside it")
    args = parser.parse_args()

    admin = server_url(args.url)
    name = f"bench_seed_{uuid.uuid4().hex[:10]}"
    connections.create_database(admin, name)
    try:
        scratch = Database("source", connections.with_database(admin, name), "--url", False)
        with connections.connection(scratch, command="bench seed") as conn:
            started = time.perf_counter()
            rows = seed_legacy(conn, args.scale, args.seed)
            conn.commit()
            seconds = time.perf_counter() - started
    finally:
        connections.drop_database(admin, name)

    total = sum(rows.values())
    for table, count in rows.items():
        print(f"{table:<12} {count:>12,}")
    print(f"{'total':<12} {total:>12,} rows in {seconds:.2f} s = {total / seconds:,.0f} rows/s (scale {args.scale:,}, seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
