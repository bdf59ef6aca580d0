"""Measurement, not a test of the suite: sync batch time over 5 and 200 listed tables, idle and with
a few changes, on PostgreSQL (trigger capture) and the private MariaDB (binary log). Run alone:
pytest -s tests/integration/mysql/measure_describe.py (docs/benchmarks.md, Sync apply rate)."""

from __future__ import annotations

import statistics
import time

import psycopg
import pytest

from harness import load, sync
from harness.core import connections
from harness.core.config import load_config
from harness.core.connections import Database
from harness.target import landing
from tests.integration.mysql.conftest import run_sql

pytestmark = pytest.mark.integration

RUNS = 5


def _config(tmp_path, engine_line, names):
    listed = "".join(f"  t{n:03d}: {{}}\n" for n in names)
    (tmp_path / "migration.yml").write_text(f"source: {engine_line}\ntarget: {{database: unused}}\ntables:\n{listed}")
    return load_config(tmp_path)


def _measure(label, config, source, target, change):
    load.load(config, source, target, jobs=1)
    sync.apply(config, source, target)
    idle, busy = [], []
    for i in range(RUNS):
        started = time.perf_counter()
        assert sync.apply(config, source, target).changes == 0
        idle.append(time.perf_counter() - started)
        change(i)
        started = time.perf_counter()
        assert sync.apply(config, source, target).changes == 3
        busy.append(time.perf_counter() - started)
    with connections.connection(source, command="measure", autocommit=True) as src:
        started = time.perf_counter()
        if hasattr(landing, "describe_all"):  # else a checkout from before it, measured for comparison
            landing.describe_all(src, config, list(config.tables))
        else:
            [landing.describe(src, config, t) for t in config.tables]
        alone = time.perf_counter() - started
    idle_s, busy_s = statistics.median(idle), statistics.median(busy)
    print(
        f"\nMEASURE {label}: describe {alone:.3f} s; batch idle {idle_s:.3f} s, 3 changes {busy_s:.3f} s"
        f" (median of {RUNS})"
    )


@pytest.mark.parametrize("tables", [5, 200])
def test_postgres(tables, tmp_path, monkeypatch, migration):
    names = range(tables)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        for n in names:
            conn.execute(f"create table public.t{n:03d} (id int primary key, name text, n int)")
            conn.execute(f"insert into public.t{n:03d} select g, 'x' || g, g from generate_series(1, 10) g")
    monkeypatch.setenv("MIGRATE_SOURCE_URL", migration.source_url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    config = _config(tmp_path, "{schema: public}", names)
    source = Database("source", migration.source_url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)

    def change(i):
        with psycopg.connect(migration.source_url, autocommit=True) as conn:
            for n in range(3):
                conn.execute(f"update public.t{n:03d} set n = n + 1 where id = {i + 1}")

    _measure(f"postgres {tables} tables", config, source, target, change)


@pytest.mark.parametrize("tables", [5, 200])
def test_mariadb_binlog(tables, tmp_path, monkeypatch, mysql_database, migration):
    url, db = mysql_database
    names = range(tables)
    run_sql(
        url,
        db,
        ";\n".join(
            f"create table t{n:03d} (id int primary key, name varchar(20), n int);\n"
            f"insert into t{n:03d} values (1,'a',1),(2,'b',2),(3,'c',3),(4,'d',4),(5,'e',5),(6,'f',6)"
            for n in names
        ),
    )
    monkeypatch.setenv("MIGRATE_SOURCE_URL", url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    config = _config(tmp_path, f"{{engine: mysql, schema: {db}}}", names)
    source = Database("source", url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)

    def change(i):
        run_sql(url, db, ";\n".join(f"update t{n:03d} set n = n + 1 where id = {i + 1}" for n in range(3)))

    _measure(f"mariadb binlog {tables} tables", config, source, target, change)
