"""Time a full dbt build and the sync build after 1% of the legacy rows changed.

    .venv/bin/python bench/bench_dbt_build.py [--scale 100000] [--seed 42] [--url URL] [--cli] [--keep]

Creates a scratch database on the server of --url (default: MIGRATE_TEST_ADMIN_URL, else the
embedded server, as the other benches), generates the legacy OMS in it (harness/demo/seed.py, not
timed), fills landing as the loader would (not timed), runs `dbt parse` (not timed), then times:

1. `dbt build` on the empty target: every model, seed and test, unit tests included (the full build);
2. the sync build, harness/sync.py SYNC_BUILD (`dbt build --selector sync`: what `migrate sync`
   and `migrate sync --follow` run after each batch), after 1% of the rows of every landing table
   changed the way sync writes them (0.9% updated, 0.1% tombstoned, _migrate_synced_at bumped);
   --rounds times (default 3), another 1% each time, compared by their median.

Each is the wall-clock time of the dbt invocation as the harness makes it: in-process through
harness/dbt/__init__.py, in a process that has dbt loaded already (as `migrate sync --follow` has after
its first build), with dbt's partial parsing warm. --cli times `dbt` commands in a new process
each instead, as a person running them by hand waits (Python start and dbt import included).
Prints them with their command lines, dbt's own run time (without parsing), the ratio, and the
sync build with nothing to do (its floor); drops the database unless --keep. Targets: full build
under 90 s at scale 100,000, the sync build under 10% of it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from common import admin_url, arguments  # noqa: E402

from harness import dbt  # noqa: E402
from harness.core import connections  # noqa: E402
from harness.core.connections import Database  # noqa: E402
from harness.demo.seed import seed_legacy  # noqa: E402
from harness.sync import SYNC_BUILD  # noqa: E402
from tests.integration.test_dbt_models import change_landing, fill_landing  # noqa: E402


def timed_dbt(target: Database, target_path: Path, args: tuple[str, ...], cli: bool) -> tuple[float, float]:
    """Wall-clock seconds of one dbt invocation, and dbt's own elapsed time (without parsing)."""
    paths = ["--target-path", str(target_path), "--log-path", str(target_path / "logs")]
    started = time.perf_counter()
    if not cli:
        outcome = dbt.invoke(PROJECT_DIR, target, [*args, *paths], quiet=True)
        return time.perf_counter() - started, getattr(outcome.results, "elapsed_time", 0.0)
    command = [
        str(Path(sys.executable).with_name("dbt")),
        *args,
        *paths,
        "--profiles-dir",
        str(PROJECT_DIR / "profiles"),
        "--project-dir",
        str(PROJECT_DIR),
    ]
    done = subprocess.run(
        command,
        cwd=PROJECT_DIR,
        env={**os.environ, **connections.dbt_environment(target)},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}")
    finished = re.search(r"Finished running .*\((\d+\.\d+)s\)", done.stdout)
    return seconds, float(finished.group(1)) if finished else 0.0


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], 100_000)
    parser.add_argument("--rounds", type=int, default=3, help="sync builds, each after another 1%% changed (default 3)")
    parser.add_argument("--cli", action="store_true", help="time `dbt` commands in a new process each")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    options = parser.parse_args()

    admin = admin_url(options.url)
    name = f"bench_dbt_{uuid.uuid4().hex[:8]}"
    connections.create_database(admin, name)
    url = connections.with_database(admin, name)
    target = Database("target", url, "--url", False)
    how = "a new process each" if options.cli else "in-process, as the harness runs them"
    try:
        started = time.perf_counter()
        with psycopg.connect(url) as conn:
            rows = seed_legacy(conn, options.scale, options.seed)
            fill_landing(conn)
        print(
            f"scale {options.scale}: {sum(rows.values()):,} legacy rows {rows} "
            f"(generated and landed in {time.perf_counter() - started:.0f} s, not timed)",
            flush=True,
        )

        with tempfile.TemporaryDirectory() as tmp:
            target_path = Path(tmp)
            timed_dbt(target, target_path, ("parse",), options.cli)
            print(f"dbt invocations timed {how}", flush=True)
            full, full_dbt = timed_dbt(target, target_path, ("build",), options.cli)
            print(f"full build:        {full:6.1f} s  (dbt run time {full_dbt:.1f} s)  dbt build", flush=True)
            rounds = []
            for round_no in range(max(1, options.rounds)):
                changed = change_landing(url, per_mille=10, salt=10 * round_no)  # other rows each round
                rounds.append(timed_dbt(target, target_path, SYNC_BUILD, options.cli))
                print(
                    f"incremental build: {rounds[-1][0]:6.1f} s  (dbt run time {rounds[-1][1]:.1f} s)  "
                    f"dbt {' '.join(SYNC_BUILD)}  after {sum(changed.values()):,} rows changed {changed}",
                    flush=True,
                )
            incremental, incremental_dbt = sorted(rounds)[len(rounds) // 2]
            print(
                f"ratio:             {incremental / full:6.1%}  (dbt run time "
                f"{incremental_dbt / full_dbt:.1%}), median round"
            )
            idle, idle_dbt = timed_dbt(target, target_path, SYNC_BUILD, options.cli)
            print(f"nothing to do:     {idle:6.1f} s  (dbt run time {idle_dbt:.1f} s): the sync build's floor")
    finally:
        if options.keep:
            print(f"kept database {name}")
        else:
            connections.drop_database(admin, name)


if __name__ == "__main__":
    main()
