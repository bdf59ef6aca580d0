"""The whole lifecycle on a project `migrate init` wrote, with no hand edit, under generic traffic
(`migrate demo traffic --generic`'s writers, following the routing file): provision, load, sync,
backup and a proven restore, reconcile, rehearsal, approval, then the cutover with its gates, the
new application writing `app`, the fallback, a second cutover and the decommission. The one
ledger of acknowledged writes is checked after the cutover (landing and `app`) and after the
fallback (the source, the new application's writes in their legacy form)."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from harness.core.config import load_config
from harness.demo import ledger
from harness.demo.generic_traffic import verify_after_cutover, verify_after_fallback
from tests.conftest import run_migrate
from tests.integration.conftest import allow_lag, generic_traffic

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Several shapes: a composite key, a text key, a self-reference, declared and undeclared
# relationships, names that need quoting, converted types (money, json, "char") and a masked column.
SOURCE = """
create schema "Shop";
set search_path = "Shop";
create table "Customer" ("CustID" integer primary key, "Full Name" varchar(80) not null, "E-Mail" varchar(120),
    balance money, "ReferredBy" integer references "Customer", "Flag" "char", created timestamp, notes text);
create table "Order Items" ("OrderNo" bigint, "LineNo" smallint, "CustID" integer references "Customer",
    qty numeric(10,2) check (qty > 0), payload json, tags text[], primary key ("OrderNo", "LineNo"));
create table tag (code varchar(12) primary key, label text, score double precision, customer_id integer);
insert into "Customer" select i, 'Name ' || i, 'user' || i || '@example.com', i * 1.5,
    case when i > 10 then i % 10 + 1 end, 'x', timestamp '2020-01-01' + i * interval '1 hour', null
    from generate_series(1, 300) i;
insert into "Order Items" select i / 3, i % 3, 1 + i % 300, i % 7 + 1, json_build_object('i', i), array['a', 'b']
    from generate_series(3, 900) i;
insert into tag select 't' || i, 'label ' || i, i / 3.0, i from generate_series(1, 60) i;
"""


@pytest.fixture
def project(migration, tmp_path, monkeypatch):
    for name in ("MIGRATE_PROJECT_DIR", "MIGRATE_SOURCE_URL", "MIGRATE_TARGET_URL", "MIGRATE_ROUTING_FILE"):
        monkeypatch.delenv(name, raising=False)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(SOURCE)
    folder = tmp_path / "my-migration"
    run_migrate(
        "init",
        str(folder),
        "--source-url",
        migration.source_url,
        "--target-url",
        migration.target_url,
        "--schema",
        "Shop",
    )
    allow_lag(folder)
    return folder


def test_scaffolded_project_cuts_over_falls_back_and_decommissions_under_traffic(migration, project, admin_url):
    folder = project
    ledger_path = folder / ".migrate" / "ledger.jsonl"
    run_migrate("provision", cwd=folder)
    run_migrate("load", cwd=folder)
    scratch = f"t_scratch_{uuid.uuid4().hex[:8]}"
    try:
        with generic_traffic(folder, ledger_path) as before_fallback:
            time.sleep(3)
            run_migrate("sync", cwd=folder)
            run_migrate("backup", cwd=folder)
            run_migrate("restore", "--into", scratch, "--allow-source-copy", cwd=folder)
            run_migrate("reconcile", cwd=folder)
            run_migrate("rehearse", cwd=folder)
            run_migrate("approve", "--role", "dba", "--name", "Dana", cwd=folder)
            run_migrate("sync", "--no-build", cwd=folder)  # caught up again, as without sync --follow
            run_migrate("cutover", cwd=folder)  # every gate met, none skipped
            time.sleep(4)  # the new application writes app
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{scratch}"')
    # Checked while nothing writes: the source's writes in landing, the new application's in app.
    after_cutover = verify_after_cutover(load_config(folder), ledger_path)
    assert after_cutover.ok, after_cutover.describe() + str(after_cutover.missing + after_cutover.wrong)
    with generic_traffic(folder, ledger_path) as after_switch:  # the new application, until the fallback
        time.sleep(2)
        run_migrate(
            "rollback", "--decided-by", "Dana", "--role", "dba", "--reason", "rehearsing the fallback", cwd=folder
        )
        time.sleep(3)  # the source application writes again
    for outcome in (before_fallback, after_switch):
        assert outcome["report"].failed == 0, outcome["report"].errors
    sides = {
        side: before_fallback["report"].by_side.get(side, 0) + after_switch["report"].by_side.get(side, 0)
        for side in ("legacy", "new")
    }
    assert sides["new"] > 10 and sides["legacy"] > 10, sides
    assert {"insert", "update", "change_key", "delete"} <= set(before_fallback["report"].by_kind)
    written_new = ledger.entries(ledger_path, app="new")
    assert len(written_new) > 10 and {e["op"] for e in written_new} >= {"I", "U", "D"}, len(written_new)
    after_fallback = verify_after_fallback(load_config(folder), ledger_path)
    assert after_fallback.ok, after_fallback.describe() + str(after_fallback.missing + after_fallback.wrong)
    assert after_fallback.checked > 100

    # Again, as status says after a fallback: the target rebuilt from the legacy data, then the cutover.
    run_migrate("sync", "--no-build", cwd=folder)
    run_migrate("build", "--full-refresh", cwd=folder)
    run_migrate("cutover", cwd=folder)
    done = run_migrate("decommission", "--force", "--decided-by", "Dana", "--reason", "rehearsal over", cwd=folder)
    assert "decommission" in done.stdout.lower()
