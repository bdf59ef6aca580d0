"""A migration scaffolded by `migrate init` from a MariaDB source, run through the whole lifecycle
while the generic writers write (`migrate demo traffic --generic`'s, following the routing file):
provision, load, sync, backup and a proven restore, reconcile, rehearsal, approval, the cutover
with its gates, the new application writing `app`, the fallback carrying its writes back into
MariaDB, a second cutover and the decommission. The one ledger of acknowledged writes is checked
after the cutover (landing and `app`) and after the fallback (the MariaDB tables), as
tests/integration/test_init_lifecycle.py does for a PostgreSQL source."""

from __future__ import annotations

import time
import uuid

import pytest

from harness.core.config import load_config
from harness.demo import ledger
from harness.demo.generic_traffic import verify_after_cutover, verify_after_fallback
from tests.conftest import run_migrate
from tests.integration.conftest import allow_lag, generic_traffic
from tests.integration.mysql.conftest import fetch, run_sql

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Names that need quoting, an AUTO_INCREMENT self-referencing key, a composite key with a declared
# foreign key and a check, a text key with an undeclared reference, and MySQL's own types.
SOURCE = """
create table `Customer` (`CustID` int primary key auto_increment, `Full Name` varchar(80) not null,
    `E-Mail` varchar(120), balance decimal(12,2), `ReferredBy` int, `Flag` enum('x', 'y', 'z'),
    created datetime(6), notes text, active tinyint(1) not null default 1,
    constraint customer_referrer foreign key (`ReferredBy`) references `Customer` (`CustID`)) engine=InnoDB;
create table `Order Items` (`OrderNo` bigint unsigned, `LineNo` smallint, `CustID` int,
    qty decimal(10,2) check (qty > 0), payload json, tags set('a', 'b', 'c'), primary key (`OrderNo`, `LineNo`),
    constraint item_customer foreign key (`CustID`) references `Customer` (`CustID`)) engine=InnoDB;
create table tag (code varchar(12) primary key, label text, score double, customer_id int) engine=InnoDB;
insert into `Customer` (`CustID`, `Full Name`, `E-Mail`, balance, `ReferredBy`, `Flag`, created, notes)
    select seq, concat('Name ', seq), concat('user', seq, '@example.com'), seq * 1.5,
           if(seq > 10, seq % 10 + 1, null), elt(1 + seq % 3, 'x', 'y', 'z'),
           timestamp '2020-01-01 00:00:00' + interval seq hour, null
    from seq_1_to_300;
insert into `Order Items` select seq div 3, seq mod 3, 1 + seq % 300, seq % 7 + 1, json_object('i', seq),
    elt(1 + seq % 3, 'a', 'a,b', '') from seq_3_to_900;
insert into tag select concat('t', seq), concat('label ', seq), seq / 3.0, seq from seq_1_to_60
"""


@pytest.fixture
def project(migration, mysql_database, tmp_path, monkeypatch):
    for name in ("MIGRATE_PROJECT_DIR", "MIGRATE_SOURCE_URL", "MIGRATE_TARGET_URL", "MIGRATE_ROUTING_FILE"):
        monkeypatch.delenv(name, raising=False)
    url, db = mysql_database
    run_sql(url, db, SOURCE)
    folder = tmp_path / "shop-migration"
    run_migrate("init", str(folder), "--source-url", url, "--target-url", migration.target_url, "--schema", db)
    allow_lag(folder)
    return folder, url, db


def test_mariadb_scaffold_cuts_over_falls_back_and_decommissions_under_traffic(project):
    folder, url, db = project
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
        run_sql(url, None, f"drop database if exists `{scratch}`")
    after_cutover = verify_after_cutover(load_config(folder), ledger_path)
    assert after_cutover.ok, after_cutover.describe() + str(after_cutover.missing + after_cutover.wrong)
    with generic_traffic(folder, ledger_path) as after_switch:  # the new application, until the fallback
        time.sleep(2)
        run_migrate(
            "rollback", "--decided-by", "Dana", "--role", "dba", "--reason", "rehearsing the fallback", cwd=folder
        )
        time.sleep(3)  # the legacy application writes MariaDB again
    for outcome in (before_fallback, after_switch):
        assert outcome["report"].failed == 0, outcome["report"].errors
    sides = {
        side: before_fallback["report"].by_side.get(side, 0) + after_switch["report"].by_side.get(side, 0)
        for side in ("legacy", "new")
    }
    assert sides["new"] > 10 and sides["legacy"] > 10, sides
    assert {"insert", "update", "delete"} <= set(before_fallback["report"].by_kind)
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
    assert fetch(url, db, "select count(*) from `Customer`")[0][0] > 0
