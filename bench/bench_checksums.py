"""Checksum reconciliation against one plain hashing pass over both copies, measured in one run.

Seeds the worked example at --scale, loads it into landing (capture on), then times:
  baseline    one pass of the same canonical row hash over every table, source and landing at once
              (harness.checksums.whole_table_hashes: one figure per table, it can only say "equal")
  clean       `reconcile --level checksums` on identical copies: sync paused, snapshot exported,
              landing synced to it, segments hashed, report written
  10 changed  the same after 10 landing rows were changed, deleted or added, all of which must be
              located with the right key and column
Targets: clean ≤ 1.5 × baseline; 10 changed ≤ 2 × clean.
    python bench/bench_checksums.py --scale 1000000
"""
from __future__ import annotations

import dataclasses
import random
import tempfile
from pathlib import Path

from common import Timer, admin_url, arguments, migration_config, scratch_databases, seed

from harness import checksums, connections, load, reconcile

# What the bench does to landing: (table, key column, how a row is changed, the column that changes)
CHANGES = [
    ("CUSTOMER", "CUST_ID", """"CUST_NM" = "CUST_NM" || ' (edited)'""", "CUST_NM"),
    ("ORDER_HDR", "ORDER_NO", """"STATUS_CD" = 'ZZZ'""", "STATUS_CD"),
    ("ORDER_LINE", "ORDER_NO", """"QTY" = coalesce("QTY", 0) + 1""", "QTY"),
    ("ORDER_LINE", "ORDER_NO", """"UNIT_PRICE" = coalesce("UNIT_PRICE", 0) + 0.01""", "UNIT_PRICE"),
    ("PAYMENT", "PAY_ID", """"AMOUNT" = coalesce("AMOUNT", 0) + 0.01""", "AMOUNT"),
    ("PAYMENT", "PAY_ID", """"PAID_AT" = null""", "PAID_AT"),
    ("CUSTOMER", "CUST_ID", """"EMAIL_ADDR" = upper("EMAIL_ADDR")""", "EMAIL_ADDR"),
]


def change_landing(target, rng: random.Random) -> set[tuple]:
    """7 changed rows, 2 deleted, 1 added, at random keys; returns what reconcile must find."""
    expected = set()
    with connections.connection(target, command="bench changes") as conn:
        def pick(table: str, key: str) -> tuple:
            low, high = conn.execute(f'select min("{key}"), max("{key}") from landing."{table}"').fetchone()
            columns = "ctid, " + ('"ORDER_NO", "LINE_NO"' if table == "ORDER_LINE" else f'"{key}"')
            row = conn.execute(
                f'select {columns} from landing."{table}" where "{key}" >= %s and not _migrate_deleted order by "{key}" limit 1',
                (rng.randint(low, high),),
            ).fetchone()
            return row[0], tuple(str(v) for v in row[1:])

        for table, key, assignment, column in CHANGES:
            ctid, row_key = pick(table, key)
            while (table, row_key) in {(t, k) for t, _, k, _ in expected}:
                ctid, row_key = pick(table, key)
            conn.execute(f'update landing."{table}" set {assignment} where ctid = %s', (ctid,))
            expected.add((table, "changed", row_key, (column,)))
        for _ in range(2):
            ctid, row_key = pick("ORDER_LINE", "ORDER_NO")
            conn.execute('delete from landing."ORDER_LINE" where ctid = %s', (ctid,))
            expected.add(("ORDER_LINE", "missing", row_key, ()))
        (new_id,) = conn.execute('select max("PAY_ID") + 1000 from landing."PAYMENT"').fetchone()
        conn.execute(
            f'insert into landing."PAYMENT" ("PAY_ID", "ORDER_NO", "METHOD", "AMOUNT", "PAID_AT", "CARD_NO", "LAST_UPD") '
            f'select {new_id}, "ORDER_NO", "METHOD", "AMOUNT", "PAID_AT", "CARD_NO", "LAST_UPD" from landing."PAYMENT" limit 1'
        )
        expected.add(("PAYMENT", "extra", (str(new_id),), ()))
        conn.commit()
    return expected


def located(result: reconcile.ReconcileResult) -> set[tuple]:
    found = set()
    for check in result.levels[0].checks:
        table = check.name.split(":")[0]
        for difference in check.data.get("differences", []):
            found.add((table, difference["kind"], tuple(str(v) for v in difference["key"].values()), tuple(difference["columns"])))
    return found


def main() -> None:
    parser = arguments(__doc__, 100_000)
    args = parser.parse_args()
    admin = admin_url(args.url)
    with scratch_databases(admin, "source", "target") as (source, target), tempfile.TemporaryDirectory() as scratch:
        config = dataclasses.replace(migration_config(source, target), project_dir=Path(scratch))
        with Timer() as seeding:
            total = seed(source, args.scale, args.seed)
        with Timer() as loading:
            load.load(config, source, target, jobs=2)
        print(f"scale {args.scale:,}: {total:,} legacy rows seeded in {seeding.seconds:.1f} s, loaded in {loading.seconds:.1f} s")
        print(f"segments of about {checksums.SEGMENT_ROWS:,} rows; both databases on one server, 2 cores")

        with Timer() as baseline:
            sums = checksums.whole_table_hashes(config, source, target)
        assert all(a == b for a, b in sums.values()), "the copies must be equal before the bench changes them"
        print(f"baseline, one hashing pass over source and landing: {baseline.seconds:8.2f} s")

        with Timer() as clean:
            result = reconcile.reconcile(config, source, target, ["checksums"], build=False)
        assert result.passed, "identical copies must reconcile"
        print(f"clean reconcile --level checksums:                  {clean.seconds:8.2f} s  = {clean.seconds / baseline.seconds:.2f} × baseline (target ≤ 1.5)")

        expected = change_landing(target, random.Random(args.seed))
        with Timer() as changed:
            result = reconcile.reconcile(config, source, target, ["checksums"], build=False)
        found = located(result)
        assert found == expected, f"located {sorted(found)}, expected {sorted(expected)}"
        print(f"10 changed rows, all located with key and column:   {changed.seconds:8.2f} s  = {changed.seconds / clean.seconds:.2f} × clean (target ≤ 2)")


if __name__ == "__main__":
    main()
