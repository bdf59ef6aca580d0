"""The cutover beside a running `migrate sync --follow`, on the worked example under live traffic:
the follower yields to the cutover (no dbt build of its own while the cutover builds) and stops
once the source is frozen; the cutover succeeds and every acknowledged write is in landing."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psycopg
import pytest

from harness import cutover
from harness.core import connections
from harness.demo import ledger
from tests.conftest import PROJECT_DIR
from tests.integration.conftest import traffic_in_background
from tests.integration.test_fallback import worked_example  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a whole cycle under traffic


def test_cutover_beside_a_running_sync_follow_succeeds_and_loses_nothing(worked_example):  # noqa: F811
    config, source, target, tmp_path = worked_example
    ledger_path, routing = tmp_path / "ledger.jsonl", tmp_path / "routing.json"
    follower = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "sync", "--follow", "--interval", "0.2", "--build-every", "0.5"],
        cwd=PROJECT_DIR,
        env={**os.environ, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with traffic_in_background(
            source,
            config.source_schema,
            ledger_path,
            rate=30,
            duration=600,
            workers=2,
            new_db=target,
            routing_file=routing,
        ) as outcome:
            time.sleep(8)  # the follower syncs and builds beside the legacy writes
            assert follower.poll() is None, follower.communicate()[0]
            result = cutover.run(config, source, target, skip_gates=True)
            assert result.steps[-1].name == "source_read_only"
            # Once the source is frozen and the cutover switched, the follower has nothing left to follow.
            output, _ = follower.communicate(timeout=30)
            assert follower.returncode == 0, output
            assert "the source is frozen for the cutover" in output, output
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert outcome["report"].by_side.get("legacy", 0) > 20, outcome["report"]
    with connections.connection(target) as conn:
        check = ledger.verify(conn, config.landing_schema, ledger_path)
    assert check.ok, check.describe()
    with psycopg.connect(os.environ["MIGRATE_TARGET_URL"]) as conn:
        assert conn.execute("select phase from migrate_control.migration_state").fetchone() == ("switched",)
