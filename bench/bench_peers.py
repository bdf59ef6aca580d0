"""The kit against what users would pick instead, on one server in one run.

Seeds the worked example's source at --scale (vacuumed and analysed, as a table at rest would be),
then, taking turns at going first in every round:

- load: `pgcopydb clone` of the five legacy tables with their indexes and constraints (pgcopydb
  from Debian's packages, with the server's own pg_dump first on PATH; installed by the bench with
  apt-get when missing, or skipped with one line) against `migrate load --no-build` (capture
  installed, masks applied, resumable ranges, keys and statistics), each into a fresh target.
- reconcile: reladiff over the same five tables (installed by the bench into a scratch virtual
  environment, or skipped with one line; masked columns left out, since landing holds them masked)
  against `migrate reconcile --level checksums --no-build`, on identical copies and again with 10
  landing rows changed; and one plain hashing pass of both sides (the same canonical row hash, one
  sum per table: harness.reconcile.checksums.whole_table_hashes) as the floor.

It prints each pair with its ratio: for the load, pgcopydb's time over ours (≥ 1.0 means at least
pgcopydb's throughput); for the reconcile, ours over reladiff's and ours over the floor.
    python bench/bench_peers.py --scale 200000 [--rounds 3] [--skip-load]
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

from common import PROJECT_DIR, Timer, admin_url, arguments, migration_config, scratch_databases, seed
from psycopg.conninfo import conninfo_to_dict

from harness.core import connections, embedded
from harness.engines import postgres
from harness.engines.postgres import capture
from harness.reconcile import checksums
from harness.target import landing

RELADIFF_VENV = PROJECT_DIR / ".migrate" / "bench-reladiff"
# Rows the "10 changed" round edits in landing, and the column each edit changes.
CHANGES = [
    ("CUSTOMER", """"CUST_NM" = "CUST_NM" || ' (edited)'"""),
    ("CUSTOMER", """"EMAIL_ADDR" = upper("EMAIL_ADDR") || 'x'"""),
    ("ORDER_HDR", """"STATUS_CD" = 'ZZZ'"""),
    ("ORDER_LINE", """"QTY" = coalesce("QTY", 0) + 1"""),
    ("ORDER_LINE", """"UNIT_PRICE" = coalesce("UNIT_PRICE", 0) + 0.01"""),
]


def pgcopydb() -> str | None:
    """The pgcopydb binary, installed from Debian's packages if needed; None (and a line) if it cannot be."""

    def find() -> str | None:  # Debian installs it beside the other PostgreSQL programs, off PATH
        return shutil.which("pgcopydb") or next(
            (str(p) for p in Path("/usr/lib/postgresql").glob("*/bin/pgcopydb")), None
        )

    found = find()
    if not found and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "pgcopydb"], capture_output=True)
        found = find()
    if not found:
        print(
            "load pair skipped: pgcopydb is not installed and apt-get could not install it (apt-get install pgcopydb)"
        )
    return found


def reladiff() -> str | None:
    """reladiff in a scratch virtual environment of its own; None (and a line) if it cannot be installed."""
    binary = RELADIFF_VENV / "bin" / "reladiff"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(RELADIFF_VENV)], check=True)
        done = subprocess.run(
            [str(RELADIFF_VENV / "bin" / "pip"), "install", "-q", "reladiff[postgresql]"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not binary.exists():
            print(
                "reladiff pair skipped: pip could not install reladiff "
                f"({(done.stderr.strip().splitlines() or ['?'])[-1]})"
            )
            return None
    return str(binary)


def migrate(args: list[str], source, target, project: Path) -> None:
    env = {
        **os.environ,
        "MIGRATE_SOURCE_URL": source.url,
        "MIGRATE_TARGET_URL": target.url,
        "MIGRATE_PROJECT_DIR": str(project),
    }
    done = subprocess.run([sys.executable, "-m", "harness.cli", *args], env=env, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: a reconcile that found the seeded differences
        raise SystemExit(f"migrate {' '.join(args)} failed: {done.stderr.strip()}")


def clone_with_pgcopydb(binary: str, source, target, schema: str, tables: list[str]) -> None:
    with tempfile.TemporaryDirectory() as work:
        filters = Path(work) / "filters.ini"
        filters.write_text("[include-only-table]\n" + "".join(f'"{schema}"."{t}"\n' for t in tables))
        env = {**os.environ, "PATH": f"{embedded.bin_dir()}:{os.environ['PATH']}"}
        done = subprocess.run(
            [
                binary,
                "clone",
                "--source",
                source.url,
                "--target",
                target.url,
                "--table-jobs",
                "2",
                "--index-jobs",
                "2",
                "--filters",
                str(filters),
                "--dir",
                str(Path(work) / "copy"),
                "--no-owner",
                "--no-acl",
                "--skip-extensions",
            ],
            env=env,
            capture_output=True,
            text=True,
            start_new_session=True,  # pgcopydb signals its whole process group when it stops
        )
        if done.returncode != 0:
            raise SystemExit(f"pgcopydb clone failed: {done.stderr.strip()[-800:]}")


def without_capture(source, config) -> None:
    """Take migrate's capture objects off the source again (pgcopydb 0.10 half-copies an identity
    column of a schema it was told to leave out: the change log's)."""
    with connections.connection(source, command="bench", autocommit=True) as conn:
        capture.remove(conn, config.source_schema, [t.name for t in config.tables])


def uri(url: str) -> str:
    """A postgresql:// URI for reladiff, which reads no key=value connection strings (the embedded
    server's socket folder goes in the host part, percent-encoded)."""
    if url.startswith(("postgres://", "postgresql://")):
        return url
    parts = conninfo_to_dict(url)
    user, host, port = parts.get("user", "postgres"), quote(parts.get("host", ""), safe=""), parts.get("port", 5432)
    return f"postgresql://{user}@{host}:{port}/{parts['dbname']}"


def reladiff_tables(binary: str, source, target, config) -> int:
    """reladiff over every listed table, one after the other, unmasked columns only; the rows it found differing."""
    with connections.connection(source, command="bench") as conn:
        described = [landing.describe(conn, config, t) for t in config.tables]
    found = 0
    for table in described:
        columns = [c.name for c in table.columns if c.name not in table.masks and c.name not in table.key]
        args = [
            binary,
            uri(source.url),
            f"{config.source_schema}.{table.name}",
            uri(target.url),
            f"{config.landing_schema}.{table.name}",
            *[a for k in table.key for a in ("-k", k)],
            *[a for c in columns for a in ("-c", c)],
            "--stats",
        ]
        done = subprocess.run(args, capture_output=True, text=True)
        counts = re.findall(r"^(\d+) rows (?:exclusive to table [AB]|updated)", done.stdout, re.MULTILINE)
        if done.returncode not in (0, 1) or not counts:
            raise SystemExit(f"reladiff failed on {table.name}: {(done.stderr or done.stdout).strip()[-500:]}")
        found += sum(map(int, counts))
    return found


def pair_line(label: str, numerator: list[float], denominator: list[float], names: tuple[str, str]) -> str:
    """The median of each side and the median of the per-round ratios numerator / denominator."""
    ratio = statistics.median(n / d for n, d in zip(numerator, denominator))
    return (
        f"{label:<34} {names[0]} {statistics.median(numerator):6.2f} s, "
        f"{names[1]} {statistics.median(denominator):6.2f} s: ratio {ratio:.2f} (median of {len(numerator)} rounds)"
    )


def main() -> None:
    parser = arguments(__doc__, 200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-load", action="store_true", help="only the reconcile pairs (no pgcopydb rounds)")
    args = parser.parse_args()
    admin = admin_url(args.url)
    copier, differ = None if args.skip_load else pgcopydb(), reladiff()
    project = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    shutil.copy(
        PROJECT_DIR / "migration.yml", project / "migration.yml"
    )  # reports go to the scratch project, not the kit's
    with scratch_databases(admin, "source", "target") as (source, target):
        total = seed(source, args.scale, args.seed)
        with connections.connection(source, command="bench", autocommit=True) as conn:
            conn.execute("vacuum (analyze)")
        config = migration_config(source, target)
        names = [t.name for t in config.tables]
        print(f"seeded {total:,} legacy rows at scale {args.scale:,}")

        loads: dict[str, list[float]] = {"migrate": [], "pgcopydb": []}
        for round_no in range(1, 0 if args.skip_load else args.rounds + 1):
            sides = ["migrate", "pgcopydb"] if copier else ["migrate"]
            for side in sides if round_no % 2 else reversed(sides):
                with scratch_databases(admin, "copy") as (fresh,):
                    with Timer() as timer:
                        if side == "migrate":
                            migrate(["load", "--no-build"], source, fresh, project)
                            without_capture(source, config)  # the next copier finds the source as it was
                        else:
                            clone_with_pgcopydb(copier, source, fresh, config.source_schema, names)
                    loads[side].append(timer.seconds)
            print(
                f"round {round_no}: "
                + ", ".join(f"{side} {seconds[-1]:.2f} s" for side, seconds in loads.items() if seconds)
            )

        # One loaded target for the comparisons (capture off again afterwards, as nothing writes).
        migrate(["load", "--no-build"], source, target, project)
        timings: dict[str, list[float]] = {
            key: [] for key in ("ours clean", "reladiff clean", "floor clean", "ours changed", "reladiff changed")
        }
        for round_no in range(1, args.rounds + 1):
            order = ["ours", "reladiff", "floor"] if round_no % 2 else ["floor", "reladiff", "ours"]
            for changed in (False, True):
                if changed:
                    edit(target, config, undo=False)
                for who in order:
                    if who == "floor" and changed or who == "reladiff" and not differ:
                        continue
                    with Timer() as timer:
                        if who == "ours":
                            migrate(["reconcile", "--level", "checksums", "--no-build"], source, target, project)
                        elif who == "reladiff":
                            differing = reladiff_tables(differ, source, target, config)
                            if changed and differing < 9:  # two edits may pick the same row
                                raise SystemExit(f"reladiff found {differing} differing rows of the 10 changed")
                        else:
                            checksums.whole_table_hashes(config, source, target)
                    timings[f"{who} {'changed' if changed else 'clean'}"].append(timer.seconds)
                if changed:
                    edit(target, config, undo=True)

    print()
    if copier:
        print(
            pair_line(
                "load: throughput, ours / pgcopydb's",
                loads["pgcopydb"],
                loads["migrate"],
                ("pgcopydb clone", "migrate load"),
            )
        )
    if differ:
        print(
            pair_line(
                "checksums clean: time / reladiff's",
                timings["ours clean"],
                timings["reladiff clean"],
                ("migrate", "reladiff"),
            )
        )
        print(
            pair_line(
                "checksums 10 changed: / reladiff's",
                timings["ours changed"],
                timings["reladiff changed"],
                ("migrate", "reladiff"),
            )
        )
    print(
        pair_line(
            "checksums clean: time / floor",
            timings["ours clean"],
            timings["floor clean"],
            ("migrate", "one hashing pass"),
        )
    )
    print("targets: load ≥ 1.0 of pgcopydb's throughput; checksums ≤ 0.4 of reladiff's time; clean ≤ 1.0 of the floor")
    shutil.rmtree(project, ignore_errors=True)


_saved: list[tuple[str, dict, dict]] = []  # (table, key, the row as it was)


def edit(target, config, *, undo: bool) -> None:
    """Change 10 landing rows (two per edit), or put them back exactly as they were."""

    def where(key: dict) -> str:
        return " and ".join(f'"{k}" = %s' for k in key)

    with connections.connection(target, command="bench", autocommit=True) as conn:
        if undo:
            for table, key, row in _saved:
                columns = ", ".join(f'"{name}"' for name in row)
                conn.execute(
                    f'update "{config.landing_schema}"."{table}" set ({columns}) = row({", ".join(["%s"] * len(row))}) '
                    f"where {where(key)}",
                    (*row.values(), *key.values()),
                )
            _saved.clear()
            return
        for table, assignment in CHANGES:
            key_columns = postgres.primary_key(conn, config.landing_schema, table)
            cursor = conn.execute(f'select * from "{config.landing_schema}"."{table}" order by random() limit 2')
            for values in cursor.fetchall():
                row = dict(zip((d.name for d in cursor.description), values))
                key = {k: row[k] for k in key_columns}
                _saved.append((table, key, row))
                conn.execute(
                    f'update "{config.landing_schema}"."{table}" set {assignment} where {where(key)}',
                    tuple(key.values()),
                )


if __name__ == "__main__":
    main()
