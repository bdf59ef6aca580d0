"""Checksum reconciliation against one plain hashing pass over both copies, measured in one run.

Seeds the worked example at --scale, loads it into landing (capture on), then times:
  baseline    one pass of the same canonical row hash over every table, source and landing at once
              (harness.reconcile.checksums.whole_table_hashes: one figure per table, it can only say "equal")
  clean       `reconcile --level checksums` on identical copies: sync paused, snapshot exported,
              landing synced to it, segments hashed, report written
  10 changed  the same after 10 landing rows were changed, deleted or added, all of which must be
              located with the right key and column (undone after each round)
Targets: clean ≤ 1.5 × baseline; 10 changed ≤ 2 × clean. The three alternate for --repeat rounds
and the best of each counts, since other work on the machine only ever makes a run slower. On a
local server the CPU seconds of the run's own database sessions are shown too: a figure that
other work on the machine does not inflate.
    python bench/bench_checksums.py --scale 1000000
"""

from __future__ import annotations

import dataclasses
import os
import random
import tempfile
import threading
from pathlib import Path

import psycopg
from common import Timer, admin_url, arguments, migration_config, scratch_databases, seed

from harness import load, reconcile
from harness.core import connections
from harness.reconcile import checksums

# What the bench does to landing: (table, how a row is changed, the column that changes)
CHANGES = [
    ("CUSTOMER", """"CUST_NM" = "CUST_NM" || ' (edited)'""", "CUST_NM"),
    ("CUSTOMER", """"EMAIL_ADDR" = upper("EMAIL_ADDR") || 'x'""", "EMAIL_ADDR"),
    ("ORDER_HDR", """"STATUS_CD" = 'ZZZ'""", "STATUS_CD"),
    ("ORDER_LINE", """"QTY" = coalesce("QTY", 0) + 1""", "QTY"),
    ("ORDER_LINE", """"UNIT_PRICE" = coalesce("UNIT_PRICE", 0) + 0.01""", "UNIT_PRICE"),
    ("PAYMENT", """"AMOUNT" = coalesce("AMOUNT", 0) + 0.01""", "AMOUNT"),
    ("PAYMENT", """"PAID_AT" = case when "PAID_AT" is null then now() end""", "PAID_AT"),
]
KEYS = {
    "CUSTOMER": ["CUST_ID"],
    "ORDER_HDR": ["ORDER_NO"],
    "ORDER_LINE": ["ORDER_NO", "LINE_NO"],
    "PAYMENT": ["PAY_ID"],
}


class LandingEdits:
    """7 changed rows, 2 deleted and 1 added in landing at random keys, and how to undo them."""

    def __init__(self, target, rng: random.Random):
        self.target = target
        self.saved: list[tuple[str, list[str], tuple]] = []  # (table, columns, original row)
        self.expected: set[tuple] = set()  # what reconcile must find
        self.statements: list[tuple[str, tuple]] = []
        with connections.connection(target, command="bench changes") as conn:
            picked: set[tuple] = set()
            for table, assignment, column in CHANGES:
                key = self._pick(conn, rng, table, picked)
                self.statements.append((f'update landing."{table}" set {assignment} where {self._match(table)}', key))
                self.expected.add((table, "changed", tuple(map(str, key)), (column,)))
            for _ in range(2):
                key = self._pick(conn, rng, "ORDER_LINE", picked)
                self.statements.append((f'delete from landing."ORDER_LINE" where {self._match("ORDER_LINE")}', key))
                self.expected.add(("ORDER_LINE", "missing", tuple(map(str, key)), ()))
            (self.new_id,) = conn.execute('select max("PAY_ID") + 1000 from landing."PAYMENT"').fetchone()
            self.expected.add(("PAYMENT", "extra", (str(self.new_id),), ()))

    @staticmethod
    def _match(table: str) -> str:
        return " and ".join(f'"{k}" = %s' for k in KEYS[table])

    def _pick(self, conn, rng: random.Random, table: str, picked: set) -> tuple:
        lead = KEYS[table][0]
        low, high = conn.execute(f'select min("{lead}"), max("{lead}") from landing."{table}"').fetchone()
        while True:
            with conn.cursor() as cur:
                cur.execute(
                    f'select * from landing."{table}" where "{lead}" >= %s and not _migrate_deleted '
                    f'order by "{lead}" limit 1',
                    (rng.randint(low, high),),
                )
                columns = [d.name for d in cur.description]
                row = cur.fetchone()
            key = tuple(row[columns.index(k)] for k in KEYS[table])
            if (table, key) not in picked:
                picked.add((table, key))
                self.saved.append((table, columns, row))
                return key

    def apply(self) -> None:
        with connections.connection(self.target, command="bench changes") as conn:
            for statement, key in self.statements:
                conn.execute(statement, key)
            conn.execute(
                'insert into landing."PAYMENT" ("PAY_ID", "ORDER_NO", "METHOD", "AMOUNT", "PAID_AT", "CARD_NO", '
                '"LAST_UPD") '
                'select %s, "ORDER_NO", "METHOD", "AMOUNT", "PAID_AT", "CARD_NO", "LAST_UPD" '
                'from landing."PAYMENT" limit 1',
                (self.new_id,),
            )
            conn.commit()

    def revert(self) -> None:
        with connections.connection(self.target, command="bench changes") as conn:
            for table, columns, row in self.saved:
                key = tuple(row[columns.index(k)] for k in KEYS[table])
                conn.execute(f'delete from landing."{table}" where {self._match(table)}', key)
                names = ", ".join(f'"{c}"' for c in columns)
                conn.execute(
                    f'insert into landing."{table}" ({names}) values ({", ".join(["%s"] * len(columns))})', row
                )
            conn.execute('delete from landing."PAYMENT" where "PAY_ID" = %s', (self.new_id,))
            conn.commit()


class SessionCpu:
    """CPU seconds of the database sessions connected to the given databases, while the block runs.

    Reads /proc/<pid>/stat of each session every 50 ms, so only on a server on this machine.
    """

    def __init__(self, admin: str, databases: list[str]):
        self.admin, self.databases = admin, databases
        self.seconds: float | None = None

    def __enter__(self):
        self._stop = threading.Event()
        self._cpu: dict[int, float] = {}
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.seconds = sum(self._cpu.values()) if self._cpu else None

    def _watch(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        with psycopg.connect(self.admin, autocommit=True) as conn:
            while not self._stop.is_set():
                pids = [
                    pid
                    for (pid,) in conn.execute(
                        "select pid from pg_stat_activity where datname = any(%s)", (self.databases,)
                    ).fetchall()
                ]
                for pid in pids:
                    try:
                        with open(f"/proc/{pid}/stat") as stat:
                            fields = stat.read().rsplit(")", 1)[1].split()
                    except OSError:
                        continue  # not on this machine, or gone
                    self._cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
                self._stop.wait(0.05)


def located(result: reconcile.ReconcileResult) -> set[tuple]:
    found = set()
    for check in result.levels[0].checks:
        table = check.name.split(":")[0]
        for difference in check.data.get("differences", []):
            found.add(
                (
                    table,
                    difference["kind"],
                    tuple(str(v) for v in difference["key"].values()),
                    tuple(difference["columns"]),
                )
            )
    return found


def main() -> None:
    parser = arguments(__doc__, 100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the best counts")
    args = parser.parse_args()
    admin = admin_url(args.url)
    with scratch_databases(admin, "source", "target") as (source, target), tempfile.TemporaryDirectory() as scratch:
        config = dataclasses.replace(migration_config(source, target), project_dir=Path(scratch))
        with Timer() as seeding:
            total = seed(source, args.scale, args.seed)
        with Timer() as loading:
            load.load(config, source, target, jobs=2)
        print(
            f"scale {args.scale:,}: {total:,} legacy rows seeded in {seeding.seconds:.1f} s, "
            f"loaded in {loading.seconds:.1f} s"
        )
        print(f"segments of about {checksums.SEGMENT_ROWS:,} rows; both databases on one server, 2 cores")

        # Rounds of baseline, clean and changed, close in time: other work on the machine slows
        # whole runs, so the best of each counts, and each round's own ratios are shown too.
        edits = LandingEdits(target, random.Random(args.seed))
        databases = [source.name, target.name]
        wall: dict[str, list[float]] = {"baseline": [], "clean": [], "changed": []}
        cpu: dict[str, list[float | None]] = {"baseline": [], "clean": [], "changed": []}

        def measure(name: str, work):
            with SessionCpu(admin, databases) as sessions, Timer() as timer:
                outcome = work()
            wall[name].append(timer.seconds)
            cpu[name].append(sessions.seconds)
            return outcome

        print(f"load average before: {os.getloadavg()[0]:.1f}")
        for _ in range(args.repeat):
            sums = measure("baseline", lambda: checksums.whole_table_hashes(config, source, target))
            assert all(a == b for a, b in sums.values()), "the copies must be equal before the bench changes them"
            result = measure("clean", lambda: reconcile.reconcile(config, source, target, ["checksums"], build=False))
            assert result.passed, "identical copies must reconcile"
            edits.apply()
            result = measure("changed", lambda: reconcile.reconcile(config, source, target, ["checksums"], build=False))
            edits.revert()
            found = located(result)
            assert found == edits.expected, f"located {sorted(found)}, expected {sorted(edits.expected)}"
        print(f"load average after:  {os.getloadavg()[0]:.1f}")
        best = {name: min(times) for name, times in wall.items()}
        print(
            f"baseline, one hashing pass over source and landing: {best['baseline']:8.2f} s   (runs: "
            f"{_runs(wall['baseline'])})"
        )
        print(
            f"clean reconcile --level checksums:                  {best['clean']:8.2f} s   (runs: "
            f"{_runs(wall['clean'])})  = {best['clean'] / best['baseline']:.2f} × baseline (target ≤ 1.5)"
        )
        print(
            f"10 changed rows, all located with key and column:   {best['changed']:8.2f} s   (runs: "
            f"{_runs(wall['changed'])})  = {best['changed'] / best['clean']:.2f} × clean (target ≤ 2)"
        )
        if all(v is not None for values in cpu.values() for v in values):
            least = {name: min(values) for name, values in cpu.items()}
            print(
                f"database CPU seconds (best): baseline {least['baseline']:.1f}, clean {least['clean']:.1f} "
                f"({least['clean'] / least['baseline']:.2f} ×), 10 changed {least['changed']:.1f} "
                f"({least['changed'] / least['clean']:.2f} × clean)"
            )


def _runs(seconds: list[float]) -> str:
    return ", ".join(f"{s:.2f}" for s in seconds)


if __name__ == "__main__":
    main()
