"""The dbt project on generated legacy data: dispositions, keys, masking, and incremental = full.

One database per module: the legacy generator fills schema "oms", `fill_landing` copies it into
landing the way the loader does, and dbt builds everything. The incremental test then applies
changes to landing as sync would (upserts and tombstones, each bumping _migrate_synced_at), runs
the sync build after each (harness/sync.py SYNC_BUILD, tests narrowed to the batch) and a plain
`dbt build` (every test on every row), and checks that a full refresh over the same landing gives
identical tables.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql

from harness.core import connections
from harness.core.config import load_config
from harness.core.connections import Database
from harness.dbt import artifacts as dbt_artifacts
from harness.demo.seed import seed_legacy
from harness.reconcile import samples
from harness.sync import SYNC_BUILD
from tests.conftest import PROJECT_DIR

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCALE = 2000
SEED = 7

# The legacy tables and their keys, as migration.yml lists them.
TABLES = {
    "CUSTOMER": ["CUST_ID"],
    "PRODUCT": ["SKU"],
    "ORDER_HDR": ["ORDER_NO"],
    "ORDER_LINE": ["ORDER_NO", "LINE_NO"],
    "PAYMENT": ["PAY_ID"],
}
APP_TABLES = {
    "address": "address_id",
    "category": "category_id",
    "product": "product_id",
    "customer": "customer_id",
    "customer_merge": "legacy_cust_id",
    "sales_order": "order_id",
    "order_line": "order_id, line_no",
    "payment": "payment_id",
}


def fill_landing(conn: psycopg.Connection) -> None:
    """Copy schema "oms" into landing as the loader does (same database; CARD_NO masked to last4).

    The harness's loader (harness/load.py) does this across databases; this stand-in keeps the
    test independent of it.
    """
    conn.execute("drop schema if exists landing cascade")
    conn.execute("create schema landing")
    for table, key in TABLES.items():
        columns = [
            name
            for (name,) in conn.execute(
                "select column_name from information_schema.columns where table_schema = 'oms' and table_name = %s "
                "order by ordinal_position",
                (table,),
            )
        ]
        select = sql.SQL(", ").join(
            sql.SQL("right(regexp_replace({0}, '\\D', '', 'g'), 4)::varchar(25) as {0}").format(sql.Identifier(c))
            if (table, c) == ("PAYMENT", "CARD_NO")
            else sql.Identifier(c)
            for c in columns
        )
        landing = sql.Identifier("landing", table)
        conn.execute(
            sql.SQL(
                "create table {} as select {}, now() as _migrate_synced_at, false as _migrate_deleted from {}"
            ).format(landing, select, sql.Identifier("oms", table))
        )
        conn.execute(
            sql.SQL(
                "alter table {0} alter _migrate_synced_at set not null, alter _migrate_synced_at set default now(), "
                "alter _migrate_deleted set not null, alter _migrate_deleted set default false, add primary key ({1})"
            ).format(landing, sql.SQL(", ").join(map(sql.Identifier, key)))
        )
        conn.execute(sql.SQL("analyze {}").format(landing))


# Changes of every kind sync writes, on a share of each landing table picked by a hash of the key:
# nine in ten picked rows updated, one in ten deleted at the source (a tombstone), all with a new
# _migrate_synced_at. Used by the tests below and by bench/bench_dbt_build.py.
CHANGES = {
    "CUSTOMER": (
        'hashtext("CUST_ID"::text)',
        """"PHONE" = '(617) 555-0' || lpad(("CUST_ID" % 1000)::text, 3, '0'),
           "ADDR1" = coalesce("ADDR1", '') || ' Rear', "LAST_UPD" = localtimestamp""",
    ),
    "PRODUCT": ('hashtext("SKU")', '"PRICE" = "PRICE" + 1, "LAST_UPD" = localtimestamp'),
    "ORDER_HDR": (
        'hashtext("ORDER_NO"::text)',
        """"STATUS_CD" = case "STATUS_CD" when 'NEW' then 'SHP' else 'RTN' end, "LAST_UPD" = localtimestamp""",
    ),
    "ORDER_LINE": (
        'hashtext("ORDER_NO"::text || \'|\' || "LINE_NO")',
        '"QTY" = "QTY" + 1, "LAST_UPD" = localtimestamp',
    ),
    "PAYMENT": ('hashtext("PAY_ID"::text)', '"AMOUNT" = "AMOUNT" + 0.01, "LAST_UPD" = localtimestamp'),
}


def change_landing(url: str, per_mille: int, salt: int = 0) -> dict[str, int]:
    """Change `per_mille` rows in a thousand of every landing table as sync would; rows changed per table."""
    changed = {}
    with psycopg.connect(url) as conn:
        for table, (bucket, assignments) in CHANGES.items():
            picked = f"abs({bucket} + {salt}) % 1000"
            updated = conn.execute(
                f'update landing."{table}" set {assignments}, _migrate_synced_at = clock_timestamp() '
                f"where {picked} between 1 and {per_mille - per_mille // 10}"
            ).rowcount
            deleted = conn.execute(
                f'update landing."{table}" set _migrate_deleted = true, _migrate_synced_at = clock_timestamp() '
                f"where {picked} between {per_mille - per_mille // 10 + 1} and {per_mille} and not _migrate_deleted"
            ).rowcount
            conn.execute(f'analyze landing."{table}"')
            changed[table] = updated + deleted
    return changed


def dbt(env: dict[str, str], tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """Run dbt as the harness does (--profiles-dir profiles --project-dir .); fail with its output."""
    command = [
        str(Path(sys.executable).with_name("dbt")),
        *args,
        "--profiles-dir",
        str(PROJECT_DIR / "profiles"),
        "--project-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(tmp / "target"),
        "--log-path",
        str(tmp / "logs"),
    ]
    done = subprocess.run(
        command, cwd=PROJECT_DIR, env={**os.environ, **env}, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"dbt {' '.join(args)} failed:\n{done.stdout[-6000:]}"
    return done


# Two different people (their names differ) typed with one family mailbox: not duplicates, so both
# migrate, and app.customer.email being unique, only the earlier keeps the address.
SHARED_MAILBOX = """
insert into oms."CUSTOMER" ("CUST_ID", "CUST_NM", "EMAIL_ADDR", "CTRY", "CREATED", "STATUS", "LAST_UPD")
values (8500001, 'Mailbox, Jane', ' Family.Mailbox@Example.com', 'US', '2015-03-01', 'A', '2015-03-01 10:00'),
       (8500002, 'Mailbox, John', 'family.mailbox@example.com ', 'US', '2016-04-02', 'A', '2016-04-02 10:00');
"""


@pytest.fixture(scope="module")
def warehouse(admin_url, tmp_path_factory):
    """A database with oms generated, landing filled and a first dbt build done."""
    name = f"t_dbt_{uuid.uuid4().hex[:10]}"
    connections.create_database(admin_url, name)
    url = connections.with_database(admin_url, name)
    tmp = tmp_path_factory.mktemp("dbt")
    env = connections.dbt_environment(Database("target", url, "test", False))
    try:
        with psycopg.connect(url) as conn:
            seed_legacy(conn, SCALE, SEED)
            conn.execute(SHARED_MAILBOX)
            fill_landing(conn)
        dbt(env, tmp, "build")
        yield url, env, tmp
    finally:
        connections.drop_database(admin_url, name)


def query(url: str, statement: str, params: tuple | None = None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(statement, params).fetchall()


def table_digests(url: str) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every app table (and quarantine and findings), rows in key order."""
    tables = {f"app.{t}": key for t, key in APP_TABLES.items()}
    tables["quarantine.quarantined_rows"] = "source_table, source_key"
    tables["quarantine.findings"] = "source_table, source_key, rule"
    digests = {}
    with psycopg.connect(url) as conn:
        for table, key in tables.items():
            count, text = conn.execute(
                f"select count(*), coalesce(string_agg(t::text, E'\\n' order by {key}), '') from {table} as t"
            ).fetchone()
            digests[table] = (count, hashlib.md5(text.encode()).hexdigest())
    return digests


# Changes as sync writes them into landing: upserts and tombstones, each with a new _migrate_synced_at.
# Step 1 covers inserts, updates, an e-mail change that makes a new duplicate, the survivor of a
# duplicate group deleted, an order and a line deleted, a product deleted, an orphan's customer arriving.
STEP_1 = """
-- a new customer with an order, two lines and a payment
insert into landing."CUSTOMER" ("CUST_ID", "CUST_NM", "EMAIL_ADDR", "PHONE", "ADDR1", "CITY", "STATE_CD", "POSTAL_CD",
                               "CTRY", "CREATED", "STATUS", "LAST_UPD")
values (9000001, 'Newcustomer, Pat', 'pat.new@example.com', '(617) 555-0101', '1 Main Street', 'Boston', 'MA', '2108',
        'USA', '2025-07-02', 'A', '2025-07-02 10:00');
insert into landing."ORDER_HDR" ("ORDER_NO", "CUST_ID", "ORDER_DT", "STATUS_CD", "SHIP_ADDR1", "SHIP_CITY",
                                "SHIP_STATE", "SHIP_POSTAL", "SHIP_CTRY", "ORDER_TOTAL", "CURR_CD", "LAST_UPD")
values (9000001, 9000001, '2025-07-02 10:05', 'NEW', '1 MAIN ST', 'BOSTON', 'MA', '02108', 'US', '$30.00', 'USD',
        '2025-07-02 10:05');
insert into landing."ORDER_LINE" ("ORDER_NO", "LINE_NO", "SKU", "QTY", "UNIT_PRICE", "DISC_PCT", "LAST_UPD")
select 9000001, n, (select "SKU" from landing."PRODUCT" order by "SKU" limit 1 offset n), 1, 15.0, null,
       '2025-07-02 10:05'
from generate_series(1, 2) as n;
insert into landing."PAYMENT" ("PAY_ID", "ORDER_NO", "METHOD", "AMOUNT", "PAID_AT", "CARD_NO", "LAST_UPD")
values (9000001, 9000001, 'VISA', 30.00, '2025-07-02 10:06', '4242', '2025-07-02 10:06');

-- full card numbers in an unmasked landing: one on a migrated payment, one on a quarantined one
insert into landing."PAYMENT" ("PAY_ID", "ORDER_NO", "METHOD", "AMOUNT", "PAID_AT", "CARD_NO", "LAST_UPD")
values (9000002, 9000001, 'MC', 0.01, '2025-07-02 10:07', '5500-0000-0000-0004', null),
       (9000003, 8999999, 'AMEX', 1.00, '2025-07-02 10:08', '3782 822463 10005', null);

-- status changes and an address edit
update landing."ORDER_HDR" set "STATUS_CD" = 'SHIPPED', _migrate_synced_at = clock_timestamp()
where "ORDER_NO" in (select "ORDER_NO" from landing."ORDER_HDR" where "STATUS_CD" = 'NEW' order by "ORDER_NO" limit 5);
update landing."CUSTOMER" set "ADDR1" = '77 Elm Street', _migrate_synced_at = clock_timestamp()
where "CUST_ID" = (select min(customer_id) from app.customer where billing_address_id is not null);

-- an e-mail change that makes a later customer a duplicate of an earlier one (name typed again too)
update landing."CUSTOMER" as later
set "EMAIL_ADDR" = upper(earlier."EMAIL_ADDR") || ' ', "CUST_NM" = earlier."CUST_NM",
    _migrate_synced_at = clock_timestamp()
from landing."CUSTOMER" as earlier
where (earlier."CUST_ID", later."CUST_ID") = (
    select min(e.customer_id), max(l.customer_id)
    from app.customer as e, app.customer as l
    where e.email like '%@gmail.com' and l.email like '%@yahoo.com'
      and exists (select 1 from app.sales_order as o where o.customer_id = l.customer_id)
);

-- the survivor of a duplicate group is deleted at the source: its duplicate takes over
update landing."CUSTOMER" set _migrate_deleted = true, _migrate_synced_at = clock_timestamp()
where "CUST_ID" = (select min(customer_id) from app.customer_merge);

-- an order line, an order (its lines and payments become orphans) and a product deleted
update landing."ORDER_LINE" set _migrate_deleted = true, _migrate_synced_at = clock_timestamp()
where ("ORDER_NO", "LINE_NO") = (
    select order_id, max(line_no) from app.order_line group by order_id order by order_id limit 1
);
update landing."ORDER_HDR" set _migrate_deleted = true, _migrate_synced_at = clock_timestamp()
where "ORDER_NO" = (select max(order_id) from app.payment where order_id < 9000000);
update landing."PRODUCT" set _migrate_deleted = true, _migrate_synced_at = clock_timestamp()
where "SKU" = (select max(p.sku) from app.product as p join app.order_line as l using (product_id));

-- a price change, and the missing customer of some orphan orders arrives
update landing."PRODUCT" set "PRICE" = "PRICE" + 1, _migrate_synced_at = clock_timestamp()
where "SKU" = (select min(sku) from app.product);
insert into landing."CUSTOMER" ("CUST_ID", "CUST_NM", "CTRY", "CREATED", "STATUS")
select (source_row ->> 'CUST_ID')::int, 'Found, Again', 'US', '', 'A'
from quarantine.quarantined_rows
where rule = 'order_customer_missing' and source_row ->> 'CUST_ID' is not null
order by 1 limit 1;
"""

# Step 2: a deleted customer comes back, a merge is undone, a line's quantity becomes zero.
STEP_2 = """
update landing."CUSTOMER"
set _migrate_deleted = false, "CUST_NM" = "CUST_NM" || ' Jr', _migrate_synced_at = clock_timestamp()
where _migrate_deleted;
update landing."CUSTOMER" set "EMAIL_ADDR" = 'undone.merge@example.org', _migrate_synced_at = clock_timestamp()
where "CUST_ID" = (select max(legacy_cust_id) from app.customer_merge);
update landing."ORDER_LINE" set "QTY" = 0, _migrate_synced_at = clock_timestamp()
where ("ORDER_NO", "LINE_NO") = (select order_id, line_no from app.order_line order by order_id desc, line_no limit 1);
"""


def apply(url: str, statements: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(statements)


def test_dispositions_account_for_every_landing_row(warehouse):
    url, _, _ = warehouse
    rows = query(url, "select source_table, source_rows, migrated, merged, quarantined from quarantine.dispositions")
    assert {r[0] for r in rows} == set(TABLES)
    for table, source_rows, migrated, merged, quarantined in rows:
        assert source_rows == migrated + merged + quarantined, table
        assert migrated > 0, table


def test_every_spec_defect_is_decided(warehouse):
    url, _, _ = warehouse
    rules = dict(query(url, "select rule, count(*) from quarantine.quarantined_rows group by rule"))
    for rule in (
        "order_customer_missing",
        "order_status_unknown",
        "order_line_order_missing",
        "order_line_quantity_zero",
        "order_line_sku_unknown",
        "payment_order_missing",
    ):
        assert rules.get(rule), f"no row quarantined by {rule}"
    findings = dict(query(url, "select rule, count(*) from quarantine.findings group by rule"))
    for rule in (
        "customer_email_invalid",
        "customer_phone_unparseable",
        "customer_created_unknown",
        "customer_status_missing",
        "order_total_mismatch",
        "order_time_in_dst_gap",
    ):
        assert findings.get(rule), f"no finding {rule}"
    merged = query(url, "select count(*) from app.customer_merge")[0][0]
    assert 0.01 * SCALE <= merged <= 0.03 * SCALE, "about 2% of customers are duplicates"


def test_an_order_total_finding_exactly_where_sales_order_keeps_the_legacy_total(warehouse):
    """Business rule 4's finding and sales_order agree, orders without a migrated line (total 0) included."""
    url, _, _ = warehouse
    ((disagreeing,),) = query(
        url,
        """
        select count(*)
        from app.sales_order as o
        full join (
            select source_key::bigint as order_id from quarantine.findings where rule = 'order_total_mismatch'
        ) as f
            on f.order_id = o.order_id
        left join landing."ORDER_HDR" as h on h."ORDER_NO" = o.legacy_order_no
        where (f.order_id is not null) is distinct from (o.legacy_total_text is not null or h."ORDER_TOTAL" is null)
    """,
    )
    assert disagreeing == 0
    ((without_lines,),) = query(
        url, "select count(*) from app.sales_order where total_cents = 0 and legacy_total_text is not null"
    )
    assert without_lines > 0, "the generated source has orders whose every line is quarantined"


def test_no_full_card_number_leaves_landing(warehouse):
    url, _, _ = warehouse
    assert_no_full_card_number(url)


def test_expected_sql_of_the_mapping_metadata_holds(warehouse):
    """Each app column's meta.expected_sql, evaluated on its landing row, is what the column holds."""
    url, _, _ = warehouse
    models = yaml.safe_load((PROJECT_DIR / "models/app/_app__models.yml").read_text())["models"]
    checked = 0
    for model in models:
        source, join = model["meta"]["source_table"], model["meta"]["source_join"]
        if "," in source:
            continue  # shared rows (addresses) have no single landing row
        for column in model["columns"]:
            expected = (column.get("meta") or {}).get("expected_sql")
            if not expected:
                continue
            ((wrong,),) = query(
                url,
                f'select count(*) from app.{model["name"]} join landing."{source}" as "{source}" on {join} '
                f'where not "{source}"._migrate_deleted '
                f"and app.{model['name']}.{column['name']} is distinct from ({expected})",
            )
            assert wrong == 0, f"app.{model['name']}.{column['name']}: {wrong} rows differ from expected_sql"
            checked += 1
    assert checked >= 20


def test_sample_level_finds_no_difference_for_customers_sharing_an_e_mail(warehouse):
    """The later of two differently named customers with one e-mail has none in app; the expected
    values say so too, so the sample level (here over the whole table) reports no difference."""
    url, env, tmp = warehouse
    assert query(url, "select legacy_cust_id, email from app.customer where legacy_cust_id > 8500000 order by 1") == [
        (8500001, "family.mailbox@example.com"),
        (8500002, None),
    ]
    manifest = json.loads((tmp / "target" / "manifest.json").read_text())
    artifacts = dbt_artifacts.Artifacts(manifest, None, None)
    config = load_config(PROJECT_DIR)
    target = Database("target", url, "test", False)
    results, _ = samples.compare(config, target, artifacts, sample_size=100_000, report_dir=tmp / "samples", seed=1)
    customer = next(r for r in results if r.relation == "app.customer")
    assert customer.problem is None and "email" in customer.compared_columns
    assert customer.mismatched == {}, (tmp / "samples" / "customer.txt").read_text()


def test_identity_sequences_continue_above_the_largest_migrated_id(warehouse):
    url, _, _ = warehouse
    for table, key in (
        ("customer", "customer_id"),
        ("sales_order", "order_id"),
        ("payment", "payment_id"),
        ("address", "address_id"),
        ("product", "product_id"),
        ("category", "category_id"),
    ):
        ((largest, next_id),) = query(
            url, f"select max({key}), nextval(pg_get_serial_sequence('app.{table}', '{key}')) from app.{table}"
        )
        assert next_id > largest, table


def assert_no_full_card_number(url: str) -> None:
    """No card number (13 or more digits once blanks and dashes are gone) outside landing."""
    assert query(url, "select count(*) from app.payment where card_last4 !~ '^[0-9]{4}$'") == [(0,)]
    for table, column in (("quarantine.quarantined_rows", "source_row::text"), ("quarantine.findings", "detail")):
        leaked = query(
            url,
            f"select count(*) from {table} where source_table = 'PAYMENT' "
            f"and regexp_replace({column}, '[ -]', '', 'g') ~ '[0-9]{{13}}'",
        )
        assert leaked == [(0,)], f"a full card number reached {table}"
    cards = query(url, "select count(*) from quarantine.quarantined_rows where length(source_row ->> 'CARD_NO') > 4")
    assert cards == [(0,)]


# The first order of customers whose created_at comes from it leaves them: three move to another
# customer, three are deleted at the source. Both customers' first-order dates move.
ORDERS_LEAVE_THEIR_FIRST_CUSTOMER = """
create temp table first_orders as
select distinct on (v.customer_id) v.order_no
from intermediate.int_orders_validated as v
join intermediate.int_customers_deduplicated as c on c.cust_id = v.customer_id
where c.created_at is null and v.disposition = 'migrated'
order by v.customer_id, v.ordered_at
limit 6;
update landing."ORDER_HDR"
set "CUST_ID" = (select min(customer_id) from app.customer), _migrate_synced_at = clock_timestamp()
where "ORDER_NO" in (select order_no from first_orders order by order_no limit 3);
update landing."ORDER_HDR" set _migrate_deleted = true, _migrate_synced_at = clock_timestamp()
where "ORDER_NO" in (select order_no from first_orders order by order_no offset 3);
"""


def test_incremental_builds_equal_a_full_refresh(warehouse):
    url, env, tmp = warehouse
    apply(url, STEP_1)
    dbt(env, tmp, *SYNC_BUILD)
    assert_no_full_card_number(url)
    cards = query(
        url,
        "select pay_id, rule from quarantine.findings join (values ('9000002'), ('9000003')) as p (pay_id) "
        "on source_key = pay_id where rule = 'payment_full_card_number'",
    )
    assert cards == [("9000002", "payment_full_card_number")], (
        "a full number is a finding (quarantined rows say it already)"
    )
    assert query(url, "select card_last4 from app.payment where payment_id = 9000002") == [("0004",)]
    merged = query(url, "select count(*) from app.customer_merge")[0][0]
    apply(url, STEP_2)
    dbt(env, tmp, "build")
    apply(url, ORDERS_LEAVE_THEIR_FIRST_CUSTOMER)
    change_landing(url, per_mille=50, salt=1)
    dbt(env, tmp, *SYNC_BUILD)
    incremental = table_digests(url)
    deleted = query(url, "select app_table, count(*) from migrate_sync.sync_app_deletes group by 1")
    assert dict(deleted).get("order_line") and dict(deleted).get("customer"), "tombstones reached app"

    dbt(env, tmp, "build", "--full-refresh")
    full = table_digests(url)
    assert incremental == full
    assert merged > 0
