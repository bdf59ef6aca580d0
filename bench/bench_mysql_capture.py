"""Capture from MariaDB's binary log: its cost to the legacy writes, and the landing lag it keeps.

    .venv/bin/python bench/bench_mysql_capture.py [--rows 100000] [--rate 1000] [--duration 30] [--rounds 3]

A private MariaDB (tests/integration/mysql/conftest.py's: row-based binary log with full images) in
a temporary folder, an `orders` table of --rows rows, loaded into a scratch PostgreSQL target.

1. Write cost: WRITES autocommitted single-row updates and inserts, timed three ways taking turns
   over --rounds rounds: with the session's binary logging off (`SET sql_log_bin = 0`: what the
   server pays without any capture), with it on and nothing reading it, and with it on while
   `migrate sync --follow` (sync.follow, no dbt, in a process of its own) reads it. Target (issue
   19): the reader adds nothing measurable (with-reader / binlog-on within the rounds' spread).
   `--pin` puts MariaDB and the writers on CPU 0, the reader and the target PostgreSQL on CPU 1, as on
   separate hosts: without it the reader and the target take their CPU from the writes' server.
2. Lag: inserts at --rate rows per second from 4 writers for --duration seconds while the follower
   runs; every inserted row's lag is the time from its commit on the source to its first sight in
   landing (polled every 0.1 s). Target: under 2 s at 1,000 writes per second.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from common import Timer, admin_url, scratch_databases

from harness import load, sync
from harness.core.config import load_config
from harness.core.connections import Database

WRITES = 3_000
TABLE = """
create table orders (id bigint primary key, status varchar(10) not null, amount decimal(12,2) not null,
                     updated datetime(6) not null) engine=InnoDB
"""


def private_mariadb(folder: Path):
    from harness.engines.mysql.server import NoServerBinaries, start_private_server

    try:
        return start_private_server(folder)
    except NoServerBinaries as exc:
        print(f"bench_mysql_capture skipped: {exc}")
        raise SystemExit(0) from None


def mysql(url: str, db: str | None = None):
    from harness.engines.mysql.server import admin

    return admin(url, **({"database": db} if db else {}))


def write_workload(url: str, db: str, first_id: int, *, log_bin: bool) -> float:
    """Seconds for WRITES autocommitted single-row writes (half updates, half inserts)."""
    with contextlib.closing(mysql(url, db)) as conn, conn.cursor() as cur:
        cur.execute(f"set sql_log_bin = {int(log_bin)}")
        with Timer() as timer:
            for i in range(WRITES // 2):
                cur.execute("update orders set status = 'PAID', updated = now(6) where id = %s", (1 + i,))
                cur.execute("insert into orders values (%s, 'NEW', 9.99, now(6))", (first_id + i,))
    return timer.seconds


def pin(pid: int, cpus: set[int], *, children: bool = False) -> None:
    """Every thread of `pid` (with `children`, of its child processes too) on `cpus`; threads and
    processes started later inherit it."""
    pids = [pid]
    if children:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    pids.append(int(stat.parent.name))
    for each in pids:
        for task in Path(f"/proc/{each}/task").glob("*"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task.name), cpus)


def postmaster(target: Database) -> int:
    with psycopg.connect(target.url) as conn:
        data = conn.execute("show data_directory").fetchone()[0]
    return int((Path(data) / "postmaster.pid").read_text().split()[0])


def follow_process(project: str, source_url: str, target_url: str, stop, cpus: set[int] | None) -> None:
    """sync.follow in a process of its own (not a thread beside the writers: the GIL would be theirs too)."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    os.environ["MIGRATE_SOURCE_URL"], os.environ["MIGRATE_TARGET_URL"] = source_url, target_url
    source = Database("source", source_url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", target_url, "MIGRATE_TARGET_URL", False)
    sync.follow(load_config(Path(project)), source, target, interval=0.2, until=stop.is_set, run_dbt=False)


def timed_lag(url: str, db: str, target: Database, rate: float, duration: float, first_id: int) -> list[float]:
    """Each inserted row's seconds from its commit to its first sight in landing."""
    committed: dict[int, float] = {}
    lags: list[float] = []
    stop = threading.Event()

    def writer(worker: int) -> None:
        with contextlib.closing(mysql(url, db)) as conn, conn.cursor() as cur:
            started, n = time.monotonic(), 0
            while time.monotonic() - started < duration:
                row = first_id + worker + 4 * n
                cur.execute("insert into orders values (%s, 'NEW', 1.00, now(6))", (row,))
                committed[row] = time.monotonic()
                n += 1
                time.sleep(max(0.0, started + n * 4 / rate - time.monotonic()))

    def watcher() -> None:
        # Rows commit out of id order across the writers: read from the lowest id not seen yet.
        seen: set[int] = set()
        with psycopg.connect(target.url, autocommit=True) as conn:
            while not stop.is_set():
                unseen = [row for row in list(committed) if row not in seen]
                low = min(unseen) if unseen else first_id
                rows = conn.execute("select id from landing.orders where id >= %s", (low,)).fetchall()
                now = time.monotonic()
                for (row,) in rows:
                    if row in committed and row not in seen:
                        seen.add(row)
                        lags.append(now - committed[row])
                time.sleep(0.1)

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    watching = threading.Thread(target=watcher)
    watching.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    time.sleep(3.0)  # the last rows' way into landing
    stop.set()
    watching.join()
    missing = len(committed) - len(lags)
    if missing:
        print(f"warning: {missing} inserted rows not seen in landing within 3 s of the end")
    return lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="inserted rows per second in the lag run")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", help="admin URL of the PostgreSQL server for the target (default: the embedded one)")
    parser.add_argument("--pin", action="store_true", help="source on CPU 0, reader and target on CPU 1")
    options = parser.parse_args()
    everywhere = os.sched_getaffinity(0)
    if options.pin and len(everywhere) < 2:
        raise SystemExit("--pin needs 2 CPUs")
    source_cpus, reader_cpus = ({0}, {1}) if options.pin else (None, None)
    with tempfile.TemporaryDirectory() as tmp, scratch_databases(admin_url(options.url), "target") as (target,):
        server = private_mariadb(Path(tmp))
        try:
            with contextlib.closing(mysql(server.url)) as conn, conn.cursor() as cur:
                cur.execute("create database bench")
                cur.execute("use bench")
                cur.execute(TABLE)
                cur.execute(f"insert into orders select seq, 'NEW', seq / 100, now(6) from seq_1_to_{options.rows}")
            (Path(tmp) / "project").mkdir()
            (Path(tmp) / "project" / "migration.yml").write_text(
                "source: {engine: mysql, schema: bench}\ntarget: {database: unused}\ntables: {orders: {}}\n"
            )
            os.environ["MIGRATE_SOURCE_URL"], os.environ["MIGRATE_TARGET_URL"] = server.url, target.url
            config = load_config(Path(tmp) / "project")
            source = Database("source", server.url, "MIGRATE_SOURCE_URL", False)
            load.load(config, source, target)
            if options.pin:
                pin(server.process.pid, source_cpus)
                pin(postmaster(target), reader_cpus, children=True)
                os.sched_setaffinity(0, source_cpus)  # this thread, and the writers it starts
                print("pinned: MariaDB and the writers on CPU 0, the reader and the target on CPU 1")

            spawn = multiprocessing.get_context("spawn")
            stop = spawn.Event()
            follower = None

            def start_follow():
                stop.clear()
                process = spawn.Process(
                    target=follow_process,
                    args=(str(config.project_dir), server.url, target.url, stop, reader_cpus),
                )
                process.start()
                return process

            times: dict[str, list[float]] = {"binlog off": [], "binlog on": [], "binlog on, read by sync": []}
            next_id = 10_000_000
            for round_no in range(options.rounds):
                order = list(times) if round_no % 2 == 0 else list(reversed(times))
                for way in order:
                    if way.endswith("sync"):
                        follower = start_follow()
                        time.sleep(3.0)  # the process started and reading
                    times[way].append(write_workload(server.url, "bench", next_id, log_bin=way != "binlog off"))
                    next_id += WRITES
                    if follower:
                        stop.set()
                        follower.join()
                        follower = None
            median = {way: statistics.median(values) for way, values in times.items()}
            for way, values in times.items():
                spread = ", ".join(f"{v:.2f}" for v in values)
                print(f"{WRITES:,} single-row writes, {way:24s}: median {median[way]:.2f} s  ({spread})")
            print(
                f"read by sync / binlog on: ×{median['binlog on, read by sync'] / median['binlog on']:.2f}; "
                f"binlog on / off: ×{median['binlog on'] / median['binlog off']:.2f} (the server's own cost)"
            )

            follower = start_follow()
            time.sleep(3.0)
            try:
                lags = timed_lag(server.url, "bench", target, options.rate, options.duration, 20_000_000)
            finally:
                stop.set()
                follower.join()
            lags.sort()
            print(
                f"landing lag at {options.rate:,.0f} inserts/s for {options.duration:g} s ({len(lags):,} rows): "
                f"median {statistics.median(lags):.2f} s, p99 {lags[int(len(lags) * 0.99)]:.2f} s, "
                f"max {lags[-1]:.2f} s (target: under 2 s)"
            )
        finally:
            if options.pin:
                os.sched_setaffinity(0, everywhere)
                with contextlib.suppress(Exception):
                    pin(postmaster(target), everywhere, children=True)
            server.stop()


if __name__ == "__main__":
    main()
