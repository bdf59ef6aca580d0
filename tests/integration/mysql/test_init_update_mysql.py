"""`migrate init --update` on a MariaDB source after a table and a column were added and a column's
type changed, as tests/integration/test_init.py runs it on a PostgreSQL source: what is new is
added, what differs is reported, the user's edits are never overwritten; then the added table
loads, the added column and the wider values reach landing and app."""

from __future__ import annotations

import re
from decimal import Decimal

import psycopg
import pytest

from tests.conftest import assert_one_clear_line, run_migrate
from tests.integration.mysql.conftest import run_sql

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOURCE = """
create table customer (id int primary key, name varchar(20) not null, score int) engine=InnoDB;
create table orders (id int primary key, customer_id int not null, amount decimal(8,2),
    constraint orders_customer foreign key (customer_id) references customer (id)) engine=InnoDB;
insert into customer select seq, concat('name ', seq), seq from seq_1_to_30;
insert into orders select seq, 1 + seq % 30, seq * 1.5 from seq_1_to_90
"""

CHANGES = """
create table supplier (id int primary key, name text not null) engine=InnoDB;
insert into supplier select seq, concat('supplier ', seq) from seq_1_to_20;
create table `prix été` (`n° id` int primary key, `prix` decimal(6,2)) engine=InnoDB;
insert into `prix été` values (1, 1.25), (2, 2.50);
alter table orders add column discount decimal(5,2);
alter table customer modify name varchar(60) not null
"""

LATER = """
update orders set discount = 1.5 where id = 5;
update customer set name = 'a name longer than the twenty characters it had' where id = 3
"""


def rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def test_update_on_mariadb_adds_reports_and_never_overwrites_an_edit(migration, mysql_database, tmp_path, monkeypatch):
    for name in ("MIGRATE_PROJECT_DIR", "MIGRATE_SOURCE_URL", "MIGRATE_TARGET_URL", "MIGRATE_ROUTING_FILE"):
        monkeypatch.delenv(name, raising=False)
    url, db = mysql_database
    run_sql(url, db, SOURCE)
    folder = tmp_path / "shop"
    run_migrate("init", str(folder), "--source-url", url, "--target-url", migration.target_url, "--schema", db)
    run_migrate("provision", cwd=folder)
    run_migrate("load", cwd=folder)
    config = (folder / "migration.yml").read_text()
    edited_config = config.replace("owners:", "# my own note\nowners:")
    (folder / "migration.yml").write_text(edited_config)
    staging = folder / "models" / "staging" / "stg_legacy__customer.sql"
    edited_staging = staging.read_text() + "-- reviewed by me\n"
    staging.write_text(edited_staging)
    run_sql(url, db, CHANGES)

    updated = run_migrate("init", str(folder), "--update")
    said = updated.stdout
    assert "source: table supplier added" in said
    assert "source: column orders.discount added (decimal(5,2))" in said
    assert "source: column customer.name changed type: varchar(20) -> varchar(60)" in said
    assert "added models/staging/stg_legacy__supplier.sql" in said
    assert "kept your edits in models/staging/stg_legacy__customer.sql" in said
    assert staging.read_text() == edited_staging  # never overwritten
    assert (folder / ".migrate" / "init-update" / "models" / "staging" / "stg_legacy__customer.sql").exists()
    now = (folder / "migration.yml").read_text()
    assert "# my own note" in now and '"supplier":' in now  # the new table inserted into the edited file
    assert '\n  "prix été":\n    key: ["n° id"]' in now
    assert re.sub(r'  "(supplier|prix été)":\n    key: \["(id|n° id)"\] .*\n', "", now) == edited_config
    orders = (folder / "models" / "staging" / "stg_legacy__orders.sql").read_text()
    assert "discount" in orders  # not edited: rendered anew with the added column

    again = run_migrate("init", str(folder), "--update")  # nothing new: nothing written, the edits still kept
    assert "0 source change(s); 0 file(s) added, 0 updated" in again.stdout
    assert staging.read_text() == edited_staging

    run_sql(url, db, LATER)
    run_migrate("load", "--no-build", cwd=folder)  # the added table, alone
    # The binary log holds the ALTERs: sync says so in one line, and the load it names takes them in.
    refused = run_migrate("sync", "--no-build", cwd=folder, expect=2)
    assert_one_clear_line(refused, "alter table", "migrate load")
    run_migrate("load", "--no-build", cwd=folder)
    run_migrate("sync", "--no-build", cwd=folder)  # the added column and the wider value reach landing
    run_migrate("build", "--full-refresh", cwd=folder)
    assert rows(migration.target_url, "select count(*) from app.supplier") == [(20,)]
    assert rows(migration.target_url, "select count(*) from app.prix_t") == [(2,)]
    assert rows(migration.target_url, "select discount from app.orders where id = 5") == [(Decimal("1.50"),)]
    assert rows(migration.target_url, "select name from app.customer where id = 3") == [
        ("a name longer than the twenty characters it had",)
    ]
