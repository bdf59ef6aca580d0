"""The rollback criteria after the switch, each met and not met on real figures; `rollback --check`
changes nothing; only a decider may roll back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from harness import approvals, load, reconcile
from harness.core import control
from harness.core.config import load_config
from harness.rollback import criteria as rollback_criteria
from tests.conftest import assert_one_clear_line, run_migrate
from tests.integration.conftest import CONFIG, rows

pytestmark = pytest.mark.integration

ROLLBACK = """
owners: {migration_lead: Data, business_owner: Orders, dba: DBA}
rollback:
  deciders: [migration_lead, business_owner]
  criteria:
    - {name: verification failed, kind: verification}
    - {name: data loss found, kind: data_loss}
    - name: error rate
      kind: metric
      sql: select count(*) filter (where failed)::float / count(*) from ops.requests
      max: 0.02
"""


@pytest.fixture
def project(shop):
    config, source, target, migration, tmp_path = shop
    (tmp_path / "migration.yml").write_text(CONFIG + ROLLBACK)
    with psycopg.connect(migration.target_url, autocommit=True) as conn:
        # The new application's request log: the error rate criterion reads it.
        conn.execute(
            "create schema ops; "
            "create table ops.requests (id int generated always as identity, failed boolean not null)"
        )
    env = {**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path)}
    return load_config(tmp_path), source, target, migration, env


def switched(target_url: str, schema: str = "migrate_control") -> None:
    """The phase a finished cutover leaves (the cutover itself is tested in test_cutover.py)."""
    now = datetime.now(UTC)
    with psycopg.connect(target_url, autocommit=True) as conn:
        control.ensure(conn, schema)
        control.set_phase(conn, schema, "switched", switched_at=now, rollback_window_ends=now + timedelta(hours=72))


def requests(target_url: str, ok: int, failed: int) -> None:
    with psycopg.connect(target_url, autocommit=True) as conn:
        conn.execute("truncate ops.requests")
        conn.execute("insert into ops.requests (failed) select i > %s from generate_series(1, %s) i", (ok, ok + failed))


def by_name(verdicts):
    return {v.name: v for v in verdicts}


def test_criteria_are_not_met_on_a_green_reconcile_and_a_low_error_rate(project):
    config, source, target, migration, env = project
    load.load(config, source, target)
    switched(migration.target_url)
    assert reconcile.reconcile(config, source, target, ["counts", "checksums"], build=False).passed
    requests(migration.target_url, ok=990, failed=10)

    found = by_name(rollback_criteria.evaluate(config, source, target))
    assert [v.state for v in found.values()] == ["not met"] * 4
    assert found["verification failed"].figure.startswith("reconcile #1 passed")
    assert "every row check passed (counts, checksums)" in found["data loss found"].figure
    assert (found["error rate"].figure, found["error rate"].limit) == ("0.01", "≤ 0.02")
    assert found["manual decision"].kind == "manual", "a manual decision is always evaluated"


def test_a_failed_reconcile_after_the_switch_meets_verification_and_data_loss(project):
    config, source, target, migration, env = project
    load.load(config, source, target)
    switched(migration.target_url)
    with psycopg.connect(migration.target_url, autocommit=True) as conn:
        conn.execute('delete from landing."Tag" where "Code" = \'b\'')  # a row lost on the new side
    assert not reconcile.reconcile(config, source, target, ["counts"], build=False).passed

    found = by_name(rollback_criteria.evaluate(config, source, target))
    assert found["verification failed"].state == "met"
    assert "failed" in found["verification failed"].figure and "(counts)" in found["verification failed"].figure
    assert found["data loss found"].state == "met"
    assert "Tag: source = landing (1 rows missing from landing)" in found["data loss found"].figure


def test_a_reconcile_before_the_switch_does_not_count(project):
    config, source, target, migration, env = project
    load.load(config, source, target)
    with psycopg.connect(migration.target_url, autocommit=True) as conn:
        conn.execute('delete from landing."Tag" where "Code" = \'b\'')
    assert not reconcile.reconcile(config, source, target, ["counts"], build=False).passed
    switched(migration.target_url)

    found = by_name(rollback_criteria.evaluate(config, source, target))
    assert found["verification failed"].state == "cannot tell"
    assert found["verification failed"].figure == "no verification since the switch"
    assert found["data loss found"].state == "cannot tell"
    no_requests = found["error rate"]
    assert (no_requests.state, no_requests.limit, no_requests.detail) == (
        "cannot tell",
        "≤ 0.02",
        "failed: division by zero",
    )


def test_an_error_rate_over_its_limit_recommends_a_rollback_and_check_changes_nothing(project):
    config, source, target, migration, env = project
    switched(migration.target_url)
    requests(migration.target_url, ok=995, failed=5)
    calm = run_migrate("rollback", "--check", env=env, expect=0)
    assert "no rollback criterion is met" in calm.stdout
    assert "cannot tell: verification failed, data loss found" in calm.stdout

    requests(migration.target_url, ok=95, failed=5)
    before = rows(migration.target_url, "select phase, changed_at from migrate_control.migration_state")
    alarmed = run_migrate("rollback", "--check", env=env, expect=1)
    assert_one_clear_line(alarmed, "rollback recommended: error rate (0.05)", "migration_lead, business_owner")
    assert "0.05" in alarmed.stdout and "≤ 0.02" in alarmed.stdout

    assert rows(migration.target_url, "select phase, changed_at from migrate_control.migration_state") == before
    assert rows(migration.target_url, "select command, status from migrate_control.runs order by run_id") == [
        ("rollback check", "succeeded"),
        ("rollback check", "succeeded"),
    ]
    assert rows(
        migration.target_url,
        "select run_id, state, figure, threshold from migrate_control.rollback_checks "
        "where criterion = 'error rate' order by run_id",
    ) == [(1, "not met", "0.005", "≤ 0.02"), (2, "met", "0.05", "≤ 0.02")]


def test_a_metric_command_prints_its_figure(project, tmp_path):
    config, source, target, migration, env = project
    switched(migration.target_url)
    text = (
        CONFIG
        + ROLLBACK
        + "    - {name: queue depth, kind: metric, command: [sh, -c, 'echo checking; echo 250'], max: 100}\n"
    )
    (config.project_dir / "migration.yml").write_text(text)
    found = by_name(rollback_criteria.evaluate(load_config(config.project_dir), source, target))
    assert (found["queue depth"].state, found["queue depth"].figure, found["queue depth"].limit) == (
        "met",
        "250",
        "≤ 100",
    )


def test_latency_is_measured_now_against_the_performance_limits(project):
    config, source, target, migration, env = project
    switched(migration.target_url)
    slow = (
        CONFIG
        + ROLLBACK
        + """    - {name: latency, kind: latency}
reconcile:
  performance_queries:
    - {name: sleepy read, sql: select pg_sleep(0.02), p95_ms: 5, runs: 3}
"""
    )
    (config.project_dir / "migration.yml").write_text(slow)
    found = by_name(rollback_criteria.evaluate(load_config(config.project_dir), source, target))["latency"]
    assert found.state == "met"
    assert found.figure.startswith("sleepy read p95 ") and found.figure.endswith("ms > 5 ms")
    assert float(found.figure.split("p95 ")[1].split(" ms")[0]) >= 20

    (config.project_dir / "migration.yml").write_text(slow.replace("p95_ms: 5", "p95_ms: 5000"))
    found = by_name(rollback_criteria.evaluate(load_config(config.project_dir), source, target))["latency"]
    assert (found.state, found.limit) == ("not met", "p95 ≤ 5000 ms (sleepy read)")


def test_a_manual_decision_counts_only_from_a_decider_after_the_switch(project):
    config, source, target, migration, env = project
    approvals.approve(
        config, target, "rollback", "business_owner", "Bea", "rollback procedure reviewed"
    )  # before: a sign-off of the plan
    switched(migration.target_url)
    approvals.approve(config, target, "rollback", "dba", "Dana", "I want out")
    manual = by_name(rollback_criteria.evaluate(config, source, target))["manual decision"]
    assert manual.state == "not met"
    assert "Dana (dba) is not a decider" in manual.detail

    approvals.approve(config, target, "rollback", "business_owner", "Bea", "orders are failing")
    manual = by_name(rollback_criteria.evaluate(config, source, target))["manual decision"]
    assert manual.state == "met"
    assert manual.figure.startswith("Bea (business_owner) decided at") and manual.figure.endswith(
        ": orders are failing"
    )


def test_only_a_decider_may_roll_back(project):
    config, source, target, migration, env = project
    refused = run_migrate("rollback", "--role", "dba", "--decided-by", "Dana", "--reason", "slow", env=env, expect=2)
    assert_one_clear_line(
        refused, "role 'dba' may not decide a rollback: the deciders are migration_lead, business_owner"
    )
    missing = run_migrate("rollback", "--decided-by", "Dana", env=env, expect=2)
    assert_one_clear_line(missing, "a rollback needs --role, --reason")
    mixed = run_migrate("rollback", "--check", "--role", "dba", env=env, expect=2)
    assert_one_clear_line(mixed, "--check only evaluates the criteria")
    assert rows(migration.target_url, "select count(*) from pg_namespace where nspname = 'migrate_control'") == [
        (0,)
    ], "nothing was touched"

    with pytest.raises(rollback_criteria.RollbackNotAuthorized, match="--role is needed"):
        rollback_criteria.authorize(config, None)
    rollback_criteria.authorize(config, "business_owner")
    decided = run_migrate("rollback", "--role", "migration_lead", "--decided-by", "Lee", "--reason", "test", env=env)
    assert "rolled back" in decided.stdout
