"""How cost grows with rows: load, checksum reconcile, sync build and assess at several scales, each
as rows per second beside its peer or floor measured in the same run, written to a JSON file for a
chart (docs/benchmarks.md, "How cost grows").

    python bench/bench_scales.py --scales 10000,100000,1000000 --out docs/bench-scales.json

At each scale (legacy customers; rows ≈ 16 × scale), in scratch databases dropped afterwards:

- load: `migrate load --no-build` (load.load: capture, snapshot, masks, ranges, keys, statistics)
  against the bare `psql COPY | psql COPY` pipe of the same tables (bench_load.py's floor);
- checksum reconcile, clean: the segment checksums of every table (checksums.compare) against one
  plain pass of the same row hash over both sides (checksums.whole_table_hashes), rows of both sides;
- sync build: after 1% of every landing table changed as sync writes it, `dbt build --selector sync`
  (sync.build) against the same build with nothing to do (dbt's fixed cost, its floor), in rows changed;
- assess: `migrate assess` as a user runs it (a process), in legacy rows; no peer (the ratio is to
  the load's time, the work it estimates).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench_load import bare_pipe
from common import PROJECT_DIR, Timer, admin_url, arguments, migration_config, scratch_databases, seed

from harness import load, sync
from harness.core import connections
from harness.reconcile import checksums
from tests.integration.test_dbt_models import change_landing


def vacuum_analyze(database) -> None:
    with connections.connection(database, command="bench", autocommit=True) as conn:
        conn.execute("vacuum (analyze)")


def assess_seconds(source, target) -> float:
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(PROJECT_DIR / "migration.yml", Path(folder) / "migration.yml")
        env = {**os.environ, "MIGRATE_SOURCE_URL": source.url, "MIGRATE_TARGET_URL": target.url}
        env["MIGRATE_PROJECT_DIR"] = folder
        with Timer() as timer:
            done = subprocess.run(
                [sys.executable, "-m", "harness.cli", "assess"],
                cwd=PROJECT_DIR,
                env=env,
                capture_output=True,
                text=True,
            )
        if done.returncode not in (0, 1):
            raise SystemExit(f"migrate assess failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return timer.seconds


def figure(work: str, rows: int, seconds: float, peer: str, peer_seconds: float | None) -> dict:
    return {
        "work": work,
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds),
        "peer": peer,
        "peer_seconds": None if peer_seconds is None else round(peer_seconds, 3),
        "ratio": None if peer_seconds is None else round(seconds / peer_seconds, 3),  # our time / the peer's
    }


def one_scale(admin: str, scale: int, seed_value: int) -> list[dict]:
    figures = []
    with scratch_databases(admin, "source", "target", "pipe") as (source, target, pipe):
        total = seed(source, scale, seed_value)
        vacuum_analyze(source)
        config = migration_config(source, target)
        tables = [t.name for t in config.tables]
        with Timer() as floor:
            assert bare_pipe(source, pipe, config.source_schema, tables) == total
        with Timer() as ours:
            assert load.load(config, source, target).rows == total
        figures.append(figure("load", total, ours.seconds, "bare COPY pipe", floor.seconds))

        with Timer() as floor:
            checksums.whole_table_hashes(config, source, target)
        with Timer() as ours:
            compared = checksums.compare(config, source, target)
        assert all(c.matches for c in compared), [c.table for c in compared if not c.matches]
        figures.append(figure("checksum reconcile (clean)", 2 * total, ours.seconds, "one hashing pass", floor.seconds))

        sync.build(config, target, ("build", "--full-refresh"))
        sync.build(config, target)  # a first incremental build: dbt's partial parsing warm, as in a sync
        with Timer() as floor:
            sync.build(config, target)
        changed = sum(change_landing(target.url, per_mille=10, salt=scale % 997).values())
        with Timer() as ours:
            sync.build(config, target)
        figures.append(
            figure("sync build (1% changed)", changed, ours.seconds, "sync build, nothing to do", floor.seconds)
        )

        figures.append(figure("assess", total, assess_seconds(source, target), "initial load", None))
    for f in figures:
        f["scale"] = scale
        print(
            f"scale {scale:>9,}  {f['work']:<28} {f['rows']:>11,} rows {f['seconds']:8.2f} s "
            f"{f['rows_per_second']:>11,} rows/s"
            + (f"  {f['ratio']:.2f} × {f['peer']}" if f["ratio"] is not None else "")
        )
    return figures


def main() -> None:
    parser = arguments(__doc__, 0)
    parser.add_argument("--scales", default="10000,100000,1000000", help="comma-separated scales")
    parser.add_argument("--out", default=str(PROJECT_DIR / "docs" / "bench-scales.json"), help="the JSON written")
    args = parser.parse_args()
    admin = admin_url(args.url)
    results = []
    for scale in (int(s) for s in args.scales.split(",")):
        results.extend(one_scale(admin, scale, args.seed))
    with connections.connection(connections.Database("admin", admin, "bench", False), command="bench") as conn:
        server = conn.execute("show server_version").fetchone()[0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "commit": commit.stdout.strip(),
                "server": server,
                "load_average": os.getloadavg(),
                "figures": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written {args.out} (load average {os.getloadavg()[0]:.1f} at the end; {time.strftime('%H:%M')})")


if __name__ == "__main__":
    main()
