"""The full dbt build of a project `migrate init` generated, against the worked example's, on the same rows.

    .venv/bin/python bench/bench_init_build.py [--scale 100000] [--seed 42] [--url URL] [--rounds 1]

The worked example's legacy OMS (harness/demo/seed.py, rows ≈ 16 × scale) is generated in a scratch
source database, not timed. Then, each into its own scratch target, not timed either: the worked
example (this checkout's project) provisioned and loaded (`migrate load --no-build`), and a project
that `migrate init` scaffolds from the same legacy schema, provisioned and loaded the same way. Both
are parsed (not timed), then each `dbt build` on its empty `app` is timed in-process through
harness/dbt (as bench/bench_dbt_build.py times the harness's builds), taking turns at going first
over --rounds rounds, `app` dropped before each so that every build is a full one. Prints each
build, its node count and the ratio generated / worked example (of the medians).
Target (issue "Your own database"): the generated project's build within 1.5× the worked example's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PROJECT_DIR, admin_url, arguments, scratch_databases, seed

from harness import dbt
from harness.core import connections
from harness.core.connections import Database

URL_VARIABLES = ("MIGRATE_PROJECT_DIR", "MIGRATE_SOURCE_URL", "MIGRATE_TARGET_URL", "MIGRATE_ROUTING_FILE")


def migrate(folder: Path, *args: str, env: dict[str, str] | None = None) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in URL_VARIABLES}
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=folder,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(
            f"migrate {' '.join(args)} failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )


def drop_app(target: Database) -> None:
    with connections.connection(target, command="bench", autocommit=True) as conn:
        conn.execute('drop schema if exists "app" cascade')


def timed_build(project: Path, target: Database, target_path: Path) -> tuple[float, int]:
    paths = ["--target-path", str(target_path), "--log-path", str(target_path / "logs")]
    started = time.perf_counter()
    outcome = dbt.invoke(project, target, ["build", *paths], quiet=True)
    seconds = time.perf_counter() - started
    if outcome.failed:
        sys.exit(f"dbt build failed in {project}: {', '.join(outcome.failed)[:500]}")
    return seconds, outcome.succeeded


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], 100_000)
    parser.add_argument("--rounds", type=int, default=1, help="builds of each, taking turns at going first")
    options = parser.parse_args()
    admin = admin_url(options.url)
    with scratch_databases(admin, "source", "worked", "generated") as (source, worked, generated):
        started = time.perf_counter()
        rows = seed(source, options.scale, options.seed)
        print(f"scale {options.scale}: {rows:,} legacy rows (generated in {time.perf_counter() - started:.0f} s)")
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "generated"
            started = time.perf_counter()
            init = ("init", str(folder), "--source-url", source.url, "--target-url", generated.url, "--schema", "oms")
            migrate(Path(tmp), *init)
            print(f"migrate init --schema oms: {time.perf_counter() - started:.1f} s")
            urls = {"MIGRATE_SOURCE_URL": source.url, "MIGRATE_TARGET_URL": worked.url}
            for project, env in ((PROJECT_DIR, urls), (folder, None)):
                migrate(project, "provision", env=env)
                migrate(project, "load", "--no-build", env=env)
            projects = {"worked example": (PROJECT_DIR, worked), "generated": (folder, generated)}
            for name, (project, target) in projects.items():
                dbt.invoke(project, target, ["parse", "--target-path", str(Path(tmp) / name)], quiet=True)
            times: dict[str, list[float]] = {name: [] for name in projects}
            for round_no in range(options.rounds):
                order = list(projects) if round_no % 2 == 0 else list(reversed(projects))
                for name in order:
                    project, target = projects[name]
                    drop_app(target)
                    seconds, nodes = timed_build(project, target, Path(tmp) / name)
                    times[name].append(seconds)
                    print(f"round {round_no + 1}  {name:15s} dbt build: {seconds:6.1f} s  ({nodes} nodes)", flush=True)
    median = {name: sorted(values)[len(values) // 2] for name, values in times.items()}
    ratio = median["generated"] / median["worked example"]
    print(
        f"median: generated {median['generated']:.1f} s, worked example {median['worked example']:.1f} s; "
        f"ratio {ratio:.2f} (target ≤ 1.5: {'met' if ratio <= 1.5 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
