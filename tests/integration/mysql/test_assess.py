"""`migrate assess` on a MariaDB source: the inventory, keys, declared and undeclared relationships,
volumes, the profile, the measured copy, the type mapping, and each conversion risk of MySQL into
PostgreSQL seeded at a known count and reported as a finding."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_migrate
from tests.integration.mysql.conftest import run_sql

pytestmark = pytest.mark.integration

# Counts chosen here, checked in the findings below. Customer ids are even (2..200), 140, 142 and 144
# deleted: 3 zero dates (2, 4, 6), 4 invalid dates (8..14), 2 unsigned beyond bigint, 5 latin1 values
# holding UTF-8 bytes (2..10), level 2 or 3 in 48 rows, the invalid ENUM '' in 9, 'c1' beside 'C1'
# and 'C7 ' (a trailing space) in code.
SCHEMA = """
create table customers (
    id int unsigned auto_increment primary key,
    email varchar(60) collate utf8mb4_general_ci not null unique,
    code varchar(10) collate utf8mb4_general_ci,
    name varchar(40) character set latin1,
    old_name varchar(40) character set utf8mb3,
    is_active tinyint(1),
    level tinyint(1),
    size enum('small', 'large'),
    tags set('new', 'vip'),
    born date,
    seen datetime,
    big bigint unsigned,
    index (code)
) engine=InnoDB;
insert into customers (id, email, code, name, old_name, is_active, level, size, tags, born, seen, big)
    select seq * 2, concat('user', seq, '@example.com'), concat('C', seq), concat('name ', seq), 'x',
           seq % 2, seq % 4, if(seq % 10 = 0, '', 'small'), 'new', '2020-01-01', '2020-01-01 10:00:00', seq
    from seq_1_to_100;
update customers set born = '0000-00-00' where id <= 6;
update customers set seen = '2024-02-30 10:00:00' where id between 8 and 14;
update customers set big = 18446744073709551615 where id in (20, 22);
update customers set name = convert(cast(convert('café' using utf8mb4) as binary) using latin1) where id <= 10;
update customers set code = 'c1' where id = 4;
update customers set code = 'C7 ' where id = 30;
create table orders (
    order_id int primary key,
    customer_id int unsigned,
    total decimal(10,2),
    constraint fk_customer foreign key (customer_id) references customers (id)
) engine=InnoDB;
insert into orders select seq, (seq % 50 + 1) * 2, seq * 1.5 from seq_1_to_300;
create table payments (
    payment_id int primary key,
    order_id int,
    amount decimal(10,2)
) engine=InnoDB;
insert into payments select seq, if(seq % 10 = 0, 9999, seq), 1.0 from seq_1_to_200;
create table audit_log (message varchar(100)) engine=MyISAM;
insert into audit_log select concat('event ', seq) from seq_1_to_50
"""

CONFIG = """
source: {engine: mysql, schema: %(db)s}
capture: {method: binlog}
tables:
  customers: {}
  orders: {}
  payments: {}
  audit_log: {}
"""


@pytest.fixture
def assessed(tmp_path, mysql_database, migration):
    url, db = mysql_database
    run_sql(url, db, SCHEMA, sql_mode="ALLOW_INVALID_DATES")
    run_sql(url, db, "delete from customers where id in (140, 142, 144)")
    (tmp_path / "migration.yml").write_text(CONFIG % {"db": db})
    env = {"MIGRATE_SOURCE_URL": url, "MIGRATE_TARGET_URL": migration.target_url}
    result = run_migrate("assess", "--json", env=env, cwd=tmp_path, expect=1)
    report = json.loads((tmp_path / "reports" / "assessment" / "latest" / "assessment.json").read_text())
    markdown = (tmp_path / "reports" / "assessment" / "latest" / "assessment.md").read_text()
    return report, markdown, result


def _finding(report: dict, *fragments: str, column: str | None = None) -> dict:
    found = [
        f
        for f in report["findings"]
        if all(x in f["message"] for x in fragments) and (column is None or f["column"] == column)
    ]
    assert len(found) == 1, (fragments, [f["message"] for f in report["findings"]])
    return found[0]


def test_assess_reports_inventory_keys_volumes_and_relationships(assessed):
    report, markdown, _ = assessed
    tables = {t["name"]: t for t in report["tables"]}
    assert tables["customers"]["rows"] == 97 and tables["customers"]["rows_exact"]
    assert tables["customers"]["key"] == ["id"] and tables["customers"]["key_from"] == "primary key"
    assert {k["name"] for k in tables["customers"]["unique_keys"]} == {"PRIMARY", "email"}
    assert tables["orders"]["foreign_keys"][0]["references_table"] == "customers"
    assert tables["audit_log"]["key"] == []
    assert "MyISAM" in tables["audit_log"]["kind"]
    relations = {(r["child_table"], r["child_column"]): r for r in report["relationships"]}
    assert relations[("orders", "customer_id")]["declared"]
    undeclared = relations[("payments", "order_id")]
    assert not undeclared["declared"] and undeclared["checked"] == 200 and undeclared["matched"] == 180
    assert report["source"]["engine"] == "MariaDB"
    profile = {c["name"]: c for c in tables["customers"]["columns"]}
    assert profile["email"]["distinct"] == 97 and profile["email"]["nulls"]["count"] == 0
    assert "(MariaDB 10." in markdown


def test_assess_measures_copy_throughput_through_the_load(assessed):
    report, _, _ = assessed
    timing = {t["name"]: t["timing"] for t in report["tables"]}
    assert timing["customers"]["as_load"] and timing["customers"]["copy_rows"] == 97
    assert timing["customers"]["copy_rows_per_second"] > 0
    assert not timing["audit_log"]["as_load"]  # no key: load would refuse it
    assert report["estimates"]["initial_load"]["seconds"] > 0


def test_assess_reports_each_mysql_conversion_risk(assessed):
    report, _, result = assessed
    assert _finding(report, "3 zero dates", column="born")["severity"] == "warning"
    assert _finding(report, "4 invalid dates", column="seen")["severity"] == "warning"
    assert _finding(report, "2 values above 9223372036854775807", column="big")["severity"] == "warning"
    assert _finding(report, "tinyint(1) holding only 0 and 1", column="is_active")["severity"] == "info"
    assert _finding(report, "48 rows hold values other than 0 and 1", column="level")["severity"] == "warning"
    assert _finding(report, "9 empty strings", column="size")
    assert _finding(report, "ENUM of 'small','large'", column="size")
    assert _finding(report, "SET of 'new','vip'", column="tags")
    assert _finding(report, "utf8mb3", column="old_name")
    assert _finding(report, "5 values hold UTF-8 bytes", column="name")
    assert _finding(report, "2 values that differ from another only in case, accents or trailing spaces", column="code")
    assert _finding(report, "key under utf8mb4_general_ci", column="email")
    assert _finding(report, "1 values ending in spaces", column="code")
    gaps = _finding(report, "AUTO_INCREMENT", column="id")
    assert "97 values from 2 to 200, 102 numbers never used or deleted" in gaps["message"]
    assert "the next value is 201" in gaps["message"]
    myisam = _finding(report, "is a MyISAM table")
    assert myisam["severity"] == "blocking" and myisam["table"] == "audit_log"
    assert _finding(report, "audit_log has no primary key and migration.yml names none")["severity"] == "blocking"
    assert report["exit_code"] == 1
    assert "Traceback" not in result.stderr


def test_assess_shows_the_type_mapping(assessed):
    report, markdown, _ = assessed
    mapping = {(m["table"], m["column"]): m for m in report["type_mapping"]}
    assert mapping[("customers", "big")]["landing_type"] == "numeric(20,0)"
    assert mapping[("customers", "tags")]["landing_type"] == "text[]"
    assert mapping[("customers", "seen")]["landing_type"] == "timestamp(0) without time zone"
    assert "_mysql_raw_born" in mapping[("customers", "born")]["note"]
    assert "Landing types (MariaDB → PostgreSQL)" in markdown
    assert "| customers | big | bigint(20) unsigned | numeric(20,0) |" in markdown
