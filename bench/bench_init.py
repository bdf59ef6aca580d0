"""`migrate init` on a generated catalog of --tables tables (default 200), timed end to end.

The catalog: tables of 6 to 14 columns of mixed types (integer, bigint, numeric, text, varchar,
timestamp, boolean, json, money), each with a primary key (every tenth composite), every third
with a foreign key to an earlier table, every seventh with a check constraint, every fifth with an
e-mail column that init samples and proposes a mask for; --rows rows in each. Times the command
as a user runs it (a new process: `python -m harness.cli init`), so start-up counts.
Target: under 60 s for 200 tables.
    python bench/bench_init.py --tables 200
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from common import PROJECT_DIR, admin_url, scratch_databases

TYPES = ("integer", "bigint", "numeric(12,2)", "text", "varchar(40)", "timestamp", "boolean", "json", "money")


def catalog_sql(tables: int, rows: int) -> str:
    statements = ['create schema "Bench";', 'set search_path = "Bench";']
    for t in range(tables):
        columns = [f'"Col{c}" {TYPES[(t + c) % len(TYPES)]}' for c in range(6 + t % 9)]
        if t % 5 == 0:
            columns.append('"Email" varchar(120)')
        if t % 3 == 0 and t:
            columns.append(f'"Parent" integer references "Table{t - 1}" ("Id")' if (t - 1) % 10 else '"Parent" integer')
        key = '"Id" integer, "Part" integer, primary key ("Id", "Part")' if t % 10 == 0 else '"Id" integer primary key'
        checks = ', check ("Id" > 0)' if t % 7 == 0 else ""
        statements.append(f'create table "Table{t}" ({key}, {", ".join(columns)}{checks});')
        filled = ["i", *(["1"] if t % 10 == 0 else [])]
        for c in range(6 + t % 9):
            type_ = TYPES[(t + c) % len(TYPES)]
            filled.append(
                {"json": "json_build_object('i', i)", "boolean": "i % 2 = 0", "timestamp": "now()", "money": "i"}.get(
                    type_, "i" if "int" in type_ or "numeric" in type_ else "'v' || i"
                )
            )
        if t % 5 == 0:
            filled.append("'user' || i || '@example.com'")
        if t % 3 == 0 and t:
            filled.append("i" if (t - 1) % 10 else "null")
        statements.append(f'insert into "Table{t}" select {", ".join(filled)} from generate_series(1, {rows}) i;')
    return "\n".join(statements)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--url", help="admin URL of the server to use (default: the embedded one)")
    options = parser.parse_args()
    admin = admin_url(options.url)
    with scratch_databases(admin, "source") as (source,), tempfile.TemporaryDirectory() as folder:
        with psycopg.connect(source.url, autocommit=True) as conn:
            conn.execute(catalog_sql(options.tables, options.rows))
            conn.execute("analyze")
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli", "init", str(Path(folder) / "p"), "--source-url", source.url]
            + ["--schema", "Bench"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        if done.returncode:
            sys.exit(f"migrate init failed: {done.stderr.strip()}")
        files = sum(1 for _ in (Path(folder) / "p").rglob("*") if _.is_file())
    verdict = "met" if seconds < 60 else "NOT met"
    print(f"migrate init: {options.tables} tables, {files} files in {seconds:.1f} s (target < 60 s: {verdict})")


if __name__ == "__main__":
    main()
