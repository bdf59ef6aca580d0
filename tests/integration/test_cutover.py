"""Cutover on a schema never seen: refused by each failed gate, then freeze, final sync,
verification, switch; killed at every step and run again, and inside its switch command (then only
finished or fallen back); aborted before the switch, and never once the routing file says "new"."""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from harness import approvals, assess, backup, cutover, load, reconcile, rollback, status, sync
from harness.core.config import load_config
from harness.core.errors import CheckFailed, HarnessError
from tests.conftest import PROJECT_DIR
from tests.integration.conftest import CONFIG, landing_state, rows, source_state

pytestmark = pytest.mark.integration

CUTOVER = """
owners: {dba: Platform DBA, business_owner: Orders}
cutover:
  required_approvals: [dba]
  require_rehearsal: false
  max_lag_seconds: 30
"""


@pytest.fixture
def project(shop):
    """The shop source with a cutover section and an empty dbt project of its own."""
    config, source, target, migration, tmp_path = shop
    (tmp_path / "migration.yml").write_text(CONFIG + CUTOVER)
    (tmp_path / "dbt_project.yml").write_text("name: shop_test\nversion: '1.0'\nconfig-version: 2\nprofile: migrate\n")
    shutil.copytree(PROJECT_DIR / "profiles", tmp_path / "profiles")
    return load_config(tmp_path), source, target, migration, tmp_path


def make_ready(config, source, target, tmp_path) -> None:
    load.load(config, source, target)
    backup.backup(config, source, target, "source", tmp_path / "backups")
    backup.restore(config, source, target, f"{source.name}_check", allow_source_copy=True)
    assert reconcile.reconcile(config, source, target, ["counts", "checksums"], build=False).passed
    approvals.approve(config, target, "cutover", "dba", "Dana")


def test_cutover_is_refused_by_each_failed_gate_with_its_reason(project):
    config, source, target, migration, tmp_path = project
    with pytest.raises(cutover.GateFailed) as refused:
        cutover.run(config, source, target)
    message = str(refused.value)
    assert "approvals: no cutover approval from dba" in message
    assert "reconcile: no reconciliation has run" in message
    assert "backup: no verified backup of the source" in message
    assert "capture_lag: nothing to sync into" in message
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute("""insert into "Shop"."Tag" values ('ok', 'not frozen')""")  # a refused cutover changes nothing


def _reconcile_gate(config, source, target) -> cutover.Gate:
    return next(g for g in cutover.gates(config, source, target) if g.name == "reconcile")


def test_the_reconcile_gate_needs_a_recent_checksum_reconciliation_not_counts_alone(project):
    config, source, target, migration, tmp_path = project
    load.load(config, source, target)
    assert reconcile.reconcile(config, source, target, ["counts"], build=False).passed
    gate = _reconcile_gate(config, source, target)
    assert not gate.passed and "compared content" in gate.reason and "--level counts,checksums" in gate.reason, gate
    checked = reconcile.reconcile(config, source, target, ["counts", "checksums"], build=False)
    assert checked.passed
    assert _reconcile_gate(config, source, target).passed
    # A counts-only run since does not hide it, and catch_up's own reconciliation is never the gate's evidence.
    assert reconcile.reconcile(config, source, target, ["counts"], build=False).passed
    assert _reconcile_gate(config, source, target).passed
    with psycopg.connect(migration.target_url, autocommit=True) as conn:
        conn.execute(
            "update migrate_control.reconcile_runs set finished_at = finished_at - interval '2 hours' "
            "where reconcile_id = %s",
            (checked.reconcile_id,),
        )
    cutover.run(config, source, target, skip_gates=True, stop_before="freeze_source")
    gate = _reconcile_gate(config, source, target)
    assert not gate.passed and "older than 60 minutes" in gate.reason, gate


def test_cutover_freezes_syncs_verifies_and_switches(project, admin_url):
    config, source, target, migration, tmp_path = project
    try:
        make_ready(config, source, target, tmp_path)
        with psycopg.connect(migration.source_url, autocommit=True) as conn:
            conn.execute("""update "Shop"."Client" set "Name" = 'last write before the freeze' where "Id" = 3""")
        result = cutover.run(config, source, target)
        assert [s.name for s in result.steps] == list(cutover.STEPS)
        assert {s.name: s.detail for s in result.steps}["final_build"]["parsed_at_catch_up"]
        assert gc.get_freeze_count() == 0, "dbt's runs leave the garbage collector as they found it"
        assert result.write_unavailable_seconds is not None and result.write_unavailable_seconds < 30
        assert landing_state(migration.target_url) == source_state(migration.source_url)
        with (
            psycopg.connect(migration.source_url, autocommit=True) as conn,
            pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
        ):
            conn.execute("""insert into "Shop"."Tag" values ('late', 'refused')""")
        routing = (tmp_path / ".migrate" / "routing.json").read_text()
        assert '"writes": "new"' in routing
        assert rows(migration.target_url, "select phase from migrate_control.migration_state") == [("switched",)]
        with pytest.raises(rollback.RollbackRefused, match="already switched"):
            rollback.abort(config, source, target, decided_by="Dana", reason="test")
        # assess estimates the next window from this one, as measured.
        with psycopg.connect(migration.target_url) as conn:
            window = assess.measured_window(conn, config.control_schema)
        assert window["source"].startswith(f"cutover run {result.run_id} ")
        timed = {s.name: s.seconds for s in result.steps}
        assert window["steps"]["final_build"] == pytest.approx(timed["final_build"], abs=0.05)
    finally:
        from harness.core import connections

        connections.drop_database(admin_url, f"{source.name}_check")


def test_a_landing_that_drifted_before_the_cutover_stops_it_at_catch_up_with_nothing_frozen(project, admin_url):
    """catch_up counts both sides at one snapshot before anything is frozen."""
    config, source, target, migration, tmp_path = project
    try:
        make_ready(config, source, target, tmp_path)
        with psycopg.connect(migration.target_url, autocommit=True) as conn:
            conn.execute('delete from landing."Basket" where "ClientId" = 5')  # no change was captured for it
        with pytest.raises(
            CheckFailed,
            match=r"catch-up reconciliation failed \(counts Basket: source = landing; checksums .*Basket.*\)"
            r".*nothing was frozen",
        ):
            cutover.run(config, source, target)
        assert not (tmp_path / ".migrate" / "routing.json").exists()
        assert rows(migration.target_url, "select phase from migrate_control.migration_state") != [("frozen",)]
        with psycopg.connect(migration.source_url, autocommit=True) as conn:
            conn.execute("""insert into "Shop"."Tag" values ('still', 'writable')""")
    finally:
        from harness.core import connections

        connections.drop_database(admin_url, f"{source.name}_check")


def test_a_changed_row_that_drifted_in_the_window_stops_the_cutover_before_the_switch(project, admin_url):
    """The window compares every row changed since catch_up's counts; a failure stops the runbook at
    final_verification, with nothing switched, and an abort then leaves the source writable."""
    config, source, target, migration, tmp_path = project
    try:
        make_ready(config, source, target, tmp_path)
        cutover.run(config, source, target, stop_before="freeze_source")
        with psycopg.connect(migration.source_url, autocommit=True) as conn:
            conn.execute("""update "Shop"."Client" set "Name" = 'written after catch_up' where "Id" = 3""")
        cutover.run(config, source, target, stop_before="final_verification")
        with psycopg.connect(migration.target_url, autocommit=True) as conn:
            conn.execute("""update landing."Client" set "Name" = 'not what the source holds' where "Id" = 3""")
        with pytest.raises(
            CheckFailed,
            match="final verification failed: 1 changed rows of Client differ from the source.*nothing was switched",
        ):
            cutover.run(config, source, target)
        assert not (tmp_path / ".migrate" / "routing.json").exists()
        (compared,) = rows(
            migration.target_url,
            "select detail -> 'counts_at_catch_up' from migrate_control.steps "
            "where step = 'final_verification' and status = 'failed'",
        )[0]
        assert compared is not None, "the failed step says which counts it carried forward"
        assert rows(migration.target_url, "select phase from migrate_control.migration_state") == [("frozen",)]
        rollback.abort(config, source, target, decided_by="Dana", reason="landing drifted")
        with psycopg.connect(migration.source_url, autocommit=True) as conn:
            conn.execute("""insert into "Shop"."Tag" values ('after', 'the abort')""")
    finally:
        from harness.core import connections

        connections.drop_database(admin_url, f"{source.name}_check")


def test_the_window_compares_changed_rows_by_content_exactly_whatever_the_sessions_float_digits(project, admin_url):
    """A float that differs in its last bits: both databases print floats with extra_float_digits = 0
    (the old default), so their text looks equal; the canonical row hash of the checksums level sees it."""
    config, source, target, migration, tmp_path = project
    try:
        make_ready(config, source, target, tmp_path)
        cutover.run(config, source, target, stop_before="freeze_source")
        with psycopg.connect(migration.source_url, autocommit=True) as conn:
            conn.execute(
                """update "Shop"."Basket" set "Price" = 0.1::float8 + 0.2::float8 where ("ClientId", "Line") = (7, 1)"""
            )
        cutover.run(config, source, target, stop_before="final_verification")
        with psycopg.connect(migration.target_url, autocommit=True) as conn:
            conn.execute("""update landing."Basket" set "Price" = 0.3 where ("ClientId", "Line") = (7, 1)""")
        for url in (migration.source_url, migration.target_url):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"alter database {conn.info.dbname} set extra_float_digits = 0")
        with pytest.raises(
            CheckFailed, match="final verification failed: 1 changed rows of Basket differ from the source"
        ):
            cutover.run(config, source, target)
    finally:
        from harness.core import connections

        connections.drop_database(admin_url, f"{source.name}_check")


def test_a_drift_the_window_cannot_see_is_found_by_the_recount_after_the_switch(project, admin_url):
    """A landing row lost after catch_up's counts, never changed since: the window's comparison of
    changed rows cannot see it, the whole-table recount after the switch does, and says what to do."""
    config, source, target, migration, tmp_path = project
    try:
        make_ready(config, source, target, tmp_path)
        cutover.run(config, source, target, stop_before="freeze_source")
        with psycopg.connect(migration.target_url, autocommit=True) as conn:
            conn.execute('delete from landing."Basket" where "ClientId" = 5')
        with pytest.raises(
            CheckFailed, match="after the switch, row counts differ for Basket.*migrate rollback --check"
        ):
            cutover.run(config, source, target)
        (recount,) = rows(
            migration.target_url,
            "select detail -> 'recount' -> 'Basket' from migrate_control.steps "
            "where step = 'source_read_only' and status = 'failed'",
        )[0]
        assert recount["source"] == recount["landing"] + 3
    finally:
        from harness.core import connections

        connections.drop_database(admin_url, f"{source.name}_check")


def test_the_cutover_revokes_the_legacy_roles_writes_at_the_freeze_and_an_abort_grants_them_back(
    project, admin_url, legacy_role
):
    config, source, target, migration, tmp_path = project
    (tmp_path / "migration.yml").write_text(
        CONFIG.replace("roles: {app_role: shop_app_test}", f"roles: {{legacy_app_role: {legacy_role}}}") + CUTOVER
    )
    config = load_config(tmp_path)
    can_write = f"""select t, has_table_privilege('{legacy_role}', format('"Shop".%I', t), 'INSERT')
                    from unnest(array['Basket', 'Client', 'Tag']) t order by 1"""
    try:
        make_ready(config, source, target, tmp_path)
        cutover.run(config, source, target, stop_before="final_sync")
        assert rows(migration.source_url, can_write) == [("Basket", False), ("Client", False), ("Tag", False)]
        (revoked,) = rows(
            migration.target_url, "select detail -> 'revoked' from migrate_control.steps where step = 'freeze_source'"
        )[0]
        assert revoked == [
            "Basket: DELETE, INSERT, UPDATE",
            "Client: DELETE, INSERT, UPDATE",
            "Tag: DELETE, INSERT, TRUNCATE, UPDATE",
        ]
        rollback.abort(config, source, target, decided_by="Dana", reason="test")
        assert rows(migration.source_url, can_write) == [("Basket", True), ("Client", True), ("Tag", True)]
        with psycopg.connect(migration.source_url, user=legacy_role, autocommit=True) as app:
            app.execute("""insert into "Shop"."Tag" values ('back', 'the legacy application writes again')""")
    finally:
        from harness.core import connections

        connections.drop_database(admin_url, f"{source.name}_check")


@pytest.mark.parametrize("step", ["freeze_source", "final_sync", "final_verification", "switch"])
def test_cutover_killed_at_a_step_finishes_when_run_again(project, admin_url, step):
    config, source, target, migration, tmp_path = project
    try:
        make_ready(config, source, target, tmp_path)
        env = {**os.environ, "MIGRATE_PROJECT_DIR": str(tmp_path), "MIGRATE_CRASH_AT": f"cutover:{step}"}
        killed = subprocess.run(
            [sys.executable, "-m", "harness.cli", "cutover"], cwd=PROJECT_DIR, env=env, capture_output=True, timeout=300
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
        assert rows(migration.target_url, f"select status from migrate_control.steps where step = '{step}'") == [
            ("running",)
        ]
        result = cutover.run(config, source, target)
        assert any(s.skipped for s in result.steps), "the re-run resumes, it does not start over"
        if step in (
            "freeze_source",
            "final_sync",
        ):  # after catch_up, in the process that was killed: the re-run parses again
            assert {s.name: s.detail for s in result.steps}["final_build"]["parsed_at_catch_up"] is False
        assert landing_state(migration.target_url) == source_state(migration.source_url)
        assert rows(migration.target_url, "select phase from migrate_control.migration_state") == [("switched",)]
    finally:
        from harness.core import connections

        connections.drop_database(admin_url, f"{source.name}_check")


def test_a_cutover_killed_inside_its_switch_command_is_finished_or_fallen_back_never_aborted(project, admin_url):
    config, source, target, migration, tmp_path = project
    try:
        make_ready(config, source, target, tmp_path)
        # The switch command kills the cutover that runs it: the applications may be half switched.
        (tmp_path / "migration.yml").write_text(CONFIG + CUTOVER + "  switch_command: ['sh', '-c', 'kill -9 $PPID']\n")
        killed = subprocess.run(
            [sys.executable, "-m", "harness.cli", "cutover"],
            cwd=PROJECT_DIR,
            env={**os.environ, "MIGRATE_PROJECT_DIR": str(tmp_path)},
            capture_output=True,
            timeout=300,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
        assert rows(migration.target_url, "select phase from migrate_control.migration_state") == [("switching",)]
        assert not (tmp_path / ".migrate" / "routing.json").exists()
        with pytest.raises(rollback.RollbackRefused, match="only a fallback"):
            rollback.abort(config, source, target, decided_by="Dana", reason="killed in the switch")
        found = status.status(config, source, target)
        assert "the switch recorded" in found.next_step and "`migrate rollback` falls back" in found.next_step, (
            found.next_step
        )

        (tmp_path / "migration.yml").write_text(CONFIG + CUTOVER + "  switch_command: 'true'\n")
        finished = cutover.run(load_config(tmp_path), source, target)
        assert [s.name for s in finished.steps if not s.skipped] == ["switch", "source_read_only"]
        assert rows(migration.target_url, "select phase from migrate_control.migration_state") == [("switched",)]
        assert json.loads((tmp_path / ".migrate" / "routing.json").read_text())["writes"] == "new"
    finally:
        from harness.core import connections

        connections.drop_database(admin_url, f"{source.name}_check")


def test_a_routing_file_that_sends_a_table_to_the_new_side_forbids_an_abort(project):
    config, source, target, migration, tmp_path = project
    cutover.write_routing(config, {"Tag": "new"})  # switched by hand, outside the harness
    with pytest.raises(rollback.RollbackRefused, match="only a fallback"):
        rollback.abort(config, source, target, decided_by="Dana", reason="switched by hand")
    cutover.write_routing(config, "legacy")
    assert rollback.abort(config, source, target, decided_by="Dana", reason="switched back by hand").unfrozen == []
    (tmp_path / ".migrate" / "routing.json").write_text("{not json")
    with pytest.raises(HarnessError, match="routing file .* cannot be read"):
        rollback.abort(config, source, target, decided_by="Dana", reason="a broken routing file")


def test_rollback_before_the_switch_unfreezes_and_loses_nothing(project, admin_url):
    config, source, target, migration, tmp_path = project
    try:
        make_ready(config, source, target, tmp_path)
        # Stop the runbook after the final verification by making the switch command fail.
        (tmp_path / "migration.yml").write_text(CONFIG + CUTOVER + "  switch_command: 'false'\n")
        failing = load_config(tmp_path)
        with pytest.raises(Exception, match="the switch command failed"):
            cutover.run(failing, source, target)
        aborted = rollback.abort(failing, source, target, decided_by="Dana", reason="switch failed")
        assert sorted(aborted.unfrozen) == ["Basket", "Client", "Tag"]
        with psycopg.connect(migration.source_url, autocommit=True) as conn:
            conn.execute("""insert into "Shop"."Tag" values ('after', 'written after the rollback')""")
        from harness import sync

        sync.sync_once(failing, source, target)
        assert landing_state(migration.target_url) == source_state(migration.source_url), "capture kept running"
    finally:
        from harness.core import connections

        connections.drop_database(admin_url, f"{source.name}_check")


def test_rehearsal_runs_the_cycle_on_copies_and_opens_the_rehearsal_gate(project, admin_url):
    from harness import rehearse

    config, source, target, migration, tmp_path = project
    (tmp_path / "migration.yml").write_text(
        CONFIG + CUTOVER.replace("require_rehearsal: false", "require_rehearsal: true")
    )
    config = load_config(tmp_path)
    gate = lambda: {g.name: g for g in cutover.gates(config, source, target)}["rehearsal"]  # noqa: E731
    assert not gate().passed and "no successful rehearsal" in gate().reason
    real = reconcile.reconcile(config, source, target, ["counts"])
    reports = tmp_path / "reports"
    before = {path: path.read_bytes() for path in reports.rglob("*") if path.is_file()}
    result = rehearse.rehearse(config, source, target)
    # Reports are evidence: the rehearsal's are its own, in its folder, and say so; the real ones are untouched.
    assert {path: path.read_bytes() for path in before} == before
    assert (reports / "reconciliation" / "latest").resolve() == Path(real.files["markdown"]).parent
    assert (
        result.report.parent.parent == reports / "rehearsal"
        and (reports / "rehearsal" / "latest" / "rehearsal.md").exists()
    )
    catch_up = next(result.report.parent.glob("cutover-catch-up/*/cutover-catch-up.md")).read_text()
    assert f"rehearsal {result.rehearsal_id}, on disposable copies" in catch_up
    assert not (reports / "cutover-catch-up").exists()
    again = reconcile.reconcile(config, source, target, ["counts"])
    assert (
        Path(again.files["markdown"]).parent != Path(real.files["markdown"]).parent
        and Path(real.files["markdown"]).exists()
    )
    for name in (
        "backup",
        "restore",
        "load",
        "sync",
        "reconcile",
        "freeze_source",
        "final_verification",
        "rollback",
        "verify_after_rollback",
    ):
        assert name in result.timings
    assert gate().passed
    assert cutover.estimates(config, target)["final_sync"] >= 0
    with psycopg.connect(admin_url) as conn:
        assert conn.execute(
            "select count(*) from pg_database where datname like %s", (f"{source.name}_rehearsal%",)
        ).fetchone() == (0,)
    assert rows(migration.source_url, "select count(*) from pg_trigger where tgname = '_migrate_freeze'") == [(0,)], (
        "the real source is never frozen"
    )
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "changed.sql").write_text("select 1 as x\n")
    assert not gate().passed and "models changed since the last successful rehearsal" in gate().reason


SYNC_SELECTOR = """
selectors:
  - name: sync
    definition: {method: fqn, value: "*"}
"""


def test_each_sync_build_is_timed_for_assess_to_estimate_the_final_sync_by(project):
    """Before any cutover or rehearsal, the final sync's build is the last incremental sync build, measured."""
    config, source, target, migration, tmp_path = project
    (tmp_path / "selectors.yml").write_text(SYNC_SELECTOR)
    load.load(config, source, target)
    with psycopg.connect(migration.target_url) as conn:
        assert assess.last_sync_build(conn, config.control_schema) is None
    started = time.perf_counter()
    sync.build(config, target)
    took = time.perf_counter() - started
    sync.build(config, target, ("build",))  # a full build, as load runs: not what a final sync runs
    with psycopg.connect(migration.target_url) as conn:
        measured = assess.last_sync_build(conn, config.control_schema)
    assert 0 < measured["seconds"] <= took
    assert measured["source"].startswith("the last sync build (migrate_control.sync_state, ")
