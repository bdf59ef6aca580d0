"""Crash safety around the switch, and what `migrate status` says after a kill.

The cutover is killed (kill -9) at every step boundary in turn, and once inside the switch after
the routing file was written, while both applications write and follow the routing file; each
kill is resumed by the next run, and `migrate status` must name the interrupted run, its step and
the right next command each time. Killed before the switch intent, `migrate rollback` aborts and
nothing the legacy application wrote is lost; after the last kill, past the switch, it must fall
back: every acknowledged write of both applications ends in the legacy schema, where the
routing file sends the applications; decommission is refused while the cutover is unfinished. A
load killed inside its dbt build is reported as such and resumed by `migrate load` with the build
alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from harness import cutover, decommission, rollback, status, sync
from harness.core import connections
from harness.core.config import load_config
from harness.demo import ledger
from harness.demo.traffic import verify_after_fallback
from tests.conftest import PROJECT_DIR, run_migrate
from tests.integration.conftest import rows, traffic_in_background
from tests.integration.test_fallback import worked_example  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

CRASHING_CUTOVER = """
import dataclasses, sys
from harness import cutover
from harness.core import connections
from harness.core.config import load_config
config = load_config()
config = dataclasses.replace(
    config, cutover=dataclasses.replace(config.cutover, routing_file=sys.argv[1], switch_command=tuple(sys.argv[2:]))
)
source, target = connections.resolve(config)
cutover.run(config, source, target, skip_gates=True)
"""


def kill_cutover_at(point: str, routing, switch_command: list[str]) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", CRASHING_CUTOVER, str(routing), *switch_command],
        cwd=PROJECT_DIR,
        env={**os.environ, "MIGRATE_CRASH_AT": point},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, f"not killed at {point}: {killed.stderr[-2000:]}"


@pytest.mark.slow  # a cutover killed at each of its steps: ≈ 40 s
def test_a_cutover_killed_at_every_step_is_named_by_status_and_rolled_back_without_losing_a_write(worked_example):  # noqa: F811
    config, source, target, tmp_path = worked_example
    ledger_path, routing, switched_log = tmp_path / "ledger.jsonl", tmp_path / "routing.json", tmp_path / "switched.log"
    switch_command = ["sh", "-c", f"echo switched >> {switched_log}"]
    config = dataclasses.replace(
        config, cutover=dataclasses.replace(config.cutover, switch_command=tuple(switch_command))
    )
    with traffic_in_background(
        source, config.source_schema, ledger_path, rate=30, duration=900, workers=3, new_db=target, routing_file=routing
    ) as outcome:
        time.sleep(2)
        # Before the switch each kill leaves the run to resume or abort; the next run resumes it and
        # is killed at the next step.
        for step in cutover.STEPS[:-1]:
            kill_cutover_at(f"cutover:{step}", routing, switch_command)
            found = status.status(config, source, target)
            interrupted = found.facts["interrupted"]
            assert (interrupted["command"], interrupted["step"]) == ("cutover", step), interrupted
            assert f"cutover run {interrupted['run_id']}" in found.next_step and step in found.next_step, (
                found.next_step
            )
            assert (
                "`migrate cutover` resumes it" in found.next_step and "`migrate rollback` aborts it" in found.next_step
            ), found.next_step
            if step == "catch_up":
                assert "nothing is frozen" in found.next_step, found.next_step
        assert not routing.exists() and not switched_log.exists()

        # Inside the switch, once the routing file sends the applications to the new side, and
        # again between the switch and source_read_only: only a fallback (or finishing) is safe now.
        for point, step in (("cutover:switch:routed", "switch"), ("cutover:source_read_only", "source_read_only")):
            kill_cutover_at(point, routing, switch_command)
            assert json.loads(routing.read_text())["writes"] == "new"
            found = status.status(config, source, target)
            assert (found.facts["interrupted"]["command"], found.facts["interrupted"]["step"]) == ("cutover", step)
            assert (
                "`migrate cutover` finishes it" in found.next_step
                and "`migrate rollback` falls back" in found.next_step
            ), found.next_step
        assert switched_log.read_text() == "switched\n", "the switch command ran once, though its step ran twice"
        with pytest.raises(decommission.DecommissionRefused, match="did not finish after the switch"):
            decommission.decommission(config, source, target, directory=tmp_path / "archive")
        time.sleep(4)  # the new application writes app

        result = rollback.rollback(config, source, target, decided_by="Dana", reason="killed past the switch")
        assert result.carried["CUSTOMER"]["inserted"] > 0, "the new application's writes were carried back"
        time.sleep(3)  # the legacy application writes the legacy schema again
    report = outcome["report"]
    assert report.failed == 0, report.errors
    assert report.by_side.get("new", 0) > 10 and report.by_side.get("legacy", 0) > 10, report
    routed = json.loads(routing.read_text())
    assert routed["writes"] == "legacy" and set(routed["tables"].values()) == {"legacy"}, routed
    assert rows(target.url, "select phase from migrate_control.migration_state") == [("fallen_back",)]
    with connections.connection(target) as dst, connections.connection(source) as src:
        check = verify_after_fallback(src, config.source_schema, dst, ledger_path)
    assert check.ok, check.describe() + f" e.g. {(check.missing + check.wrong + check.resurrected)[:5]}"
    assert check.checked > 100
    assert status.status(config, source, target).facts["interrupted"] is None


def test_a_cutover_killed_at_the_switch_before_its_intent_is_aborted_without_losing_a_write(worked_example):  # noqa: F811
    """The last boundary before the switch: everything prepared, the source frozen, nothing routed.
    The abort unfreezes the source; the applications never left it, and capture kept running."""
    config, source, target, tmp_path = worked_example
    ledger_path, routing = tmp_path / "ledger.jsonl", tmp_path / "routing.json"
    with traffic_in_background(
        source, config.source_schema, ledger_path, rate=30, duration=900, workers=3, new_db=target, routing_file=routing
    ) as outcome:
        time.sleep(2)
        kill_cutover_at("cutover:switch", routing, [])
        assert "`migrate rollback` aborts it" in status.status(config, source, target).next_step
        aborted = rollback.rollback(config, source, target, decided_by="Dana", reason="killed at the switch")
        assert isinstance(aborted, rollback.Aborted) and len(aborted.unfrozen) == len(config.tables)
        time.sleep(3)  # the legacy application writes again
    report = outcome["report"]
    assert report.failed == 0 and report.refused > 0, report
    assert report.by_side == {"legacy": report.transactions} and not routing.exists()
    sync.apply_until_caught_up(config, source, target)
    with connections.connection(source) as src, connections.connection(target) as dst:
        for conn, schema in ((src, config.source_schema), (dst, config.landing_schema)):
            check = ledger.verify(conn, schema, ledger_path)
            assert check.ok and check.checked > 50, f"{schema}: {check.describe()}"
    assert status.status(config, source, target).facts["interrupted"] is None


def test_a_load_killed_in_its_dbt_build_is_named_by_status_and_resumed_by_load(shop):
    config, source, target, migration, tmp_path = shop
    (tmp_path / "dbt_project.yml").write_text("name: shop_test\nversion: '1.0'\nconfig-version: 2\nprofile: migrate\n")
    shutil.copytree(PROJECT_DIR / "profiles", tmp_path / "profiles")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "one.sql").write_text("select 1 as one\n")  # a dbt layer: the load builds it
    env = {**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path)}
    run_migrate("load", env={**env, "MIGRATE_CRASH_AT": "load:build"}, expect=-signal.SIGKILL)

    found = status.status(load_config(tmp_path), source, target)
    interrupted = found.facts["interrupted"]
    assert (interrupted["command"], interrupted["step"]) == ("load", "build"), interrupted
    assert f"load run {interrupted['run_id']}" in found.next_step and "dbt build" in found.next_step, found.next_step
    assert "`migrate load` resumes it" in found.next_step and "backup" not in found.next_step, found.next_step
    shown = run_migrate("status", env=env).stdout
    assert "`migrate load` resumes it" in shown and f"load run {interrupted['run_id']} interrupted at build" in shown, (
        shown
    )
    assert json.loads(run_migrate("status", "--json", env=env).stdout)["facts"]["interrupted"]["step"] == "build"

    resumed = run_migrate("load", env=env)
    assert "the copy was done by the interrupted run" in resumed.stdout, resumed.stdout
    assert rows(migration.target_url, "select count(*) from migrate_control.load_runs") == [(1,)], "no second copy"
    found = status.status(load_config(tmp_path), source, target)
    assert found.facts["interrupted"] is None and "backup" in found.next_step, found.next_step
