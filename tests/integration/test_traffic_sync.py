"""Zero data loss under live traffic: load and sync while the legacy application writes, with
transactions held open for seconds and a kill -9 of sync in the middle."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from harness import ledger, load, sync
from harness.config import load_config
from harness.connections import Database
from harness.demo.traffic import run_traffic
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration

seed_module = pytest.importorskip("harness.demo.seed")


def start_follow(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "sync", "--follow", "--no-build", "--interval", "0.2"],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def test_every_acknowledged_write_survives_load_and_a_killed_sync(migration, tmp_path, monkeypatch):
    monkeypatch.setenv("MIGRATE_SOURCE_URL", migration.source_url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    config = load_config(PROJECT_DIR)
    source = Database("source", migration.source_url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)
    with psycopg.connect(migration.source_url) as conn:
        seed_module.seed_legacy(conn, 2_000, 11)
        conn.commit()

    ledger_path = tmp_path / "legacy.jsonl"
    report = {}
    traffic = threading.Thread(
        target=lambda: report.update(r=run_traffic(source, "oms", ledger_path, rate=60, duration=14, workers=4, slow_share=0.05, slow_seconds=2.0))
    )
    traffic.start()
    time.sleep(1.0)
    load.load(config, source, target, jobs=2, range_rows=5_000)  # while the application writes

    env = {**os.environ, "MIGRATE_PROJECT_DIR": str(PROJECT_DIR)}
    follower = start_follow(env)
    time.sleep(3.0)
    os.kill(follower.pid, signal.SIGKILL)  # in the middle of whatever it was doing
    follower.wait()
    follower = start_follow(env)
    traffic.join()
    time.sleep(1.5)
    follower.send_signal(signal.SIGINT)
    follower.wait(timeout=30)
    sync.sync_once(config, source, target)  # anything committed after the follower stopped

    traffic_report = report["r"]
    assert traffic_report.transactions > 300 and traffic_report.slow > 5, traffic_report
    with psycopg.connect(migration.target_url) as conn:
        check = ledger.verify(conn, "landing", ledger_path)
    assert check.checked > 300
    assert check.ok, check.describe() + f" e.g. {(check.missing + check.wrong + check.resurrected)[:5]}"

    # Nothing extra and nothing stale either: landing equals the source, row for row.
    with psycopg.connect(migration.source_url) as src, psycopg.connect(migration.target_url) as dst:
        for table in config.tables:
            exclude = tuple(table.masks)
            assert ledger.content_digest(src, "oms", table.name, list(table.key), exclude) == ledger.content_digest(
                dst, "landing", table.name, list(table.key), exclude
            ), table.name
