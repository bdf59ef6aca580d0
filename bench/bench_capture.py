"""Change capture: its cost to the legacy application's writes, and the lag it keeps under load.

1. Write cost: the same single-row updates and inserts timed without and with the capture
   triggers (target: at most 2×).
2. Lag: the legacy traffic at about 1,000 row writes per second while `sync --follow` runs;
   the landing lag is sampled every second (target: under 2 s) and the lag of `app` reported.
    python bench/bench_capture.py --scale 100000 --duration 30
"""

from __future__ import annotations

import statistics
import threading
import time

from common import Timer, admin_url, arguments, migration_config, scratch_databases, seed

from harness import load, sync
from harness.core import connections
from harness.demo.traffic import run_traffic
from harness.engines.postgres import capture
from harness.target import landing

WRITES = 3_000


def write_workload(db, schema: str, line_base: int) -> float:
    """Seconds for WRITES autocommitted single-row writes, like an OLTP application's."""
    with connections.connection(db, command="bench writes", autocommit=True) as conn:
        (top,) = conn.execute(f'select max("ORDER_NO") from "{schema}"."ORDER_HDR"').fetchone()
        with Timer() as timer:
            for i in range(WRITES // 2):
                conn.execute(
                    f'update "{schema}"."ORDER_HDR" '
                    'set "STATUS_CD" = %s, "LAST_UPD" = localtimestamp where "ORDER_NO" = %s',
                    ("OPEN", top - i),
                )
                conn.execute(
                    f'insert into "{schema}"."ORDER_LINE" ("ORDER_NO", "LINE_NO", "SKU", "QTY", "UNIT_PRICE") '
                    "values (%s, %s, %s, 1, 9.99)",
                    (top - i, line_base + i, "BENCH"),
                )
    return timer.seconds


def main() -> None:
    parser = arguments(__doc__, 100_000)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=430.0, help="transactions/s (≈ 2.3 row writes each)")
    parser.add_argument("--build-every", type=float, default=10.0)
    args = parser.parse_args()
    admin = admin_url(args.url)
    with scratch_databases(admin, "source", "target") as (source, target):
        config = migration_config(source, target)
        seed(source, args.scale, args.seed)

        plain = write_workload(source, config.source_schema, 100_000)
        with connections.connection(source, command="bench", autocommit=True) as conn:
            tables = [landing.describe(conn, config, t) for t in config.tables]
            capture.install(conn, config.source_schema, tables)
        captured = write_workload(source, config.source_schema, 200_000)
        print(
            f"{WRITES:,} single-row writes: {plain:.2f} s without capture, {captured:.2f} s with it: "
            f"×{captured / plain:.2f} (target ≤ 2)"
        )

        load.load(config, source, target)
        sync.build(config, target, ("build", "--full-refresh"))
        stop = threading.Event()
        samples: list[tuple[float, float | None]] = []

        def follow() -> None:
            sync.follow(config, source, target, interval=0.2, build_every=args.build_every, until=stop.is_set)

        def sample() -> None:
            while not stop.is_set():
                lag = sync.lag(config, source, target)
                samples.append((lag.seconds_behind, lag.app_seconds_behind))
                time.sleep(1.0)

        threads = [threading.Thread(target=follow), threading.Thread(target=sample)]
        for thread in threads:
            thread.start()
        report = run_traffic(
            source,
            config.source_schema,
            config.project_dir / ".migrate" / "bench-ledger.jsonl",
            rate=args.rate,
            duration=args.duration,
            workers=8,
            slow_share=0.0,
        )
        stop.set()
        for thread in threads:
            thread.join()
        landing_lags = [s[0] for s in samples]
        app_lags = [s[1] for s in samples if s[1] is not None]
        print(
            f"traffic: {report.writes / report.seconds:,.0f} row writes/s ({report.transactions / report.seconds:,.0f} "
            f"transactions/s) for {report.seconds:.0f} s"
        )
        print(
            f"landing lag: max {max(landing_lags):.2f} s, median "
            f"{statistics.median(landing_lags):.2f} s (target: under 2 s)"
        )
        print(
            f"app lag (dbt run every {args.build_every:g} s): max {max(app_lags):.1f} s, "
            f"median {statistics.median(app_lags):.1f} s"
        )


if __name__ == "__main__":
    main()
