"""Zero data loss under live traffic: load and sync while the legacy application writes, with
transactions held open for seconds and a kill -9 of sync in the middle."""

from __future__ import annotations

import collections
import csv
import os
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from harness import dbt, load, sync
from harness.core import connections
from harness.core.config import load_config
from harness.core.connections import Database
from harness.demo import ledger
from harness.demo.traffic import run_traffic
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration

seed_module = pytest.importorskip("harness.demo.seed")


def start_follow(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "sync", "--follow", "--no-build", "--interval", "0.2"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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
        target=lambda: report.update(
            r=run_traffic(
                source, "oms", ledger_path, rate=60, duration=14, workers=4, slow_share=0.05, slow_seconds=2.0
            )
        )
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


# Where the rows of each legacy table end in the target besides quarantine, keys written as
# quarantine writes them (columns in key order joined with '|').
APP_KEYS = {
    "CUSTOMER": "select legacy_cust_id::text from app.customer where legacy_cust_id is not null "
    "union all select legacy_cust_id::text from app.customer_merge",
    "ORDER_HDR": "select legacy_order_no::text from app.sales_order where legacy_order_no is not null",
    "ORDER_LINE": "select order_id || '|' || line_no from app.order_line",
    "PAYMENT": "select legacy_pay_id::text from app.payment where legacy_pay_id is not null",
}


@pytest.mark.slow  # ≈ 30 s of traffic and overlapping builds
def test_dbt_runs_overlapping_sync_batches_leave_no_acknowledged_write_behind(migration, tmp_path, monkeypatch):
    """`sync --follow` runs dbt while its landing thread keeps applying batches under traffic: once
    follow has caught up, every acknowledged write is in landing, and in app (or quarantine) with its
    final value, and every legacy row is accounted for."""
    dbt_env = {"DBT_TARGET_PATH": str(tmp_path / "dbt-target"), "DBT_LOG_PATH": str(tmp_path / "dbt-logs")}
    for name, value in {**migration.env, **dbt_env}.items():
        monkeypatch.setenv(name, value)  # dbt's target/ and logs/ of our own: other runs share the project's
    for name in connections.dbt_environment(Database("target", migration.target_url, "", False)):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # dbt runs set them; restored afterwards
    config = load_config(PROJECT_DIR)
    source = Database("source", migration.source_url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)
    ledger_path = tmp_path / "legacy.jsonl"
    with psycopg.connect(migration.source_url) as conn:
        seed_module.seed_legacy(conn, 1_000, 13)
        conn.commit()
    load.load(config, source, target, jobs=2)

    # The application writes from here on, until enough sync batches have landed while dbt builds ran.
    stop_traffic = threading.Event()
    traffic_ended: list[float] = []
    report = {}

    def traffic() -> None:
        try:
            report["r"] = run_traffic(
                source,
                "oms",
                ledger_path,
                rate=50,
                duration=120,
                workers=4,
                slow_share=0.05,
                slow_seconds=2.0,
                stop=stop_traffic,
            )
        finally:
            traffic_ended.append(time.monotonic())

    writer = threading.Thread(target=traffic)
    writer.start()
    try:
        # As `migrate load` ends: seeds and models built (the dbt tests come at the end).
        dbt.run(config, target, ["build", "--exclude", "resource_type:test", "resource_type:unit_test"], quiet=True)

        builds: list[tuple[float, float]] = []  # every dbt build of follow
        batches: list[tuple[float, int]] = []  # every landing batch: when it ended, its changes
        real_build = sync.build

        def timed_build(*args, **kwargs):
            started = time.monotonic()
            try:
                outcome = real_build(*args, **kwargs)
            finally:
                builds.append((started, time.monotonic()))
            if len(batches_during(builds)) >= 5:
                stop_traffic.set()  # enough batches applied while dbt ran: how fast dbt is does not matter
            return outcome

        def batches_during(runs: list[tuple[float, float]]) -> list[int]:
            return [changes for at, changes in batches for started, ended in runs if started < at < ended and changes]

        def caught_up() -> bool:
            # Two batches ended after the traffic did: the second began after every write had committed.
            return bool(traffic_ended) and sum(1 for at, _ in batches if at > traffic_ended[0]) >= 2

        monkeypatch.setattr(sync, "build", timed_build)
        followed = sync.follow(
            config,
            source,
            target,
            interval=0.2,
            build_every=4.0,
            until=caught_up,
            on_batch=lambda batch, _lag: batches.append((time.monotonic(), batch.changes)),
        )
    finally:
        stop_traffic.set()
        writer.join()

    traffic_report = report["r"]
    assert traffic_report.transactions > 300 and traffic_report.slow > 5, traffic_report
    during_runs = batches_during(builds[:-1])
    assert len(builds) >= 2 and len(during_runs) >= 5, f"dbt builds {builds}; batches applied during them {during_runs}"
    assert followed.builds == len(builds)

    with psycopg.connect(migration.target_url) as conn:
        # Writes landed after the previous run had read its bounds: only the last run could bring them to app.
        (bound,) = conn.execute(
            "select high_watermark from migrate_sync.sync_batches order by started_at desc offset 1 limit 1"
        ).fetchone()
        after = sum(
            conn.execute(f'select count(*) from landing."{t.name}" where _migrate_synced_at > %s', (bound,)).fetchone()[
                0
            ]
            for t in config.tables
        )
        assert after > 0, "the traffic ended before the overlapped run read its bounds: nothing proven"

        check = ledger.verify(conn, "landing", ledger_path)
        # The ledger is written in commit order (a write that waited for another's row lock is
        # recorded after it), so every row's last entry is its final content.
        assert check.checked > 300 and check.ok, (
            check.describe() + f" e.g. {(check.missing + check.wrong + check.resurrected)[:5]}"
        )
        # And, independently of the ledger, landing holds exactly what the source holds.
        with psycopg.connect(migration.source_url) as src:
            for table in config.tables:
                key, masked = list(table.key), tuple(table.masks)
                assert ledger.content_digest(src, "oms", table.name, key, masked) == ledger.content_digest(
                    conn, "landing", table.name, key, masked
                ), f"landing differs from the source in {table.name}; ledger: {check.describe()}"

        # Each acknowledged key ends in exactly one place (app, a merge or quarantine), a deleted one nowhere.
        final = ledger.final_entries(ledger.entries(ledger_path))
        for table, entries in final.items():
            in_app = collections.Counter(key for (key,) in conn.execute(APP_KEYS[table]))
            quarantined = {
                key
                for (key,) in conn.execute(
                    "select source_key from quarantine.quarantined_rows where source_table = %s", (table,)
                )
            }
            for entry in entries.values():
                key = "|".join(str(value) for value in entry["key"].values())
                places = in_app[key] + (key in quarantined)
                assert places == (0 if entry["op"] == "D" else 1), (
                    f"{table} {key} ({entry['op']}) is in {places} places"
                )

        # The orders the traffic wrote or changed carry their final legacy status.
        statuses = dict(csv.reader((PROJECT_DIR / "seeds" / "order_statuses.csv").read_text().splitlines()[1:]))
        order_nos = [entry["key"]["ORDER_NO"] for entry in final["ORDER_HDR"].values()]
        orders = conn.execute(
            """select l."ORDER_NO", upper(btrim(l."STATUS_CD")), s.status from landing."ORDER_HDR" l
               join app.sales_order s on s.legacy_order_no = l."ORDER_NO" where l."ORDER_NO" = any(%s)""",
            (order_nos,),
        ).fetchall()
        assert len(orders) > 0.8 * len(order_nos), "most orders of the traffic migrate"
        wrong = [(order_no, code, status) for order_no, code, status in orders if statuses[code] != status]
        assert not wrong, f"orders whose app status is not their legacy one: {wrong[:5]}"

    # The accounting: source rows = migrated + merged + quarantined, per legacy table.
    dbt.run(config, target, ["test", "--select", "test_name:dispositions_balance"], quiet=True)
