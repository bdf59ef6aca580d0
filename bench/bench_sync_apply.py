"""Sync apply rate: captured changes applied to landing per second.

Seeds the worked example at --scale, loads it (capture on), then for each of --rounds rounds
writes --changes row changes at the source in a few set-based statements (updates of order
lines and headers, new order lines, deleted payments: every column type of the example goes
through the log) and times one `sync_once` that applies them all: reading the log, copying it
to the target, folding it into landing, purging it. The best round counts, since other work on
the machine only ever makes a run slower; the CPU seconds of the run's database sessions are
shown too on a local server (a figure that other work does not inflate).
    python bench/bench_sync_apply.py --scale 20000 --changes 100000
"""

from __future__ import annotations

import os
import statistics

from bench_checksums import SessionCpu
from common import (
    Timer,
    admin_url,
    arguments,
    migration_config,
    scratch_databases,
    seed,
)

from harness import load, sync
from harness.core import connections


def write_changes(source, schema: str, changes: int, round_no: int) -> int:
    """About `changes` row changes in one transaction; the number the log holds."""
    quarter = changes // 4
    with connections.connection(source, command="bench changes") as conn:
        conn.execute(
            f'update "{schema}"."ORDER_LINE" set "QTY" = coalesce("QTY", 0) + 1, "UNIT_PRICE" = "UNIT_PRICE" * 1.01, '
            f'"LAST_UPD" = localtimestamp where ("ORDER_NO", "LINE_NO") in '
            f'(select "ORDER_NO", "LINE_NO" from "{schema}"."ORDER_LINE" order by "ORDER_NO", "LINE_NO" limit %s)',
            (2 * quarter,),
        )
        conn.execute(
            f'update "{schema}"."ORDER_HDR" set "STATUS_CD" = %s, "NOTES" = coalesce("NOTES", \'\') || \'!\', '
            '"LAST_UPD" = localtimestamp '
            f'where "ORDER_NO" in (select "ORDER_NO" from "{schema}"."ORDER_HDR" order by "ORDER_NO" desc limit %s)',
            (f"R{round_no}", quarter // 2),
        )
        conn.execute(
            f'insert into "{schema}"."ORDER_LINE" ("ORDER_NO", "LINE_NO", "SKU", "QTY", "UNIT_PRICE", "DISC_PCT", '
            '"LAST_UPD") '
            f"select o, 1000 * %s + l, 'BENCH-' || o, l, 9.99 + l / 7.0, 2.50, localtimestamp "
            f"from generate_series(1, %s) o, generate_series(1, 2) l",
            (round_no, quarter // 2),
        )
        conn.execute(
            f'delete from "{schema}"."PAYMENT" where "PAY_ID" in (select "PAY_ID" from "{schema}"."PAYMENT" '
            'order by "PAY_ID" limit %s)',
            (quarter // 2,),
        )
        (logged,) = conn.execute('select count(*) from "_migrate".changes').fetchone()
        conn.commit()
    return logged


def main() -> None:
    parser = arguments(__doc__, 20_000)
    parser.add_argument("--changes", type=int, default=100_000, help="row changes applied per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    admin = admin_url(args.url)
    with scratch_databases(admin, "source", "target") as (source, target):
        config = migration_config(source, target)
        rows = seed(source, args.scale, args.seed)
        load.load(config, source, target)
        print(f"{rows:,} legacy rows loaded; {args.rounds} rounds of {args.changes:,} changes")
        rates, cpu_rates = [], []
        databases = [source.name, target.name]
        for round_no in range(1, args.rounds + 1):
            logged = write_changes(source, config.source_schema, args.changes, round_no)
            with SessionCpu(admin, databases) as sessions, Timer() as timer:
                batch = sync.sync_once(config, source, target)
            assert batch.changes == logged, (batch.changes, logged)
            rates.append(batch.changes / timer.seconds)
            cpu = f", sessions' CPU {sessions.seconds:.2f} s" if sessions.seconds else ""
            if sessions.seconds:
                cpu_rates.append(batch.changes / sessions.seconds)
            print(
                f"round {round_no}: {batch.changes:,} changes applied in {timer.seconds:.2f} s = "
                f"{rates[-1]:,.0f} changes/s{cpu}"
            )
        print(f"load average: {os.getloadavg()[0]:.1f}")
        print(
            f"apply rate: best {max(rates):,.0f} changes/s, median {statistics.median(rates):,.0f}"
            + (f"; per CPU second of the sessions: best {max(cpu_rates):,.0f}" if cpu_rates else "")
        )


if __name__ == "__main__":
    main()
