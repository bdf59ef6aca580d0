"""The big bang and phased cutovers on the shop schema: a big bang freezes before it loads; a
phased cutover moves one wave of tables at a time, each with its own routing entries, and the
migration is switched after the last wave; refusals are one line; a killed wave resumes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import psycopg
import pytest

from harness import approvals, backup, cutover, load, reconcile, rollback, status
from harness.core import connections
from harness.core.config import load_config
from harness.core.errors import ConfigError
from tests.conftest import PROJECT_DIR, run_migrate
from tests.integration.conftest import CONFIG, landing_state, rows, source_state

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CUTOVER = """
owners: {dba: Platform DBA}
cutover:
  required_approvals: [dba]
  require_rehearsal: false
  max_lag_seconds: 600  # the lag gate is test_cutover.py's; here the CLI calls between waves take time
  waves:
    - [Tag]
    - [Client, Basket]
"""

# Two tables of `app` made by dbt, each declaring the legacy table it comes from (model meta
# source_table): incremental, so that later runs keep the table, its triggers and its rows.
APP_MODEL = """{{{{ config(materialized='incremental', alias='{alias}', meta={{'source_table': '{source}'}}) }}}}
select * from landing."{source}" where not "_migrate_deleted"
{{% if is_incremental() %}} and false {{% endif %}}
"""


def write_project(tmp_path, strategy: str, extra: str = "") -> None:
    (tmp_path / "migration.yml").write_text(CONFIG + f"strategy: {strategy}\n" + CUTOVER + extra)


@pytest.fixture
def project(shop, admin_url):
    """The shop source with a cutover section and a small dbt project of its own."""
    config, source, target, migration, tmp_path = shop
    write_project(tmp_path, "phased")
    (tmp_path / "dbt_project.yml").write_text("name: shop_test\nversion: '1.0'\nconfig-version: 2\nprofile: migrate\n")
    shutil.copytree(PROJECT_DIR / "profiles", tmp_path / "profiles")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "app_tag.sql").write_text(APP_MODEL.format(alias="tag", source="Tag"))
    (tmp_path / "models" / "app_client.sql").write_text(APP_MODEL.format(alias="client", source="Client"))
    yield load_config(tmp_path), source, target, migration, tmp_path
    connections.drop_database(admin_url, f"{source.name}_check")


def cli(tmp_path, *args: str, expect: int = 0):
    return run_migrate(*args, env={"MIGRATE_PROJECT_DIR": str(tmp_path)}, expect=expect)


def one_line(result, *fragments: str) -> None:
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr + result.stdout, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def backed_up_and_approved(config, source, target, tmp_path) -> None:
    backup.backup(config, source, target, "source", tmp_path / "backups")
    backup.restore(config, source, target, f"{source.name}_check", allow_source_copy=True)
    approvals.approve(config, target, "cutover", "dba", "Dana")


def make_ready(config, source, target, tmp_path) -> None:
    """What a parallel run or a phased cutover needs: loaded, synced, reconciled, backed up, approved."""
    load.load(config, source, target)
    backed_up_and_approved(config, source, target, tmp_path)
    assert reconcile.reconcile(config, source, target, ["counts", "checksums"], build=False).passed


def write(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def routing(tmp_path) -> dict:
    return json.loads((tmp_path / ".migrate" / "routing.json").read_text())


def phase(url: str) -> str:
    return rows(url, "select phase from migrate_control.migration_state")[0][0]


def captured_app_tables(url: str) -> list[str]:
    return [
        name
        for (name,) in rows(
            url,
            "select c.relname from pg_trigger t join pg_class c on c.oid = t.tgrelid "
            "join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'app' "
            "and t.tgname = '_migrate_capture' order by 1",
        )
    ]


# --- big bang -----------------------------------------------------------------------------------


def test_big_bang_freezes_first_then_loads_builds_verifies_and_switches(project):
    config, source, target, migration, tmp_path = project
    write_project(tmp_path, "big_bang")
    config = load_config(tmp_path)
    backed_up_and_approved(config, source, target, tmp_path)  # nothing loaded: the big bang loads in its window
    gates = {g.name: g for g in cutover.gates(config, source, target)}
    assert set(gates) == {"approvals", "backup", "source_tables"} and all(g.passed for g in gates.values())

    refused_writes = []

    def after(step) -> None:
        if step.name == "freeze_source":
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                write(migration.source_url, """update "Shop"."Client" set "Name" = 'too late' where "Id" = 1""")
            refused_writes.append(step.name)

    result = cutover.run(config, source, target, on_step=after)
    assert refused_writes == ["freeze_source"]
    assert [s.name for s in result.steps] == list(cutover.BIG_BANG_STEPS)
    ((frozen_until, load_started),) = rows(
        migration.target_url,
        "select s.finished_at, l.started_at from migrate_control.steps s, migrate_control.load_runs l "
        "where s.step = 'freeze_source'",
    )
    assert load_started > frozen_until, "the snapshot is loaded after the freeze"
    assert landing_state(migration.target_url) == source_state(migration.source_url)
    assert rows(migration.target_url, "select count(*) from app.tag") == [(2,)], "the full build ran"
    assert rows(migration.target_url, "select status from migrate_control.reconcile_runs") == [("passed",)], (
        "counts and checksums verified"
    )
    assert routing(tmp_path)["writes"] == "new" and set(routing(tmp_path)["tables"].values()) == {"new"}
    assert phase(migration.target_url) == "switched"
    assert result.write_unavailable_seconds is not None and result.write_unavailable_seconds > 0
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        write(migration.source_url, """insert into "Shop"."Tag" values ('late', 'refused')""")

    again = cli(tmp_path, "cutover", expect=2)
    one_line(again, "the migration is already switched", "nothing to cut over")


def test_big_bang_killed_inside_its_switch_cannot_be_aborted_and_finishes_when_run_again(project):
    config, source, target, migration, tmp_path = project
    write_project(tmp_path, "big_bang")
    config = load_config(tmp_path)
    backed_up_and_approved(config, source, target, tmp_path)
    env = {**os.environ, "MIGRATE_PROJECT_DIR": str(tmp_path), "MIGRATE_CRASH_AT": "cutover:switch:routed"}
    killed = subprocess.run(
        [sys.executable, "-m", "harness.cli", "cutover"], cwd=PROJECT_DIR, env=env, capture_output=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert routing(tmp_path)["writes"] == "new" and phase(migration.target_url) == cutover.SWITCHING
    with pytest.raises(rollback.RollbackRefused, match="recorded its switch"):
        rollback.abort(config, source, target, decided_by="Dana", reason="killed in the switch")
    assert "`migrate rollback` falls back" in status.status(config, source, target).next_step

    assert cli(tmp_path, "cutover").stdout.count("done earlier") == len(cutover.BIG_BANG_STEPS) - 2
    assert phase(migration.target_url) == "switched" and routing(tmp_path)["writes"] == "new"
    assert rows(migration.target_url, "select status from migrate_control.runs where command = 'cutover'") == [
        ("succeeded",)
    ]


def test_big_bang_dry_run_prints_its_plan_and_wave_options_are_refused(project):
    config, source, target, migration, tmp_path = project
    write_project(tmp_path, "big_bang")
    dry = cli(tmp_path, "cutover", "--dry-run", expect=1)
    assert "strategy big bang" in dry.stdout
    for step in ("freeze_source", "load", "build", "final_verification", "switch"):
        assert step in dry.stdout
    assert "catch_up" not in dry.stdout and "capture_lag" not in dry.stdout
    one_line(dry, "cutover would be refused (approvals, backup)")
    one_line(cli(tmp_path, "cutover", "--wave", "1", expect=2), "--wave is for strategy phased", "big_bang")
    assert rows(migration.source_url, "select count(*) from pg_trigger where tgname = '_migrate_freeze'") == [(0,)]


# --- phased -------------------------------------------------------------------------------------


def test_phased_cutover_moves_one_wave_at_a_time(project):
    config, source, target, migration, tmp_path = project
    make_ready(config, source, target, tmp_path)
    one_line(cli(tmp_path, "cutover", "--wave", "3", expect=2), "--wave 3 is out of range", "2 wave(s)")
    one_line(cli(tmp_path, "cutover", "--wave", "2", expect=2), "wave 2 comes after wave 1 (Tag)")

    first = cutover.run(config, source, target)
    assert first.plan.wave == 1 and [s.name for s in first.steps] == list(cutover.STEPS)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        write(migration.source_url, """insert into "Shop"."Tag" values ('late', 'refused')""")
    write(
        migration.source_url, """update "Shop"."Client" set "Name" = 'written between the waves' where "Id" = 7"""
    )  # wave 2: not frozen
    assert routing(tmp_path)["writes"] == "legacy" and routing(tmp_path)["tables"] == {
        "Client": "legacy",
        "Basket": "legacy",
        "Tag": "new",
    }
    assert phase(migration.target_url) == cutover.PARTLY_SWITCHED
    assert captured_app_tables(migration.target_url) == ["tag"], (
        "only the app table made from the switched wave is reverse-captured"
    )
    facts = status.status(config, source, target).facts
    assert [w["state"] for w in facts["strategy"]["waves"]] == ["cut over", "pending"]

    one_line(cli(tmp_path, "cutover", "--wave", "1", expect=2), "wave 1 (Tag) is already cut over")
    assert "wave 2 of 2: Client, Basket" in cli(tmp_path, "cutover", "--dry-run").stdout
    shown = cli(tmp_path, "status")
    assert "phased: 1 of 2 waves cut over (1)" in shown.stdout and "migrate cutover --wave 2" in shown.stdout

    second = cli(tmp_path, "cutover")
    assert "wave 2 of 2: Client, Basket" in second.stdout and "every wave is cut over" in second.stdout
    assert landing_state(migration.target_url) == source_state(migration.source_url), (
        "the write between the waves reached the target"
    )
    assert rows(migration.target_url, """select "Name" from landing."Client" where "Id" = 7""") == [
        ("written between the waves",)
    ]
    assert routing(tmp_path)["writes"] == "new" and set(routing(tmp_path)["tables"].values()) == {"new"}
    assert phase(migration.target_url) == "switched"
    assert captured_app_tables(migration.target_url) == ["client", "tag"]
    waves = rows(
        migration.target_url,
        "select detail ->> 'wave', detail ? 'write_unavailable_seconds' from migrate_control.runs "
        "where command = 'cutover' and status = 'succeeded' order by run_id",
    )
    assert waves == [("1", True), ("2", True)]
    assert "phased: 2 of 2 waves cut over" in cli(tmp_path, "status").stdout
    one_line(cli(tmp_path, "cutover", expect=2), "already switched")


def test_phased_wave_killed_at_a_step_finishes_when_run_again(project):
    config, source, target, migration, tmp_path = project
    make_ready(config, source, target, tmp_path)
    env = {**os.environ, "MIGRATE_PROJECT_DIR": str(tmp_path), "MIGRATE_CRASH_AT": "cutover:switch"}
    killed = subprocess.run(
        [sys.executable, "-m", "harness.cli", "cutover", "--wave", "1"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    one_line(cli(tmp_path, "cutover", "--wave", "2", expect=2), "wave 1 (Tag) is under way", "--wave 1")
    assert "wave 1 (Tag) is under way" in status.status(config, source, target).next_step

    resumed = cutover.run(config, source, target)
    assert resumed.resumed and resumed.plan.wave == 1 and any(s.skipped for s in resumed.steps)
    assert routing(tmp_path)["tables"] == {"Client": "legacy", "Basket": "legacy", "Tag": "new"}
    assert phase(migration.target_url) == cutover.PARTLY_SWITCHED

    env["MIGRATE_CRASH_AT"] = "cutover:final_verification"
    killed = subprocess.run(
        [sys.executable, "-m", "harness.cli", "cutover"], cwd=PROJECT_DIR, env=env, capture_output=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert cli(tmp_path, "cutover").stdout.count("done earlier") >= 4
    assert landing_state(migration.target_url) == source_state(migration.source_url)
    assert phase(migration.target_url) == "switched" and routing(tmp_path)["writes"] == "new"


def test_phased_wave_aborted_before_its_switch_leaves_the_earlier_waves_switched(project):
    """Aborting wave 2 (frozen, not switched) undoes wave 2 only: wave 1's source table stays
    frozen and its app table captured, for a fallback must carry back what the new side wrote."""
    config, source, target, migration, tmp_path = project
    make_ready(config, source, target, tmp_path)
    cutover.run(config, source, target)  # wave 1
    env = {**os.environ, "MIGRATE_PROJECT_DIR": str(tmp_path), "MIGRATE_CRASH_AT": "cutover:final_verification"}
    killed = subprocess.run(
        [sys.executable, "-m", "harness.cli", "cutover"], cwd=PROJECT_DIR, env=env, capture_output=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert captured_app_tables(migration.target_url) == ["client", "tag"], "wave 2's catch_up captured its app table"

    aborted = rollback.abort(config, source, target, decided_by="Dana", reason="wave 2 postponed")
    assert sorted(aborted.unfrozen) == ["Basket", "Client"]
    write(migration.source_url, """update "Shop"."Client" set "Name" = 'after the abort' where "Id" = 7""")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        write(migration.source_url, """insert into "Shop"."Tag" values ('late', 'refused')""")
    assert captured_app_tables(migration.target_url) == ["tag"]
    assert phase(migration.target_url) == cutover.PARTLY_SWITCHED
    assert routing(tmp_path)["tables"] == {"Client": "legacy", "Basket": "legacy", "Tag": "new"}

    again = cutover.run(config, source, target)
    assert again.plan.wave == 2 and not again.resumed
    assert phase(migration.target_url) == "switched" and captured_app_tables(migration.target_url) == ["client", "tag"]
    assert rows(migration.target_url, """select "Name" from landing."Client" where "Id" = 7""") == [
        ("after the abort",)
    ]


def test_phased_wave_killed_past_its_switch_cannot_be_aborted(project):
    """Wave 2 killed between its switch and source_read_only: its tables are routed to the new
    side, so aborting it (unfreezing their source tables) would split the writes in two."""
    config, source, target, migration, tmp_path = project
    make_ready(config, source, target, tmp_path)
    cutover.run(config, source, target)  # wave 1
    env = {**os.environ, "MIGRATE_PROJECT_DIR": str(tmp_path), "MIGRATE_CRASH_AT": "cutover:source_read_only"}
    killed = subprocess.run(
        [sys.executable, "-m", "harness.cli", "cutover"], cwd=PROJECT_DIR, env=env, capture_output=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert routing(tmp_path)["writes"] == "new" and phase(migration.target_url) == "switched"
    with pytest.raises(rollback.RollbackRefused, match="only a fallback"):
        rollback.abort(config, source, target, decided_by="Dana", reason="wave 2 postponed")
    next_step = status.status(config, source, target).next_step
    assert (
        "wave 2 (Client, Basket) is under way" in next_step and "`migrate cutover --wave 2` finishes it" in next_step
    ), next_step

    assert cli(tmp_path, "cutover", "--wave", "2").stdout.count("done earlier") == 9
    assert (
        phase(migration.target_url) == "switched" and status.status(config, source, target).facts["interrupted"] is None
    )


def test_a_later_wave_does_not_count_what_the_new_application_did_to_an_earlier_one(project):
    """Wave 2's catch_up counts only the tables still written by the legacy application: a row the
    new application deleted from wave 1's app table is no drift (a dispositions view of the shop,
    app rows + nothing merged or quarantined, would show it as a row unaccounted for)."""
    config, source, target, migration, tmp_path = project
    make_ready(config, source, target, tmp_path)
    cutover.run(config, source, target)  # wave 1: Tag
    live = """select count(*) from landing."{}" where not _migrate_deleted"""
    write(
        migration.target_url,
        f"""
        create schema if not exists quarantine;
        create view quarantine.dispositions as
        select 'Tag' as source_table, ({live.format("Tag")}) as source_rows, (select count(*) from app.tag) as migrated,
               0 as merged, 0 as quarantined
        union all select 'Client', ({live.format("Client")}), ({live.format("Client")}), 0, 0
        union all select 'Basket', ({live.format("Basket")}), ({live.format("Basket")}), 0, 0""",
    )
    write(
        migration.target_url, "delete from app.tag where ctid = (select min(ctid) from app.tag)"
    )  # the new application

    second = cutover.run(config, source, target)
    assert second.plan.wave == 2 and phase(migration.target_url) == "switched"
    report = (tmp_path / "reports" / "cutover-catch-up" / "latest" / "cutover-catch-up.md").read_text()
    assert "Client: rows = migrated + merged + quarantined" in report and "Tag:" not in report, (
        "wave 1's table is counted out"
    )


# --- waves in migration.yml, and the routing file a fallback writes ----------------------------


@pytest.mark.parametrize(
    ("waves", "message"),
    [
        ("[[Tag], [Client]]", "cutover.waves leaves out Basket"),
        ("[[Tag, Client], [Client, Basket]]", "cutover.waves names Client more than once"),
        ("[[Tag], [Client, Basket, Orders]]", "cutover.waves names Orders, which are not under 'tables'"),
        ("[Tag, Client, Basket]", "cutover.waves must be a list of waves"),
    ],
)
def test_waves_must_name_every_table_exactly_once(tmp_path, waves, message):
    (tmp_path / "migration.yml").write_text(CONFIG + f"strategy: phased\ncutover:\n  waves: {waves}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path)
    result = cli(tmp_path, "cutover", expect=2)
    one_line(result, message)


def test_phased_needs_waves(tmp_path):
    (tmp_path / "migration.yml").write_text(CONFIG + "strategy: phased\n")
    with pytest.raises(ConfigError, match="strategy phased needs cutover.waves"):
        load_config(tmp_path)


def test_routing_back_to_legacy_covers_every_table(tmp_path):
    (tmp_path / "migration.yml").write_text(CONFIG + "strategy: phased\n" + CUTOVER)
    config = load_config(tmp_path)
    cutover.write_routing(config, {"Tag": "new"})
    assert routing(tmp_path)["writes"] == "legacy" and routing(tmp_path)["tables"]["Tag"] == "new"
    cutover.write_routing(config, "legacy")  # what a fallback writes, after any wave
    assert routing(tmp_path)["writes"] == "legacy" and set(routing(tmp_path)["tables"].values()) == {"legacy"}
