"""kill -9 of `migrate rollback` in the middle of the fallback's carry-back into MariaDB: the legacy
tables already hold some of the carried rows, uncommitted, when it dies. Nothing of it is left in
the source, and `migrate rollback` run again completes with the rows and the recorded counts exact."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import psycopg
import pytest

from tests.conftest import PROJECT_DIR, run_migrate
from tests.integration.mysql.conftest import admin, fetch, run_sql
from tests.integration.mysql.test_fallback import switched  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # dbt builds the reverse models

BORN = 20_000  # orders and order items the new application made: a carry-back long enough to kill inside
MORE = f"""
insert into changes.orders
    select i, '2026-12-07', null, 'new', '{{}}', i / 100.0, '2026-12-07 10:00:00+00', 'I',
           '{{id,placed,_mysql_raw_placed,status,tags,total,updated}}'
    from generate_series(1000, {999 + BORN}) i;
insert into changes.order_items select i + 100000, i, 'x' || i, 'I', '{{id,order_id,sku}}'
    from generate_series(1000, {999 + BORN}) i
"""
ARGS = ("rollback", "--decided-by", "Dana", "--role", "dba", "--reason", "a fallback killed and run again")


def uncommitted_orders(url: str, db: str):
    """A session that sees the carry-back's rows before it commits."""
    conn = admin(url, database=db)
    conn.cursor().execute("set session transaction isolation level read uncommitted")
    return conn


def test_a_rollback_killed_in_the_carry_back_leaves_nothing_and_completes_when_run_again(switched):  # noqa: F811
    url, db, env, folder = switched
    with psycopg.connect(env["MIGRATE_TARGET_URL"], autocommit=True) as conn:
        conn.execute(MORE)
    before = [fetch(url, db, f"select * from {table} order by id") for table in ("orders", "order_items")]
    rollback = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *ARGS],
        cwd=PROJECT_DIR,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen, deadline = 0, time.monotonic() + 300
    with contextlib.closing(uncommitted_orders(url, db)) as watcher, watcher.cursor() as cur:
        while time.monotonic() < deadline and rollback.poll() is None:
            cur.execute("select count(*) from orders")
            (seen,) = cur.fetchone()
            if seen > len(before[0]):
                break
            time.sleep(0.01)
    os.kill(rollback.pid, signal.SIGKILL)
    rollback.wait()
    assert len(before[0]) < seen, "killed before the carry-back wrote a legacy row: the kill proved nothing"

    # Nothing of the killed transaction in the source (the server rolls it back when its session
    # ends); run again at once, as an operator would, while the server may still be rolling it back.
    assert fetch(url, db, "select * from orders order by id") == before[0]
    assert fetch(url, db, "select * from order_items order by id") == before[1]

    again = run_migrate(*ARGS, env=env)
    assert "Traceback" not in again.stdout + again.stderr
    orders = fetch(url, db, "select id, status, total from orders order by id")
    assert [r[0] for r in orders] == [1, 2, 4, *range(1000, 1000 + BORN)]
    assert orders[3:] == [(i, "new", Decimal(i) / 100) for i in range(1000, 1000 + BORN)]
    items = fetch(url, db, "select id, order_id, sku from order_items order by id")
    assert items[:3] == [(10, 1, "a"), (20, 2, "b"), (40, 4, "ü")]
    assert items[3:] == [(i + 100000, i, f"x{i}") for i in range(1000, 1000 + BORN)]
    with psycopg.connect(env["MIGRATE_TARGET_URL"]) as conn:
        (carried,) = conn.execute(
            "select detail -> 'carried' from migrate_control.runs where command = 'fallback' and status = 'succeeded'"
        ).fetchone()
    assert carried == {
        "orders": {"inserted": 1 + BORN, "updated": 1, "deleted": 1},
        "order_items": {"inserted": 1 + BORN, "updated": 0, "deleted": 1},
    }


# The narrowest window: the carry-back committed in the source, the process killed before the
# runbook recorded the step. The run again carries the same rows again.
DIES_AFTER_COMMIT = """
import os, signal
from harness.rollback import fallback
from harness.cli import main

carry_back = fallback._carry_back


def dying(*args, **kwargs):
    carry_back(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)


fallback._carry_back = dying
main()
"""


def test_a_rollback_killed_after_the_carry_back_committed_completes_with_the_counts_exact(switched):  # noqa: F811
    url, db, env, folder = switched
    killed = subprocess.run(
        [sys.executable, "-c", DIES_AFTER_COMMIT, *ARGS],
        cwd=PROJECT_DIR,
        env={**os.environ, **env},
        capture_output=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL
    assert fetch(url, db, "select id from orders order by id") == [(1,), (2,), (4,)]  # committed
    run_migrate(*ARGS, env=env)
    assert fetch(url, db, "select id from orders order by id") == [(1,), (2,), (4,)]
    assert fetch(url, db, "select id, order_id from order_items order by id") == [(10, 1), (20, 2), (40, 4)]
    with psycopg.connect(env["MIGRATE_TARGET_URL"]) as conn:
        (carried,) = conn.execute(
            "select detail -> 'carried' from migrate_control.runs where command = 'fallback' and status = 'succeeded'"
        ).fetchone()
    assert carried == {
        "orders": {"inserted": 1, "updated": 1, "deleted": 1},
        "order_items": {"inserted": 1, "updated": 0, "deleted": 1},
    }


@pytest.mark.parametrize("step", ["carry_back", "verify", "switch_back", "unfreeze_source"])
def test_a_rollback_killed_as_a_step_starts_completes_when_run_again(switched, step):  # noqa: F811
    """MIGRATE_CRASH_AT: kill -9 right after the step is recorded as started (runbook.crash_here_if_asked)."""
    url, db, env, folder = switched
    run_migrate(*ARGS, env={**env, "MIGRATE_CRASH_AT": f"fallback:{step}"}, expect=-signal.SIGKILL)
    run_migrate(*ARGS, env=env)
    assert fetch(url, db, "select id, total from orders order by id") == [
        (1, Decimal("1.00")),
        (2, Decimal("22.00")),
        (4, Decimal("40.00")),
    ]
    assert fetch(url, db, "select id, order_id from order_items order by id") == [(10, 1), (20, 2), (40, 4)]
    run_sql(url, db, "insert into orders (id, placed) values (5, '2026-12-08')")  # unfrozen: legacy writes again
    with psycopg.connect(env["MIGRATE_TARGET_URL"]) as conn:
        (carried,) = conn.execute(
            "select detail -> 'carried' from migrate_control.runs where command = 'fallback' and status = 'succeeded'"
        ).fetchone()
    assert carried == {
        "orders": {"inserted": 1, "updated": 1, "deleted": 1},
        "order_items": {"inserted": 1, "updated": 0, "deleted": 1},
    }
