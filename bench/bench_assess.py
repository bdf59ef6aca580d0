"""`migrate assess` on the worked example: how long the whole assessment takes (target: under 60 s).

Seeds the legacy OMS at the given scale (100,000 customers ≈ 1.6M rows) into a scratch database,
then runs the real command, as a user would, with a copy of migration.yml in a scratch project
folder (so no dbt artifacts of this checkout change the work), and prints the wall-clock time.
    python bench/bench_assess.py --scale 100000
    python bench/bench_assess.py --scale 1000000 --then-load   # the load estimate against a real load
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import PROJECT_DIR, Timer, admin_url, arguments, scratch_databases, seed

TARGET_SECONDS = 60


def main() -> None:
    parser = arguments(__doc__, 100_000)
    parser.add_argument("--then-load", action="store_true", help="run `migrate load` afterwards and compare it with the estimate")
    args = parser.parse_args()
    admin = admin_url(args.url)
    with scratch_databases(admin, "source", "target") as (source, target), tempfile.TemporaryDirectory() as folder:
        with Timer() as seeding:
            rows = seed(source, args.scale, args.seed)
        print(f"seeded {rows:,} legacy rows (scale {args.scale:,}) in {seeding.seconds:.1f} s")
        project = Path(folder)
        shutil.copy(PROJECT_DIR / "migration.yml", project / "migration.yml")
        env = {**os.environ, "MIGRATE_SOURCE_URL": source.url, "MIGRATE_TARGET_URL": target.url, "MIGRATE_PROJECT_DIR": str(project)}
        with Timer() as timer:
            done = subprocess.run([sys.executable, "-m", "harness.cli", "assess"], cwd=PROJECT_DIR, env=env,
                                  capture_output=True, text=True, timeout=1800)
        if done.returncode not in (0, 1):
            sys.exit(f"migrate assess failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
        report = json.loads((project / "reports" / "assessment.json").read_text())
        sampled = {t["name"]: t["sample"]["rows"] for t in report["tables"] if t["exists"]}
        print(f"profiled rows per table: {', '.join(f'{name} {n:,}' for name, n in sampled.items())}")
        print(f"verdict: {report['verdict']['headline']} (exit {done.returncode})")
        verdict = "within" if timer.seconds < TARGET_SECONDS else "OVER"
        print(f"migrate assess on {rows:,} rows: {timer.seconds:.1f} s ({verdict} the {TARGET_SECONDS} s target)")
        if args.then_load:
            estimated = report["estimates"]["initial_load"]["seconds"]
            with Timer() as loading:
                subprocess.run([sys.executable, "-m", "harness.cli", "load", "--no-build"], cwd=PROJECT_DIR, env=env,
                               capture_output=True, text=True, timeout=3600, check=True)
            error = (estimated - loading.seconds) / loading.seconds
            print(f"initial load: estimated {estimated:.1f} s, measured {loading.seconds:.1f} s (`migrate load`), error {error:+.0%} (target within ±30%)")


if __name__ == "__main__":
    main()
