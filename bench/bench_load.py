"""Initial load throughput against a bare `COPY TO STDOUT | COPY FROM STDIN` pipe of the same tables.

Both copy the same legacy tables from one scratch source database into one scratch target on
the same server, measured in one run. Target: `migrate load` ≥ 80% of the pipe's throughput.
    python bench/bench_load.py --scale 1000000
"""
from __future__ import annotations

import subprocess

from common import Timer, admin_url, arguments, migration_config, scratch_databases, seed

from harness import connections, embedded, load
from harness.processes import libpq_env


def bare_pipe(source, target, schema: str, tables: list[str]) -> int:
    """psql | psql per table, one after the other, into keyless copies: the floor any loader pays."""
    psql = str(embedded.bin_dir() / "psql")
    with connections.connection(source, command="bench") as src:
        ddl = []
        for table in tables:
            cols = src.execute(
                "select string_agg(format('%%I %%s', attname, format_type(atttypid, atttypmod)), ', ' order by attnum) "
                "from pg_attribute where attrelid = format('%%I.%%I', %s::text, %s::text)::regclass and attnum > 0 and not attisdropped",
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
            env=libpq_env(source.url), stdout=subprocess.PIPE,
        )
        subprocess.run(
            [psql, "-X", "-q", "-c", f'copy bare."{table}" from stdin (format binary)'],
            env=libpq_env(target.url), stdin=out.stdout, check=True,
        )
        out.stdout.close()
        if out.wait() != 0:
            raise SystemExit(f"bare COPY of {table} failed")
    with connections.connection(target, command="bench") as conn:
        return sum(conn.execute(f'select count(*) from bare."{t}"').fetchone()[0] for t in tables)


def main() -> None:
    parser = arguments(__doc__, 1_000_000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    admin = admin_url(args.url)
    with scratch_databases(admin, "source", "target") as (source, target):
        config = migration_config(source, target)
        with Timer() as seeding:
            total = seed(source, args.scale, args.seed)
        print(f"seeded {total:,} legacy rows at scale {args.scale:,} in {seeding.seconds:.1f} s")
        tables = [t.name for t in config.tables]
        with Timer() as pipe:
            piped = bare_pipe(source, target, config.source_schema, tables)
        with Timer() as ours:
            result = load.load(config, source, target, jobs=args.jobs)
        assert result.rows == piped == total, (result.rows, piped, total)
        pipe_rate, our_rate = total / pipe.seconds, total / ours.seconds
        print(f"bare COPY pipe : {pipe.seconds:7.1f} s  {pipe_rate:12,.0f} rows/s")
        print(f"migrate load   : {ours.seconds:7.1f} s  {our_rate:12,.0f} rows/s  (--jobs {args.jobs}, keys, analyze and capture included)")
        print(f"ratio          : {our_rate / pipe_rate:.2f} of the bare pipe's throughput (target ≥ 0.80)")


if __name__ == "__main__":
    main()
