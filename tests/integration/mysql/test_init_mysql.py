"""`migrate init` on a MariaDB source it has never seen, then the lifecycle on the project it wrote,
with no hand edit: check, provision, load, build, sync after plain SQL writes on the source,
reconcile (counts, checksums, sample) all green, the landed values equal to the source's, then the
rehearsal, the cutover with its gates met and a fallback carrying the new application's writes back."""

from __future__ import annotations

import json
from decimal import Decimal

import psycopg
import pytest

from tests.conftest import assert_one_clear_line, run_migrate
from tests.integration.mysql.conftest import fetch, run_sql

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Several shapes: a self-reference, a composite key with a declared foreign key, a text key with an
# undeclared reference, a table without a key, and MySQL's types that land as other PostgreSQL types.
SOURCE = """
create table customer (
    id bigint unsigned primary key, full_name varchar(80) not null, email varchar(120),
    referred_by bigint unsigned, is_active tinyint(1) not null default 1, birth_year year,
    created_at datetime(6) not null, unique key customer_name (full_name),
    constraint customer_referrer foreign key (referred_by) references customer (id)
) engine=InnoDB;
create table order_line (
    order_no int unsigned, line_no smallint, customer_id bigint unsigned not null,
    amount decimal(12,2) not null check (amount >= 0), status enum('new', 'paid', 'shipped') not null,
    flags set('gift', 'rush', 'fragile'), payload json, attachment blob, marks bit(5), placed_at timestamp(3) null,
    primary key (order_no, line_no),
    constraint order_customer foreign key (customer_id) references customer (id)
) engine=InnoDB;
create table tag (code varchar(12) primary key, label text, score double, customer_id bigint unsigned) engine=InnoDB;
create table audit_note (happened datetime, note text) engine=InnoDB;
insert into customer
    select seq + 18446744073709551000, concat('Name ', seq), concat('user', seq, '@example.com'),
           if(seq > 10, 18446744073709551000 + seq % 10 + 1, null), seq % 2, 1990 + seq % 20,
           timestamp '2020-01-01 00:00:00' + interval seq hour + interval seq microsecond
    from seq_1_to_300;
insert into order_line
    select seq div 3, seq mod 3, 18446744073709551000 + 1 + seq % 300, seq * 1.25,
           elt(1 + seq % 3, 'new', 'paid', 'shipped'), elt(1 + seq % 4, '', 'gift', 'gift,rush', 'rush,fragile'),
           json_object('i', seq, 'tags', json_array('a', 'b')),
           if(seq % 5 = 0, null, unhex(concat('DEADBEEF', lpad(hex(seq), 4, '0')))), seq % 32,
           timestamp '2024-03-01 12:00:00' + interval seq second
    from seq_3_to_900;
insert into tag select concat('t', seq), concat('label ', seq), seq / 3, 18446744073709551000 + seq from seq_1_to_60;
insert into audit_note values ('2024-01-01 00:00:00', 'no key')
"""

WRITES = """
insert into customer values (18446744073709551615, 'Newest', 'new@example.com', 18446744073709551001, 1, 2001,
    '2025-05-05 05:05:05.123456');
update customer set full_name = 'Renamed', is_active = 0 where id = 18446744073709551005;
update order_line set status = 'shipped', flags = 'gift,fragile', amount = 99.99 where order_no = 10;
delete from order_line where order_no = 7;
update order_line set line_no = 9 where order_no = 8 and line_no = 0;
insert into order_line values (5000, 1, 18446744073709551615, 12345678.90, 'paid', 'rush', '{"z": [1, 2.5, null]}',
    x'00ff', b'10101', '2038-01-19 03:14:07.999');
insert into tag values ('t-new', null, -0.5, 18446744073709551615);
delete from tag where code = 't7'
"""

SOURCE_CUSTOMERS = "select id, full_name, referred_by, is_active, birth_year, created_at from customer order by id"
APP_CUSTOMERS = "select id, full_name, referred_by, is_active, birth_year, created_at from app.customer order by id"
SOURCE_LINES = (
    "select order_no, line_no, customer_id, amount, status, cast(flags as char), payload, hex(attachment), "
    "lpad(bin(marks), 5, '0'), date_format(placed_at, '%Y-%m-%d %H:%i:%s.%f') from order_line order by 1, 2"
)
APP_LINES = (
    "select order_no, line_no, customer_id, amount, status, array_to_string(flags, ','), payload::text, "
    "upper(encode(attachment, 'hex')), marks::text, to_char(placed_at at time zone 'UTC', "
    "'YYYY-MM-DD HH24:MI:SS.US') from app.order_line order by 1, 2"
)


def pg_rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def normalised_lines(rows: list[tuple]) -> list[tuple]:
    """Rows with the json parsed and numbers as Decimal: compared by value, whichever side read them."""
    return [
        (Decimal(o), Decimal(n), Decimal(c), Decimal(a), s, f, json.loads(p) if p else None, h or None, m, t)
        for o, n, c, a, s, f, p, h, m, t in rows
    ]


@pytest.fixture
def scaffolded(migration, mysql_database, tmp_path, monkeypatch):
    for name in ("MIGRATE_PROJECT_DIR", "MIGRATE_SOURCE_URL", "MIGRATE_TARGET_URL", "MIGRATE_ROUTING_FILE"):
        monkeypatch.delenv(name, raising=False)
    url, db = mysql_database
    run_sql(url, db, SOURCE)
    folder = tmp_path / "shop-migration"
    done = run_migrate("init", str(folder), "--source-url", url, "--target-url", migration.target_url, "--schema", db)
    yml = folder / "migration.yml"  # as test_init_lifecycle.py: one-shot CLI syncs on a loaded machine
    yml.write_text(yml.read_text().replace("cutover:\n", "cutover:\n  max_lag_seconds: 30\n", 1))
    return folder, done, url, db


def test_init_from_mariadb_runs_the_lifecycle_without_a_hand_edit(migration, scaffolded):
    folder, done, url, db = scaffolded
    assert done.stdout.count('"audit_note"') == 1  # no key: one finding
    config = (folder / "migration.yml").read_text()
    assert "engine: mysql" in config and "method: binlog" in config
    assert '"email": hash' in config
    staging = (folder / "models" / "staging" / "stg_legacy__order_line.sql").read_text()
    assert "-- set('gift','rush','fragile'): landed as text[]" in staging
    assert "-- bit(5): landed as bit varying(5)" in staging
    customers = (folder / "models" / "staging" / "stg_legacy__customer.sql").read_text()
    assert "-- bigint(20) unsigned: landed as numeric(20,0)" in customers
    assert "-- tinyint(1): MySQL's boolean" in customers and "-- year(4): landed as smallint" in customers
    sources = (folder / "models" / "staging" / "_legacy__sources.yml").read_text()
    assert 'type_from: "bigint(20) unsigned"' in sources and 'type_to: "numeric(20,0)"' in sources
    app = (folder / "models" / "app" / "_app__models.yml").read_text()
    assert "undeclared: customer_id -> customer (id)" in app  # tag.customer_id, found in the data
    assert 'expression: "amount >= 0"' in app or "amount >= 0" in app  # the declared check
    assert "created_at_is_a_date" in app  # a zero date would be quarantined, not fail NOT NULL
    assert "add_self_foreign_key('referred_by', 'id'" in (folder / "models" / "app" / "customer_app.sql").read_text()

    checked = run_migrate("check", cwd=folder)
    assert "meets what the harness relies on" in checked.stdout
    run_migrate("provision", cwd=folder)
    run_migrate("load", cwd=folder)
    run_migrate("build", cwd=folder)
    run_sql(url, db, WRITES)
    run_migrate("sync", cwd=folder)
    reconciled = run_migrate("reconcile", cwd=folder)
    assert "Traceback" not in reconciled.stdout + reconciled.stderr

    source_customers = fetch(url, db, SOURCE_CUSTOMERS)
    assert pg_rows(migration.target_url, APP_CUSTOMERS) == [
        (Decimal(i), n, None if r is None else Decimal(r), a, y, c) for i, n, r, a, y, c in source_customers
    ]
    assert normalised_lines(pg_rows(migration.target_url, APP_LINES)) == normalised_lines(fetch(url, db, SOURCE_LINES))
    assert pg_rows(migration.target_url, "select code, label, score, customer_id from app.tag order by 1") == [
        (c, lbl, s, Decimal(r)) for c, lbl, s, r in fetch(url, db, "select * from tag order by 1")
    ]
    emails = dict(pg_rows(migration.target_url, "select id, email from app.customer"))
    assert all(len(e) == 32 and "@" not in e for e in emails.values())  # masked at the source
    assert pg_rows(migration.target_url, "select count(*) from quarantine.quarantined_rows") == [(0,)]

    # The rehearsal: the cutover and the fallback on copies of both sides, the copy of the source a
    # database of its own on the source's server; the copies are dropped.
    run_migrate("rehearse", cwd=folder)
    rehearsal_left = "select schema_name from information_schema.schemata where schema_name like '%rehearsal%'"
    assert not fetch(url, None, rehearsal_left)
    # The rehearsal ran on its copy: the real source is neither frozen nor read-only, and its writes still sync.
    run_sql(url, db, "update tag set label = 'after the rehearsal' where code = 't1'")
    run_migrate("approve", "--role", "dba", "--name", "Dana", cwd=folder)
    run_migrate("sync", cwd=folder)
    switched = run_migrate("cutover", cwd=folder)  # every gate met, none skipped
    assert "skipped" not in switched.stdout.lower(), switched.stdout
    assert pg_rows(migration.target_url, "select label from app.tag where code = 't1'") == [("after the rehearsal",)]

    # The new application writes app; the fallback carries its changes back into MariaDB.
    with psycopg.connect(migration.target_url, autocommit=True) as conn:
        conn.execute("update app.tag set label = 'from the new application', score = 2.5 where code = 't2'")
        conn.execute("insert into app.tag values ('t-app', 'born in app', 1.0, null)")
        conn.execute("update app.order_line set flags = '{rush,gift}', status = 'new' where order_no = 5000")
    run_migrate("rollback", "--decided-by", "Dana", "--role", "dba", "--reason", "rehearsing the fallback", cwd=folder)
    assert fetch(url, db, "select code, label, score from tag where code in ('t2', 't-app') order by 1") == [
        ("t-app", "born in app", 1.0),
        ("t2", "from the new application", 2.5),
    ]
    assert fetch(url, db, "select cast(flags as char), status from order_line where order_no = 5000") == [
        ("gift,rush", "new")
    ]


def test_init_refuses_a_url_scheme_it_cannot_read_in_one_line(tmp_path):
    failed = run_migrate("init", str(tmp_path / "p"), "--source-url", "oracle://scott@db:1521/orcl", expect=2)
    assert_one_clear_line(failed, "--source-url", "oracle://", "mysql://", "postgresql://")
    target = run_migrate(
        "init",
        str(tmp_path / "q"),
        "--source-url",
        "mysql://root@127.0.0.1:1/x",
        "--target-url",
        "mysql://a@b/c",
        expect=2,
    )
    assert_one_clear_line(target, "--target-url", "postgresql://")


def test_init_names_a_missing_mysql_database_in_one_line(mysql_url, tmp_path):
    failed = run_migrate("init", str(tmp_path / "p"), "--source-url", mysql_url, expect=2)
    assert_one_clear_line(failed, "--schema")
    missing = run_migrate("init", str(tmp_path / "q"), "--source-url", mysql_url, "--schema", "nowhere", expect=2)
    assert_one_clear_line(missing, "database 'nowhere' does not exist")


def test_init_reports_a_check_postgresql_cannot_read_instead_of_dropping_it(mysql_database, tmp_path, monkeypatch):
    """A CHECK calling a MySQL function was left out of the app model without a word: the rule the
    legacy schema enforced silently stopped holding in the new one."""
    for name in ("MIGRATE_PROJECT_DIR", "MIGRATE_SOURCE_URL", "MIGRATE_TARGET_URL"):
        monkeypatch.delenv(name, raising=False)
    url, db = mysql_database
    run_sql(
        url,
        db,
        "create table item (id int primary key, code varchar(12) not null, doc json, qty int,"
        " constraint code_long_enough check (char_length(code) > 1), constraint qty_positive check (qty > 0))",
    )
    done = run_migrate("init", str(tmp_path / "p"), "--source-url", url, "--schema", db, "--json")
    findings = json.loads(done.stdout)["findings"]
    assert [f for f in findings if "code_long_enough" in f] == [
        '"item": check code_long_enough (char_length(`code`) > 1) is not in app.item\'s contract: PostgreSQL '
        "cannot read it as the source states it; restate it in the app model if it must hold"
    ]
    assert not [f for f in findings if "qty_positive" in f or "json" in f], findings  # read, and MariaDB's JSON
    app = (tmp_path / "p" / "models" / "app" / "_app__models.yml").read_text()
    assert "qty > 0" in app
