"""`migrate assess` on the worked example: how long the whole assessment takes (target: under 60 s).

Seeds the legacy OMS at the given scale (100,000 customers ≈ 1.6M rows) into a scratch database,
then runs the real command, as a user would, with a copy of migration.yml in a scratch project
folder (so no dbt artifacts of this checkout change the work), and prints the wall-clock time.
With --then-load it then runs `migrate load --no-build` (load's defaults, as the estimate assumes),
prints the estimated initial load beside the measured one, and assesses once more to show the
report's "estimate against the real load".
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
    parser.add_argument(
        "--then-load", action="store_true", help="run `migrate load` afterwards and compare it with the estimate"
    )
    args = parser.parse_args()
    admin = admin_url(args.url)
    with scratch_databases(admin, "source", "target") as (source, target), tempfile.TemporaryDirectory() as folder:
        with Timer() as seeding:
            rows = seed(source, args.scale, args.seed)
        print(f"seeded {rows:,} legacy rows (scale {args.scale:,}) in {seeding.seconds:.1f} s")
        project = Path(folder)
        shutil.copy(PROJECT_DIR / "migration.yml", project / "migration.yml")
        env = {
            **os.environ,
            "MIGRATE_SOURCE_URL": source.url,
            "MIGRATE_TARGET_URL": target.url,
            "MIGRATE_PROJECT_DIR": str(project),
        }
        with Timer() as timer:
            done = subprocess.run(
                [sys.executable, "-m", "harness.cli", "assess"],
                cwd=PROJECT_DIR,
                env=env,
                capture_output=True,
                text=True,
                timeout=1800,
            )
        if done.returncode not in (0, 1):
            sys.exit(f"migrate assess failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
        report = json.loads((project / "reports" / "assessment" / "latest" / "assessment.json").read_text())
        sampled = {t["name"]: t["sample"]["rows"] for t in report["tables"] if t["exists"]}
        print(f"profiled rows per table: {', '.join(f'{name} {n:,}' for name, n in sampled.items())}")
        print(f"verdict: {report['verdict']['headline']} (exit {done.returncode})")
        verdict = "within" if timer.seconds < TARGET_SECONDS else "OVER"
        print(f"migrate assess on {rows:,} rows: {timer.seconds:.1f} s ({verdict} the {TARGET_SECONDS} s target)")
        if args.then_load:
            then_load(report, env)


def then_load(report: dict, env: dict) -> None:
    estimate = report["estimates"]["initial_load"]
    print(f"estimate: {estimate['how']}")
    for t in report["tables"]:
        timing = t["timing"]
        print(
            f"  {t['name']}: {t['rows']:,} rows in {timing['ranges']} range(s); timed {timing['copy_rows']:,} rows: "
            f"copy {timing['copy_seconds']:.2f} s, key {timing['key_seconds']:.2f} s, "
            f"ANALYZE {timing['analyze_seconds']:.2f} s"
        )
    with Timer() as loading:
        subprocess.run(
            [sys.executable, "-m", "harness.cli", "load", "--no-build"],
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=True,
        )
    error = (estimate["seconds"] - loading.seconds) / loading.seconds
    print(
        f"initial load: estimated {estimate['seconds']:.1f} s, measured {loading.seconds:.1f} s (`migrate load`), "
        f"error {error:+.0%} (target within ±30%)"
    )
    again = subprocess.run(
        [sys.executable, "-m", "harness.cli", "assess"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if again.returncode not in (0, 1):
        sys.exit(f"migrate assess after the load failed (exit {again.returncode}):\n{again.stdout}\n{again.stderr}")
    measured = json.loads(
        (Path(env["MIGRATE_PROJECT_DIR"]) / "reports" / "assessment" / "latest" / "assessment.json").read_text()
    )["measured"]
    print(
        f"report after the load: estimated {measured['estimate']['seconds']:.1f} s beside load_runs' "
        f"{measured['load_run']['seconds']:.1f} s (error {measured['error']:+.0%}; load_runs starts timing after the "
        "CLI's start-up, provision and capture install)"
    )


if __name__ == "__main__":
    main()
