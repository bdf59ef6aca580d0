"""Initial load throughput against a bare `COPY TO STDOUT | COPY FROM STDIN` pipe of the same tables.

Both copy the same legacy tables from one scratch source database into a fresh scratch target on
the same server, measured in one run. What each side does:

- bare pipe: per table, one after the other, `psql -c "copy oms.T to stdout (format binary)"` piped
  into `psql -c "copy bare.T from stdin (format binary)"`, into a table with the same columns and no
  key, then a count of its rows; the floor any loader pays.
- migrate load: change capture installed on the source, one exported snapshot, `--jobs` workers
  copying key ranges (masked columns masked in the source's SELECT, binary COPY through psql, each
  range marked done in its copying transaction), then per table our two columns, the primary key
  and ANALYZE: landing as `migrate load` leaves it.

The source is vacuumed and analysed after seeding, as a table at rest in production would be, so
that neither side pays for the generator's aftermath (hint bits, autovacuum). Target: `migrate
load` ≥ 80% of the pipe's throughput. On a shared machine both sides vary from run to run:
`--rounds N` runs them N times, each into a fresh target, taking turns at going first, and also
compares the best time of each.
    python bench/bench_load.py --scale 1000000 [--rounds 3]
"""

from __future__ import annotations

import statistics
import subprocess

from common import Timer, admin_url, arguments, migration_config, scratch_databases, seed

from harness import load
from harness.core import connections, embedded
from harness.core.processes import libpq_env


def bare_pipe(source, target, schema: str, tables: list[str]) -> int:
    """psql | psql per table, one after the other, into keyless copies: the floor any loader pays."""
    psql = str(embedded.bin_dir() / "psql")
    with connections.connection(source, command="bench") as src:
        ddl = []
        for table in tables:
            cols = src.execute(
                "select string_agg(format('%%I %%s', attname, format_type(atttypid, atttypmod)), ', ' order by attnum) "
                "from pg_attribute where attrelid = format('%%I.%%I', %s::text, %s::text)::regclass "
                "and attnum > 0 and not attisdropped",
                (schema, table),
            ).fetchone()[0]
            ddl.append(f'create table bare."{table}" ({cols})')
    with connections.connection(target, command="bench", autocommit=True) as conn:
        conn.execute("create schema bare")
        for statement in ddl:
            conn.execute(statement)
    for table in tables:
        out = subprocess.Popen(
            [psql, "-X", "-q", "-c", f'copy "{schema}"."{table}" to stdout (format binary)'],
            env=libpq_env(source.url),
            stdout=subprocess.PIPE,
        )
        subprocess.run(
            [psql, "-X", "-q", "-c", f'copy bare."{table}" from stdin (format binary)'],
            env=libpq_env(target.url),
            stdin=out.stdout,
            check=True,
        )
        out.stdout.close()
        if out.wait() != 0:
            raise SystemExit(f"bare COPY of {table} failed")
    with connections.connection(target, command="bench") as conn:
        return sum(conn.execute(f'select count(*) from bare."{t}"').fetchone()[0] for t in tables)


def main() -> None:
    parser = arguments(__doc__, 1_000_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="pipe and load alternated this many times")
    args = parser.parse_args()
    admin = admin_url(args.url)
    with scratch_databases(admin, "source") as (source,):
        with Timer() as seeding:
            total = seed(source, args.scale, args.seed)
        with connections.connection(source, command="bench", autocommit=True) as conn:
            conn.execute("vacuum (analyze)")
        print(f"seeded {total:,} legacy rows at scale {args.scale:,} in {seeding.seconds:.1f} s, then vacuumed")
        pipes, loads = [], []
        for round_no in range(1, args.rounds + 1):
            sides = [("pipe", pipes), ("load", loads)]
            for side, seconds in sides if round_no % 2 else reversed(sides):
                with scratch_databases(admin, "target") as (target,):
                    config = migration_config(source, target)
                    with Timer() as timer:
                        if side == "pipe":
                            rows = bare_pipe(source, target, config.source_schema, [t.name for t in config.tables])
                        else:
                            rows = load.load(config, source, target, jobs=args.jobs).rows
                assert rows == total, (side, rows, total)
                seconds.append(timer.seconds)
            pipe, ours = pipes[-1], loads[-1]
            print(
                f"round {round_no}: bare COPY pipe {pipe:6.1f} s  {total / pipe:10,.0f} rows/s | "
                f"migrate load --jobs {args.jobs} {ours:6.1f} s  {total / ours:10,.0f} rows/s | ratio {pipe / ours:.2f}"
            )
        print("bare COPY pipe : the tables one after another, psql | psql, no key, no mask")
        print(
            f"migrate load   : --jobs {args.jobs}, capture, snapshot, masks, resumable ranges, "
            "keys and ANALYZE included"
        )
        if args.rounds > 1:
            print(
                f"best of {args.rounds}      : pipe {min(pipes):.1f} s, load {min(loads):.1f} s, "
                f"ratio {min(pipes) / min(loads):.2f}"
            )
        ratio = statistics.median(p / o for p, o in zip(pipes, loads))
        print(
            f"ratio          : {ratio:.2f} of the bare pipe's throughput"
            f"{' (median of the rounds)' if args.rounds > 1 else ''} (target ≥ 0.80)"
        )


if __name__ == "__main__":
    main()
