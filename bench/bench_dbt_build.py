"""Time a full dbt build and an incremental one after 1% of the legacy rows changed.

    .venv/bin/python bench/bench_dbt_build.py [--scale 100000] [--seed 42] [--admin-url URL]
                                              [--without-unit-tests] [--keep]

Creates a scratch database on the server of --admin-url (default: MIGRATE_TEST_ADMIN_URL, else
the local PostgreSQL as postgres), generates the legacy OMS in it (harness/demo/seed.py, not
timed), fills landing as the loader would (not timed), then times:

1. `dbt build` on the empty target: every model, seed and test (the full build);
2. `dbt build` again after 1% of the rows of every landing table changed the way sync writes
   them (0.9% updated, 0.1% tombstoned, _migrate_synced_at bumped): the incremental build.

Both are wall-clock times of the whole dbt invocation (process start to exit), as the harness or
a person would see them. Prints both, dbt's own run time (from run_results.json: without process
start and parsing), the ratio, and the time of a build with nothing to do (dbt's own floor); drops
the database unless --keep. --without-unit-tests leaves the dbt unit tests (fixtures, no data) out
of every build, as production builds would. Targets: full build under 90 s at scale 100,000,
incremental under 10% of it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from harness import connections  # noqa: E402
from harness.connections import Database  # noqa: E402
from harness.demo.seed import seed_legacy  # noqa: E402
from tests.integration.test_dbt_models import change_landing, fill_landing  # noqa: E402

def timed_dbt(env: dict[str, str], target_path: Path, *args: str) -> tuple[float, float]:
    """Wall-clock seconds of one dbt invocation, and dbt's own elapsed time from run_results.json."""
    command = [
        str(Path(sys.executable).with_name("dbt")), *args,
        "--profiles-dir", str(PROJECT_DIR / "profiles"), "--project-dir", str(PROJECT_DIR),
        "--target-path", str(target_path), "--log-path", str(target_path / "logs"),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=PROJECT_DIR, env={**os.environ, **env}, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}")
    elapsed = json.loads((target_path / "run_results.json").read_text())["elapsed_time"]
    return seconds, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100_000, help="legacy customers (default 100000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("MIGRATE_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a server where a scratch database may be created",
    )
    parser.add_argument("--without-unit-tests", action="store_true", help="exclude dbt unit tests from the builds")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    options = parser.parse_args()

    name = f"bench_dbt_{uuid.uuid4().hex[:8]}"
    connections.create_database(options.admin_url, name)
    url = connections.with_database(options.admin_url, name)
    env = connections.dbt_environment(Database("target", url, "--admin-url", False))
    try:
        started = time.perf_counter()
        with psycopg.connect(url) as conn:
            rows = seed_legacy(conn, options.scale, options.seed)
            fill_landing(conn)
        print(f"scale {options.scale}: {sum(rows.values()):,} legacy rows {rows} "
              f"(generated and landed in {time.perf_counter() - started:.0f} s, not timed)")

        build = ["build", "--exclude-resource-type", "unit_test"] if options.without_unit_tests else ["build"]
        with tempfile.TemporaryDirectory() as tmp:
            target_path = Path(tmp)
            full, full_dbt = timed_dbt(env, target_path, *build)
            print(f"full build:        {full:6.1f} s  (dbt run time {full_dbt:.1f} s)  {' '.join(build)}")
            changed = change_landing(url, per_mille=10)
            print(f"changed in landing: {sum(changed.values()):,} rows {changed}")
            incremental, incremental_dbt = timed_dbt(env, target_path, *build)
            print(f"incremental build: {incremental:6.1f} s  (dbt run time {incremental_dbt:.1f} s)")
            print(f"ratio:             {incremental / full:6.1%}  (dbt run time {incremental_dbt / full_dbt:.1%})")
            idle, idle_dbt = timed_dbt(env, target_path, *build)
            print(f"nothing to do:     {idle:6.1f} s  (dbt run time {idle_dbt:.1f} s): dbt's floor for this project")
    finally:
        if options.keep:
            print(f"kept database {name}")
        else:
            connections.drop_database(options.admin_url, name)


if __name__ == "__main__":
    main()
