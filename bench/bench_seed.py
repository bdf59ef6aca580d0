"""How fast the legacy OMS generator fills a database.

    python bench/bench_seed.py [--scale 100000] [--seed 42] [--url URL]

Creates a scratch database on the server of URL (by default the local PostgreSQL), seeds it,
prints the rows of each table, the seconds and the rows per second, and drops the database.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from harness.core import connections  # noqa: E402
from harness.core.connections import Database  # noqa: E402
from harness.demo.seed import seed_legacy  # noqa: E402


def server_url(url: str | None) -> str:
    """The server to measure on: the one of --url, else the embedded PostgreSQL, as `make demo` uses."""
    from harness.core import embedded

    return url or embedded.start(Path(__file__).resolve().parents[1])


def backend_cpu_seconds(pid: int) -> float | None:
    """CPU time of a server process on this machine, or None when it runs elsewhere.

    On a shared machine the wall time depends on the neighbours; the CPU time much less.
    """
    proc = Path(f"/proc/{pid}")
    try:
        if "postgres" not in (proc / "comm").read_text():
            return None
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


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
            cpu_before = backend_cpu_seconds(conn.info.backend_pid)
            started = time.perf_counter()
            rows = seed_legacy(conn, args.scale, args.seed)
            conn.commit()
            seconds = time.perf_counter() - started
            cpu_after = backend_cpu_seconds(conn.info.backend_pid)
    finally:
        connections.drop_database(admin, name)

    total = sum(rows.values())
    for table, count in rows.items():
        print(f"{table:<12} {count:>12,}")
    print(
        f"{'total':<12} {total:>12,} rows in {seconds:.2f} s = {total / seconds:,.0f} rows/s (scale "
        f"{args.scale:,}, seed {args.seed})"
    )
    if cpu_before is not None and cpu_after is not None:
        cpu = cpu_after - cpu_before
        print(
            f"{'':<12} server backend CPU {cpu:.2f} s = {total / cpu:,.0f} rows per CPU second (index "
            "build workers not counted)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
