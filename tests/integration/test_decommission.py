"""Decommission: refused before the switch and inside the rollback window (unless forced, with who
and why), then a verified final archive, capture gone from the source, the source still read-only,
the migration complete; a second run has nothing to do; a killed run finishes when run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from harness import approvals, cutover, decommission, load, status
from harness.core import connections, control
from harness.core.config import load_config
from harness.engines.postgres import capture, freeze
from tests.conftest import PROJECT_DIR, assert_one_clear_line, run_migrate
from tests.integration.conftest import CONFIG, rows
from tests.integration.test_cutover import make_ready, project  # noqa: F401 (project is a fixture)

pytestmark = pytest.mark.integration

OWNERS = "owners: {dba: Platform DBA, business_owner: Orders}\n"
TABLES = ["Basket", "Client", "Tag"]


@pytest.fixture
def loaded(shop):
    """The shop loaded with capture on, then frozen as the cutover leaves it; the phase is set per test."""
    config, source, target, migration, tmp_path = shop
    (tmp_path / "migration.yml").write_text(CONFIG + OWNERS)
    config = load_config(tmp_path)
    load.load(config, source, target)
    with connections.connection(source, command="test") as conn:
        freeze.freeze(conn, config.source_schema, TABLES)
    env = {**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path)}
    return config, source, target, migration, env


def set_phase(target_url: str, phase: str, window_hours: float | None = None) -> None:
    now = datetime.now(UTC)
    fields = (
        {}
        if window_hours is None
        else {"switched_at": now, "rollback_window_ends": now + timedelta(hours=window_hours)}
    )
    with psycopg.connect(target_url, autocommit=True) as conn:
        control.ensure(conn, "migrate_control")
        control.set_phase(conn, "migrate_control", phase, **fields)


def source_objects(url: str) -> dict[str, list]:
    return {
        "schemas": [
            n for (n,) in rows(url, "select nspname from pg_namespace where nspname like '\\_migrate%' order by 1")
        ],
        "triggers": sorted(
            rows(
                url,
                "select c.relname, t.tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid "
                "where t.tgname like '\\_migrate%'",
            )
        ),
    }


def test_decommission_is_refused_before_the_switch(loaded):
    config, source, target, migration, env = loaded
    before = source_objects(migration.source_url)
    refused = run_migrate("decommission", env=env, expect=1)
    assert_one_clear_line(
        refused, "decommission follows the switch, and the migration is not started: run migrate cutover first"
    )
    set_phase(migration.target_url, "frozen")
    refused = run_migrate("decommission", env=env, expect=1)
    assert_one_clear_line(refused, "the migration is in phase 'frozen'")
    assert source_objects(migration.source_url) == before


def test_decommission_is_refused_while_the_rollback_window_is_open(loaded):
    config, source, target, migration, env = loaded
    set_phase(migration.target_url, "switched", window_hours=72)
    before = source_objects(migration.source_url)
    refused = run_migrate("decommission", env=env, expect=1)
    assert_one_clear_line(
        refused, "the rollback window is open until", "(72.0 h from now)", "--force --decided-by NAME --reason TEXT"
    )
    unexplained = run_migrate("decommission", "--force", "--decided-by", "Dana", env=env, expect=2)
    assert_one_clear_line(unexplained, "--force needs --decided-by and --reason")
    assert source_objects(migration.source_url) == before
    assert rows(migration.target_url, "select phase from migrate_control.migration_state") == [("switched",)]
    assert rows(migration.target_url, "select count(*) from migrate_control.runs where command = 'decommission'") == [
        (0,)
    ]


def test_forced_decommission_archives_removes_capture_and_keeps_the_source_read_only(loaded):
    config, source, target, migration, env = loaded
    set_phase(migration.target_url, "switched", window_hours=72)
    assert {s for s in source_objects(migration.source_url)["schemas"]} == {"_migrate"}

    done = run_migrate(
        "decommission", "--force", "--decided-by", "Dana", "--reason", "the new system is signed off", env=env
    )
    assert "migration complete (rollback window cut short)" in done.stdout
    assert "Shop stays read-only (3 tables)" in " ".join(done.stdout.split())

    assert source_objects(migration.source_url) == {
        "schemas": ["_migrate_read_only"],
        "triggers": [(t, "_migrate_read_only") for t in TABLES],
    }, (
        "capture triggers, the change log, the _migrate schema and the cutover's freeze are gone; "
        "a read-only guard stays"
    )
    with (
        psycopg.connect(migration.source_url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match='"Shop" was decommissioned'),
    ):
        conn.execute("""insert into "Shop"."Tag" values ('late', 'refused')""")

    ((backup_id, file, verified_into, counts),) = rows(
        migration.target_url,
        "select backup_id, file, verified_into, row_counts from migrate_control.backups where side = 'source'",
    )
    assert Path(file).is_file() and Path(file).parent == config.project_dir / ".migrate" / "archive"
    assert counts == {"Shop.Client": 5000, "Shop.Basket": 6000, "Shop.Tag": 2}
    assert "_archive_check_" in verified_into
    assert rows(migration.target_url, f"select count(*) from pg_database where datname = '{verified_into}'") == [
        (0,)
    ], "scratch copy dropped"

    ((status_, detail),) = rows(
        migration.target_url, "select status, detail from migrate_control.runs where command = 'decommission'"
    )
    assert status_ == "succeeded"
    assert (detail["forced"], detail["decided_by"], detail["reason"], detail["backup_id"]) == (
        True,
        "Dana",
        "the new system is signed off",
        backup_id,
    )
    assert rows(
        migration.target_url,
        "select s.step, s.status from migrate_control.steps s join migrate_control.runs r using (run_id) "
        "where r.command = 'decommission' order by s.started_at",
    ) == [(s, "succeeded") for s in decommission.STEPS]
    assert rows(migration.target_url, "select phase from migrate_control.migration_state") == [("decommissioned",)]

    again = run_migrate("decommission", env=env)
    assert (
        "already decommissioned at" in again.stdout
        and f"archive backup #{backup_id}" in again.stdout
        and "nothing to do" in again.stdout
    )
    assert rows(migration.target_url, "select count(*) from migrate_control.runs where command = 'decommission'") == [
        (1,)
    ]
    assert rows(migration.target_url, "select count(*) from migrate_control.backups") == [(1,)]

    facts = status.status(config, source, target)
    assert facts.facts["capture"] == {"method": "trigger", "removed": True}
    assert facts.next_step.startswith("nothing: the migration is complete")


def test_decommission_after_the_window_needs_no_force_but_the_required_sign_off(loaded):
    config, source, target, migration, env = loaded
    (config.project_dir / "migration.yml").write_text(CONFIG + OWNERS + "decommission: {required_approvals: [dba]}\n")
    config = load_config(config.project_dir)
    set_phase(migration.target_url, "switched", window_hours=-1)
    assert status.status(config, source, target).next_step.startswith(
        "migrate decommission: the rollback window ended at"
    )

    refused = run_migrate("decommission", env=env, expect=1)
    assert_one_clear_line(
        refused, "decommission needs a sign-off from dba: migrate approve --stage decommission --role ROLE --name NAME"
    )
    approvals.approve(config, target, "decommission", "dba", "Dana")
    result = decommission.decommission(config, source, target, directory=config.project_dir / "archive")
    assert not result.forced and result.backup_id and result.read_only_tables == TABLES
    with psycopg.connect(migration.source_url) as conn:
        assert capture.state(conn, "Shop", TABLES).installed == []


@pytest.mark.parametrize("step", ["verify_archive", "remove_capture"])
def test_decommission_killed_at_a_step_finishes_when_run_again(loaded, step):
    config, source, target, migration, env = loaded
    set_phase(migration.target_url, "switched", window_hours=-1)
    killed = subprocess.run(
        [sys.executable, "-m", "harness.cli", "decommission"],
        cwd=PROJECT_DIR,
        env={**os.environ, **env, "MIGRATE_CRASH_AT": f"decommission:{step}"},
        capture_output=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert rows(migration.target_url, "select phase from migrate_control.migration_state") == [("switched",)]
    with (
        psycopg.connect(migration.source_url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        conn.execute("""insert into "Shop"."Tag" values ('late', 'refused')""")  # read-only throughout

    result = decommission.decommission(config, source, target, directory=config.project_dir / "archive")
    assert ("archive_backup", None) in result.steps, "the re-run resumes, it does not archive again"
    assert rows(migration.target_url, "select count(*) from migrate_control.backups") == [(1,)]
    assert source_objects(migration.source_url)["schemas"] == ["_migrate_read_only"]
    assert rows(migration.target_url, "select phase from migrate_control.migration_state") == [("decommissioned",)]


def test_decommission_after_a_real_cutover(project, admin_url):  # noqa: F811 (the cutover tests' fixture)
    config, source, target, migration, tmp_path = project
    try:
        make_ready(config, source, target, tmp_path)
        cutover.run(config, source, target)
        assert rows(migration.target_url, "select count(*) from pg_namespace where nspname = '_migrate'") == [(1,)], (
            "reverse capture"
        )
        env = {**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path)}
        run_migrate("decommission", "--force", "--decided-by", "Dana", "--reason", "test", env=env)
        assert source_objects(migration.source_url) == {
            "schemas": ["_migrate_read_only"],
            "triggers": [(t, "_migrate_read_only") for t in TABLES],
        }
        assert rows(migration.target_url, "select count(*) from pg_namespace where nspname = '_migrate'") == [(0,)], (
            "reverse capture removed"
        )
        assert rows(migration.target_url, "select phase from migrate_control.migration_state") == [("decommissioned",)]
    finally:
        connections.drop_database(admin_url, f"{source.name}_check")
