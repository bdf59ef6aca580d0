"""The cutover window's compiled plan (harness/dbt/compiled_plan.py) against dbt itself: the sync
build recorded on one batch, then run on the next, leaves exactly the tables `dbt build --selector
sync` leaves on a copy of the same database with the same batch, and later dbt builds carry on
from either alike."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from harness import dbt
from harness.core import connections
from harness.core.connections import Database
from harness.core.errors import DbtFailed
from harness.dbt import compiled_plan
from harness.demo.seed import seed_legacy
from harness.sync import SYNC_BUILD
from tests.conftest import PROJECT_DIR
from tests.integration.test_dbt_models import (
    SCALE,
    SEED,
    SHARED_MAILBOX,
    STEP_1,
    STEP_2,
    apply,
    change_landing,
    fill_landing,
    query,
    table_digests,
)

pytestmark = pytest.mark.integration

LAST_BATCH = (
    "select low_watermark, high_watermark, completed_at is not null from migrate_sync.sync_batches "
    "order by started_at desc limit 1"
)
# A later batch written alike into two databases: the same rows, the same times.
LATER_BATCH = """
update landing."ORDER_HDR" set "STATUS_CD" = 'SHP', "LAST_UPD" = '2025-08-01 12:00',
    _migrate_synced_at = (select max(high_watermark) from migrate_sync.sync_batches) + interval '1 second'
where "ORDER_NO" % 50 = 3;
update landing."CUSTOMER" set _migrate_deleted = true,
    _migrate_synced_at = (select max(high_watermark) from migrate_sync.sync_batches) + interval '1 second'
where "CUST_ID" % 97 = 5;
"""
DELETES = "select app_table, count(*) from migrate_sync.sync_app_deletes group by 1 order by 1"


@pytest.fixture
def built(admin_url, tmp_path):
    """A database with oms generated, landing filled and a first dbt build done; dbt's files in tmp_path."""
    name = f"t_plan_{uuid.uuid4().hex[:10]}"
    connections.create_database(admin_url, name)
    url = connections.with_database(admin_url, name)
    copies = []
    try:
        with psycopg.connect(url) as conn:
            seed_legacy(conn, SCALE, SEED)
            conn.execute(SHARED_MAILBOX)
            fill_landing(conn)
        target = Database("target", url, "test", False)
        build(target, tmp_path, "build")

        def copy() -> Database:
            copied = f"{name}_copy"
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'create database "{copied}" template "{name}"')
            copies.append(copied)
            return Database("target", connections.with_database(admin_url, copied), "test", False)

        yield target, copy
    finally:
        for copied in copies:
            connections.drop_database(admin_url, copied)
        connections.drop_database(admin_url, name)


def build(target: Database, tmp_path, *args: str, listeners=()) -> dbt.DbtOutcome:
    files = ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
    return dbt.invoke(PROJECT_DIR, target, [*args, *files], quiet=True, listeners=listeners)


def test_compiled_plan_and_dbt_build_leave_identical_tables_on_the_same_batch(built, tmp_path):
    target, copy = built
    apply(target.url, STEP_1)
    recorder = compiled_plan.Recorder()
    recorded = build(target, tmp_path, *SYNC_BUILD, listeners=[recorder])
    plan, why = recorder.plan(target)
    assert plan is not None, why
    assert plan.counted == recorded.succeeded, "the plan builds and tests every node the recorded build did"

    # The next batch: a deleted customer back, a merge undone, updates and tombstones everywhere.
    apply(target.url, STEP_2)
    change_landing(target.url, per_mille=20, salt=5)
    by_dbt = copy()  # the plan names its database in its SQL, so dbt builds the copy
    build(by_dbt, tmp_path, *SYNC_BUILD)
    outcome = compiled_plan.run(plan, target)
    assert outcome.succeeded == recorded.succeeded
    assert table_digests(target.url) == table_digests(by_dbt.url)
    assert query(target.url, DELETES) == query(by_dbt.url, DELETES) != []
    batch = query(target.url, LAST_BATCH)
    assert batch == query(by_dbt.url, LAST_BATCH) and batch[0][2], "the same batch, completed"

    # dbt by hand carries on from the plan's batch as from its own.
    for side in (target, by_dbt):
        apply(side.url, LATER_BATCH)
        build(side, tmp_path, *SYNC_BUILD)
    assert table_digests(target.url) == table_digests(by_dbt.url)
    assert query(target.url, LAST_BATCH)[0][:2] == query(by_dbt.url, LAST_BATCH)[0][:2]


def test_a_build_of_an_empty_batch_is_no_plan(built, tmp_path):
    target, _ = built
    recorder = compiled_plan.Recorder()
    build(target, tmp_path, *SYNC_BUILD, listeners=[recorder])
    plan, why = recorder.plan(target)
    assert plan is None and "empty" in why


def test_a_failing_data_test_fails_the_plan_and_keeps_nothing(built, tmp_path):
    target, _ = built
    apply(target.url, STEP_1)
    recorder = compiled_plan.Recorder()
    build(target, tmp_path, *SYNC_BUILD, listeners=[recorder])
    plan, why = recorder.plan(target)
    assert plan is not None, why
    change_landing(target.url, per_mille=20, salt=5)
    before = table_digests(target.url)
    # A data test that finds failing rows, run last, after every model of the batch was written.
    broken = [n for n in plan.nodes if n.unique_id.endswith("assert_order_totals_equal_line_totals")]
    assert broken, [n.unique_id for n in plan.nodes]
    failing = compiled_plan.Node(
        broken[0].unique_id, "test", ("select 3 as failures, true as should_warn, true as should_error",)
    )
    sabotaged = compiled_plan.CompiledPlan(
        (*plan.nodes, failing), plan.invocation_id, plan.low_watermark, plan.high_watermark
    )
    with pytest.raises(DbtFailed, match="assert_order_totals_equal_line_totals"):
        compiled_plan.run(sabotaged, target)
    assert table_digests(target.url) == before, "one transaction: nothing of the failed plan is kept"
