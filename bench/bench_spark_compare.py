"""A full-table comparison (`reconcile --level sample --full TABLE`) on Spark local[2] against pandas:
time and peak memory of the process that drives it, at each size.

Builds, in a scratch target, a landing table of N ledger rows and its app table (cents, trimmed
currency codes) with 10 differences seeded, then runs the sample level's comparison of the whole table
(harness.reconcile.samples.compare with full=) once per backend and size, each in a child process of
its own so that its peak memory is its own: pandas' peak RSS of the Python process; Spark's peak RSS
of the Python driver plus that of the JVM it starts (in local mode the executors run in that JVM,
bounded by --driver-memory). Needs a PostgreSQL over TCP (--url or MIGRATE_TEST_ADMIN_URL) for Spark.
    python bench/bench_spark_compare.py --url postgresql://postgres@127.0.0.1:5432/postgres \\
        --sizes 1000000,3000000 --backends pandas,spark
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from common import Timer, admin_url, scratch_databases

from harness.core import connections
from harness.core.config import load_config
from harness.dbt import artifacts as dbt_artifacts
from harness.reconcile import samples

TABLES = """
create schema if not exists landing;
create table landing."LEDGER" as
select i::bigint as "ENTRY_NO", round((i % 100000) * 1.37, 2)::numeric(12, 2) as "AMOUNT",
       (array['EUR ', 'USD', ' GBP'])[1 + i % 3]::text as "CURRENCY",
       timestamp '2020-01-01' + i * interval '1 second' as "BOOKED_AT", 'entry ' || i as "MEMO",
       false as _migrate_deleted
from generate_series(1, {rows}) i;
alter table landing."LEDGER" add primary key ("ENTRY_NO");
create schema bench_app;
create table bench_app.ledger as
select "ENTRY_NO" as entry_id, ("AMOUNT" * 100)::bigint as amount_cents, btrim("CURRENCY") as currency,
       "BOOKED_AT" as booked_at, "MEMO" as memo
from landing."LEDGER";
alter table bench_app.ledger add primary key (entry_id);
update bench_app.ledger set amount_cents = amount_cents + 1 where entry_id % ({rows} / 10) = 7;
analyze landing."LEDGER";
analyze bench_app.ledger;
"""

MIGRATION = """
source: {schema: legacy, database: unused}
target: {database: unused}
tables: {LEDGER: {key: [ENTRY_NO]}}
reconcile:
  sample_size: 1000
"""

EXPECTED = {
    "amount_cents": '("LEDGER"."AMOUNT" * 100)::bigint',
    "currency": 'btrim("LEDGER"."CURRENCY")',
    "booked_at": '"LEDGER"."BOOKED_AT"',
    "memo": '"LEDGER"."MEMO"',
}


def artifacts() -> dbt_artifacts.Artifacts:
    node = {
        "resource_type": "model",
        "name": "ledger",
        "alias": "ledger",
        "schema": "bench_app",
        "fqn": ["bench", "app", "ledger"],
        "config": {"materialized": "table"},
        "meta": {"source_table": "LEDGER", "source_join": 'ledger.entry_id = "LEDGER"."ENTRY_NO"'},
        "columns": {name: {"name": name, "meta": {"expected_sql": sql}} for name, sql in EXPECTED.items()},
    }
    return dbt_artifacts.Artifacts({"nodes": {"model.bench.ledger": node}}, None, None)


def jvm_peak_kb() -> int:
    """Peak RSS (VmHWM) of the JVMs this process started (Spark's gateway), in kB."""
    peak = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if b"java" in cmdline.split(b"\0")[0] and _descends_from(int(pid), os.getpid()):
            peak += int(fields.get("VmHWM", "0 kB").split()[0])
    return peak


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return False
    return False


def measure(backend: str, target_url: str, driver_memory: str) -> dict:
    """One comparison in this (child) process: the figures as a dict."""
    from harness.core.connections import Database

    target = Database("target", target_url, "--url", False)
    spark = f"  spark: {{master: 'local[2]', driver_memory: {driver_memory}}}\n" if backend == "spark" else ""
    os.environ["MIGRATE_SOURCE_URL"] = os.environ["MIGRATE_TARGET_URL"] = target_url
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "migration.yml").write_text(MIGRATION + spark)
        config = load_config(Path(scratch))
        import datacompy  # noqa: F401  (imported before measuring)
        import pandas  # noqa: F401

        with Timer() as timer:
            (result,), _ = samples.compare(
                config, target, artifacts(), sample_size=1000, report_dir=Path(scratch), seed=1, full=["ledger"]
            )
    assert result.problem is None, result.problem
    python_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "rows": result.sampled,
        "mismatched": result.mismatched,
        "seconds": timer.seconds,
        "python_mb": python_kb / 1024,
        "jvm_mb": jvm_peak_kb() / 1024,
    }


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="admin URL of a PostgreSQL over TCP (default: MIGRATE_TEST_ADMIN_URL)")
    parser.add_argument("--sizes", default="1000000", help="table sizes in rows, comma-separated")
    parser.add_argument("--backends", default="pandas,spark")
    parser.add_argument("--driver-memory", default="1g", help="reconcile.spark.driver_memory")
    parser.add_argument("--child", nargs=2, metavar=("BACKEND", "TARGET_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], args.driver_memory)))
        return
    admin = admin_url(args.url)
    print(
        f"{'rows':>12} {'backend':>8} {'seconds':>8} {'rows/s':>10} {'python peak':>12} "
        f"{'JVM peak':>10} {'differences'}"
    )
    for rows in [int(s) for s in args.sizes.split(",")]:
        with scratch_databases(admin, "target") as (target,):
            with connections.connection(target, command="bench", autocommit=True) as conn:
                conn.execute(TABLES.format(rows=rows))
            for backend in args.backends.split(","):
                done = subprocess.run(
                    [sys.executable, __file__, "--child", backend, target.url, "--driver-memory", args.driver_memory],
                    capture_output=True,
                    text=True,
                )
                if done.returncode != 0:
                    print(f"{rows:>12,} {backend:>8} failed: {done.stderr.strip().splitlines()[-1:]}")
                    continue
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                jvm = f"{figures['jvm_mb']:>7,.0f} MB" if backend == "spark" else f"{'-':>10}"
                print(
                    f"{figures['rows']:>12,} {backend:>8} {figures['seconds']:>8.1f} "
                    f"{figures['rows'] / figures['seconds']:>10,.0f} {figures['python_mb']:>9,.0f} MB {jvm} "
                    f"{sum(figures['mismatched'].values())}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
