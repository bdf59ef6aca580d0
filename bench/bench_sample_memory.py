"""Peak memory of the sample comparison against the sample size, on one table, measured in one run.

Seeds the worked example at --scale, loads it, derives an app-like order_line table from landing
(the migrated form of ORDER_LINE: cents, trimmed SKUs) with mapping metadata like the dbt models'
YAML, then runs the sample level's comparison (harness.reconcile.samples) for each sample size under
tracemalloc. Target: peak memory grows with the sample size, not with the table.
    python bench/bench_sample_memory.py --scale 1000000 --sizes 1000,10000,100000
"""

from __future__ import annotations

import tempfile
import tracemalloc
from pathlib import Path

from common import Timer, admin_url, arguments, migration_config, scratch_databases, seed

from harness import load
from harness.core import connections
from harness.dbt import artifacts as dbt_artifacts
from harness.reconcile import samples

APP_TABLE = """
create schema bench_app;
create table bench_app.order_line as
select "ORDER_NO"::bigint as order_id, "LINE_NO" as line_no, upper(btrim("SKU")) as sku, "QTY" as quantity,
       round("UNIT_PRICE"::numeric * 100)::bigint as unit_price_cents, "DISC_PCT" as discount_pct,
       "LAST_UPD" as updated_at
from landing."ORDER_LINE" where not _migrate_deleted;
alter table bench_app.order_line add primary key (order_id, line_no);
analyze bench_app.order_line;
"""

EXPECTED = {
    "sku": 'upper(btrim("ORDER_LINE"."SKU"))',
    "quantity": '"ORDER_LINE"."QTY"',
    "unit_price_cents": 'round("ORDER_LINE"."UNIT_PRICE"::numeric * 100)::bigint',
    "discount_pct": '"ORDER_LINE"."DISC_PCT"',
    "updated_at": '"ORDER_LINE"."LAST_UPD"',
}


def artifacts() -> dbt_artifacts.Artifacts:
    node = {
        "resource_type": "model",
        "name": "order_line",
        "alias": "order_line",
        "schema": "bench_app",
        "fqn": ["bench", "app", "order_line"],
        "config": {"materialized": "table"},
        "meta": {
            "source_table": "ORDER_LINE",
            "source_join": 'order_line.order_id = "ORDER_LINE"."ORDER_NO" and order_line.line_no '
            '= "ORDER_LINE"."LINE_NO"',
        },
        "columns": {name: {"name": name, "meta": {"expected_sql": sql}} for name, sql in EXPECTED.items()},
    }
    return dbt_artifacts.Artifacts({"nodes": {"model.bench.order_line": node}}, None, None)


def main() -> None:
    parser = arguments(__doc__, 100_000)
    parser.add_argument("--sizes", default="1000,10000,100000", help="sample sizes, comma-separated")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    admin = admin_url(args.url)
    with scratch_databases(admin, "source", "target") as (source, target), tempfile.TemporaryDirectory() as scratch:
        config = migration_config(source, target)
        total = seed(source, args.scale, args.seed)
        load.load(config, source, target, jobs=2)
        with connections.connection(target, command="bench", autocommit=True) as conn:
            conn.execute(APP_TABLE)
            (rows,) = conn.execute("select count(*) from bench_app.order_line").fetchone()
        print(
            f"scale {args.scale:,}: {total:,} legacy rows; app-like order_line: {rows:,} rows, "
            f"{len(EXPECTED)} columns compared"
        )
        import datacompy  # noqa: F401  (imported before measuring: its import is not the comparison's memory)
        import pandas  # noqa: F401

        print(f"{'sample size':>12} {'rows compared':>14} {'peak memory':>12} {'per row':>10} {'seconds':>8}")
        for size in sizes:
            tracemalloc.start()
            with Timer() as timer:
                (result,), _ = samples.compare(
                    config, target, artifacts(), sample_size=size, report_dir=Path(scratch), seed=1
                )
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert result.problem is None and result.matches, result
            print(
                f"{size:>12,} {result.sampled:>14,} {peak / 1e6:>9,.1f} MB "
                f"{peak / max(result.sampled, 1) / 1e3:>7,.2f} kB {timer.seconds:>8.2f}"
            )
        print(
            f"the table has {rows:,} rows: memory follows the sample, a whole-table comparison would hold "
            f"{rows:,} rows per side"
        )


if __name__ == "__main__":
    main()
