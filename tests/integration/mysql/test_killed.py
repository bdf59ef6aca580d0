"""kill -9 on a MySQL source: a load killed while it copies ranges, and a `sync --follow` killed in
the middle of whatever it was doing while the legacy application writes, each run again, leave
landing exactly as a fresh load of the source would copy it: nothing lost, nothing applied twice."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from harness import load, sync
from tests.conftest import PROJECT_DIR
from tests.integration.mysql.conftest import admin, run_sql
from tests.integration.mysql.test_binlog_capture import captured, live  # noqa: F401
from tests.integration.mysql.test_load import landing_texts

pytestmark = pytest.mark.integration

PEOPLE_COLUMNS = "id, name, card, secret, note"


def migrate(config, *args: str) -> subprocess.Popen:
    env = {**os.environ, "MIGRATE_PROJECT_DIR": str(config.project_dir)}
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def legacy_writes(url: str, db: str, stop: threading.Event, seed: int) -> int:
    """The legacy application: small transactions of inserts, updates (of the key too) and deletes
    on `people` until `stop`; returns the transactions committed."""
    rng, committed, next_id = random.Random(seed), 0, 100_000 + seed * 10_000
    with contextlib.closing(admin(url, database=db)) as conn, conn.cursor() as cur:
        while not stop.is_set():
            conn.begin()
            for _ in range(rng.randint(1, 4)):
                person, choice = rng.randint(1, 3000), rng.random()
                if choice < 0.4:
                    next_id += 1
                    cur.execute(
                        "insert into people values (%s, %s, %s, %s, %s)",
                        (next_id, f"new {next_id}", "4111-0000-0000-0000", f"s{next_id}", None),
                    )
                elif choice < 0.8:
                    name = "é" * rng.randint(0, 9)
                    cur.execute("update people set name = %s, note = %s where id = %s", (name, str(choice), person))
                elif choice < 0.9:
                    next_id += 1
                    cur.execute("update people set id = %s where id = %s", (next_id, person))
                else:
                    cur.execute("delete from people where id = %s", (person,))
            conn.commit()
            committed += 1
            time.sleep(0.005)
    return committed


def test_a_follow_killed_mid_batch_under_writes_loses_and_repeats_nothing(captured):  # noqa: F811
    follow_killed_twice_under_writes(captured)


def follow_killed_twice_under_writes(captured) -> None:  # noqa: F811
    """`sync --follow` killed twice under legacy writes, then run again: landing as a fresh load
    copies the source (test_trigger_capture.py runs it with trigger capture)."""
    config, source, target, url, db, fresh = captured
    load.load(config, source, target, jobs=2, range_rows=1000)
    stop, committed = threading.Event(), {}
    writer = threading.Thread(target=lambda: committed.update(n=legacy_writes(url, db, stop, 1)))
    writer.start()
    try:
        for delay in (2.0, 3.5):  # killed twice, at different points of its batches
            follower = migrate(config, "sync", "--follow", "--no-build", "--interval", "0.2")
            time.sleep(delay)
            os.kill(follower.pid, signal.SIGKILL)
            follower.wait()
    finally:
        stop.set()
        writer.join()
    assert committed["n"] > 100
    with psycopg.connect(target.url) as conn:
        applied = conn.execute("select count(*) from landing.people where _migrate_synced_at is not null").fetchone()
    assert applied[0] > 0, "the killed followers applied nothing: the kill proved nothing"
    sync.sync_once(config, source, target)  # run again: from the position the last whole batch recorded
    assert sync.apply(config, source, target).changes == 0
    load.load(config, source, fresh)
    assert live(target.url, "people", PEOPLE_COLUMNS) == live(fresh.url, "people", PEOPLE_COLUMNS)


def test_a_load_killed_while_copying_resumes_with_the_ranges_left(captured):  # noqa: F811
    config, source, target, url, db, fresh = captured
    bulk = "select seq, concat('bulk ', seq), null, repeat('x', 400), null from seq_3001_to_150000"
    run_sql(url, db, f"insert into people {bulk}")
    loading = migrate(config, "load", "--no-build", "--jobs", "1", "--range-rows", "2000")
    done, deadline = 0, time.monotonic() + 120
    while time.monotonic() < deadline and done < 5 and loading.poll() is None:
        time.sleep(0.05)
        with contextlib.suppress(psycopg.Error):
            done = landing_texts(target.url, "select count(*) from migrate_control.load_ranges where done")[0][0]
    os.kill(loading.pid, signal.SIGKILL)
    loading.wait()
    assert 5 <= done < 75, f"killed after {done} of the 75 ranges: not in the middle of the copy"
    result = load.load(config, source, target, jobs=2, range_rows=2000)
    assert result.resumed
    load.load(config, source, fresh)
    assert live(target.url, "people", PEOPLE_COLUMNS) == live(fresh.url, "people", PEOPLE_COLUMNS)
