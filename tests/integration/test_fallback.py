"""The fallback after the switch, on the worked example under live traffic of both applications.

The legacy application writes while the source is loaded, synced and cut over; it follows the
routing file to the new system and writes `app`; then `migrate rollback` falls back: the new
side frozen, its changes turned into legacy rows by the reverse models (models/fallback), written
into the frozen legacy schema, verified, the applications switched back and the source unfrozen.
The one ledger of acknowledged writes of both applications must then hold in the legacy database.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from harness import cutover, dbt, load, reconcile, rollback, sync
from harness.core import connections
from harness.core.config import load_config
from harness.demo import ledger
from harness.demo.seed import seed_legacy
from harness.demo.traffic import run_traffic, verify_after_fallback
from tests.conftest import PROJECT_DIR, run_migrate

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # whole cycles under traffic, 2+ min


@pytest.fixture
def worked_example(migration, tmp_path, monkeypatch):
    """The worked example's migration.yml and dbt project on databases of this test's own."""
    monkeypatch.setenv("MIGRATE_SOURCE_URL", migration.source_url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt-target"))  # not the project's: other runs share it
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt-logs"))
    config = load_config(PROJECT_DIR)
    config = dataclasses.replace(
        config,
        cutover=dataclasses.replace(config.cutover, routing_file=str(tmp_path / "routing.json"), switch_command=None),
    )
    source, target = connections.resolve(config)
    with psycopg.connect(migration.source_url) as conn:
        seed_legacy(conn, 2_000, 11)
    load.load(config, source, target)
    dbt.run(config, target, ["build"], quiet=True)
    return config, source, target, tmp_path


def test_fallback_carries_every_acknowledged_write_of_both_applications_back(worked_example):
    config, source, target, tmp_path = worked_example
    ledger_path, routing = tmp_path / "ledger.jsonl", tmp_path / "routing.json"
    stop = threading.Event()
    outcome: dict = {}
    traffic = threading.Thread(
        target=lambda: outcome.update(
            report=run_traffic(
                source,
                config.source_schema,
                ledger_path,
                rate=40,
                duration=600,
                workers=3,
                slow_share=0.05,
                slow_seconds=1.0,
                stop=stop,
                new_db=target,
                routing_file=routing,
            )
        )
    )
    traffic.start()
    try:
        time.sleep(3)
        sync.apply(config, source, target)
        cutover.run(config, source, target, skip_gates=True)
        time.sleep(5)  # the new application writes app

        with connections.connection(target) as conn:  # after cutover: both applications' writes on the target
            legacy_check = ledger.verify(conn, config.landing_schema, ledger_path)
            assert legacy_check.ok, legacy_check.describe()

        result = rollback.rollback(config, source, target, decided_by="Dana", reason="test fallback")
        time.sleep(3)  # the legacy application writes the legacy schema again
    finally:
        stop.set()
        traffic.join()
    report = outcome["report"]
    assert report.by_side.get("new", 0) > 10 and report.by_side.get("legacy", 0) > 10, report
    assert report.failed == 0, report.errors
    # The cutover's freeze and the fallback's (a writer that read the routing just before it changed
    # may add a refusal of a few milliseconds).
    assert len([o for o in report.outages if o[1] - o[0] > 0.1]) == 2, report.outages
    assert result.carried["CUSTOMER"]["inserted"] > 0 and result.carried["ORDER_HDR"]["inserted"] > 0, result.carried

    with connections.connection(target) as dst:
        new_check = ledger.verify(dst, "app", ledger_path, app="new")  # app itself is frozen as the fallback left it
        assert new_check.ok, new_check.describe()
        with connections.connection(source) as src:
            check = verify_after_fallback(src, config.source_schema, dst, ledger_path)
    assert check.ok, check.describe() + f" e.g. {(check.missing + check.wrong + check.resurrected)[:5]}"
    assert check.checked > 100


def test_after_the_fallback_no_rollback_is_recommended_and_reconcile_compares_what_is_comparable(worked_example):
    config, source, target, tmp_path = worked_example
    before = run_migrate(
        "rollback", "--check"
    )  # no cutover yet: nothing to recommend (it exited 1, "rollback recommended")
    assert "no rollback to recommend: no cutover has begun" in before.stdout
    cutover.run(config, source, target, skip_gates=True)
    rollback.rollback(config, source, target, decided_by="Dana", reason="test")
    with pytest.raises(rollback.RollbackRefused, match="already fell back"):
        rollback.rollback(config, source, target, decided_by="Dana", reason="again")
    after = run_migrate("rollback", "--check")
    assert "no rollback to recommend: the migration already fell back" in after.stdout
    # The legacy application writes again; every level compares what is comparable and says why the rest is not.
    run_traffic(source, config.source_schema, tmp_path / "ledger.jsonl", rate=30, duration=2, workers=2)
    outcome = reconcile.reconcile(config, source, target, list(reconcile.LEVELS))
    assert outcome.passed, [
        (level.level, c.name, c.detail) for level in outcome.levels for c in level.checks if c.verdict == "failed"
    ]
    by_level = {level.level: level for level in outcome.levels}
    assert by_level["counts"].count("passed") == len(config.tables) and by_level["checksums"].verdict == "passed"
    assert all(
        c.verdict == "not available" and "fell back" in c.detail
        for c in by_level["sample"].checks + by_level["rules"].checks
    )


CRASHING_FALLBACK = """
import dataclasses, sys
from harness import rollback
from harness.core import connections
from harness.core.config import load_config
config = load_config()
config = dataclasses.replace(
    config, cutover=dataclasses.replace(config.cutover, routing_file=sys.argv[1], switch_command=None)
)
source, target = connections.resolve(config)
rollback.rollback(config, source, target, decided_by="Dana", reason="crash test")
"""


def test_a_fallback_killed_at_a_step_resumes_and_loses_nothing(worked_example):
    config, source, target, tmp_path = worked_example
    ledger_path, routing = tmp_path / "ledger.jsonl", tmp_path / "routing.json"
    cutover.run(config, source, target, skip_gates=True)
    report = run_traffic(
        source, config.source_schema, ledger_path, rate=30, duration=4, workers=2, new_db=target, start_side="new"
    )
    assert report.by_side == {"new": report.transactions} and report.transactions > 20
    for step in ("carry_back", "switch_back"):
        killed = subprocess.run(
            [sys.executable, "-c", CRASHING_FALLBACK, str(routing)],
            cwd=PROJECT_DIR,
            env={**os.environ, "MIGRATE_CRASH_AT": f"fallback:{step}"},
            capture_output=True,
            text=True,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    result = rollback.rollback(config, source, target, decided_by="Dana", reason="after the crashes")
    assert result.resumed and [s.name for s in result.steps if not s.skipped] == ["switch_back", "unfreeze_source"]
    with connections.connection(target) as dst, connections.connection(source) as src:
        check = verify_after_fallback(src, config.source_schema, dst, ledger_path)
    assert check.ok and check.checked >= report.writes // 2, check.describe()


def test_a_rehearsal_never_runs_the_real_switch_commands(worked_example):
    from harness import rehearse

    config, source, target, tmp_path = worked_example
    moved = tmp_path / "applications-moved"
    command = ("sh", "-c", f"echo moved >> {moved}")
    config = dataclasses.replace(
        config, cutover=dataclasses.replace(config.cutover, switch_command=command, switch_back_command=command)
    )
    result = rehearse.rehearse(config, source, target)
    assert result.fallback, "the worked example has reverse models: the rehearsal falls back"
    assert not moved.exists(), "a rehearsal ran a real switch command"


def test_fallback_writes_back_only_what_the_new_application_changed_whatever_its_session_set(worked_example):
    """The before images and the rows now are compared exactly, not in the text of the writer's session."""
    from harness.engines.postgres import capture

    config, source, target, _ = worked_example
    cutover.run(config, source, target, skip_gates=True)
    with psycopg.connect(target.url, autocommit=True) as conn:  # the new application, in a session of its own
        for name, value in {"TimeZone": "Pacific/Chatham", "DateStyle": "SQL, DMY", "extra_float_digits": "0"}.items():
            conn.execute("select set_config(%s, %s, false)", (name, value))
        (order_id,) = conn.execute("select min(order_id) from app.sales_order where ordered_at is not null").fetchone()
        conn.execute("update app.sales_order set notes = 'changed after the cutover' where order_id = %s", (order_id,))
    dbt.run(config, target, ["build", "--select", "tag:fallback"], quiet=True)
    with psycopg.connect(target.url) as conn:  # as the fallback reads the reverse models
        capture.use_image_settings(conn)
        written = conn.execute("select _fallback_op, _fallback_columns from fallback.legacy_order_hdr").fetchall()
    assert written == [("U", ["NOTES", "LAST_UPD"])], "ORDER_DT, unchanged, must keep its legacy value"
