"""`migrate assess` through the real CLI: on a schema it has never seen, and on the worked example.

The "shop" schema below is written for these tests only: mixed-case names, a table without a
key, a trigger, text dates, float money, card numbers, orphans and duplicates, each at a rate
chosen here, so the report's figures can be checked against the truth.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from harness.core import connections, control
from harness.profiling import mask_card_numbers
from tests.conftest import PROJECT_DIR, assert_one_clear_line, run_migrate

pytestmark = pytest.mark.integration

SHOP_SQL = """
create schema "Shop";
-- 200 customers: every 20th e-mail NULL (exactly 5%); customers 11-13 repeat customers 1-3's
-- e-mail in upper case with blanks; sign-up dates 60% ISO (one impossible), 30% US, 10% blank.
create table "Shop"."Customers" (
    "customerId" integer primary key,
    "eMail"      varchar(100),
    "FullName"   text not null,
    "SignupDate" varchar(20),
    "Status"     char(1)
);
insert into "Shop"."Customers"
select i * 2,
       case when i % 20 = 0 then null
            when i in (11, 12, 13) then ' USER' || (i - 10) || '@SHOP.EXAMPLE '
            else 'user' || i || '@shop.example' end,
       'Customer ' || i,
       case when i = 1 then '2021-02-30'
            when i % 10 <= 5 then to_char(date '2020-01-01' + i, 'YYYY-MM-DD')
            when i % 10 <= 8 then to_char(date '2020-01-01' + i, 'MM/DD/YYYY')
            else '' end,
       'A'
from generate_series(1, 200) as i;

-- 400 orders: every 10th points at a customer that does not exist (exactly 10% orphans);
-- float money with noise on every 50th; 10% full card numbers, 40% last four digits.
create table "Shop"."Orders" (
    "orderId"    integer primary key,
    "customerId" integer,
    "Total"      double precision,
    "PlacedAt"   timestamp,
    "CardNumber" varchar(25)
);
insert into "Shop"."Orders"
select j,
       case when j % 10 = 0 then 10000 + j else ((j % 200) + 1) * 2 end,
       round((j * 1.37)::numeric, 2)::float8 - case when j % 50 = 0 then 0.000000001 else 0 end,
       timestamp '2023-01-01 08:00' + j * interval '1 day',
       case when j % 10 = 1
            then (array['4111111111111111', '5500 0000 0000 0004', '340000000000009', '4012-8888-8888-1881'])[j % 4 + 1]
            when j % 10 between 2 and 5 then '1234' end
from generate_series(1, 400) as j;

-- A type of the source's own: the target must have it before anything lands.
create type "Shop"."Tier" as enum ('gold', 'silver');
alter table "Shop"."Customers" add column "Tier" "Shop"."Tier" default 'silver';

create table "Shop"."AuditLog" ("entryId" integer not null, "Note" text, "At" timestamp);
insert into "Shop"."AuditLog" select k, 'note ' || k, timestamp '2024-01-01' + k * interval '1 hour'
    from generate_series(1, 50) as k;

create function "Shop".touch() returns trigger language plpgsql as $$ begin return new; end $$;
create trigger "ordersTouch" before update on "Shop"."Orders" for each row execute function "Shop".touch();
"""
CARD_NUMBERS = [
    "4111111111111111",
    "5500 0000 0000 0004",
    "4012-8888-8888-1881",
    "5500000000000004",
    "4012888888881881",
]

SHOP_YML = """
name: shop to new platform
source: {{schema: Shop}}
tables:
  Customers: {{}}
  Orders:
    masks: {{CardNumber: last4}}
  AuditLog: {audit}
strategy: {strategy}
{limit}
"""


def write_config(
    project: Path, *, audit: str = "{key: [entryId]}", strategy: str = "big_bang", limit: object = 60
) -> None:
    limit_line = f"downtime_limit_minutes: {limit}" if limit is not None else ""
    (project / "migration.yml").write_text(SHOP_YML.format(audit=audit, strategy=strategy, limit=limit_line))


@pytest.fixture
def shop(tmp_path, migration):
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(SHOP_SQL)
    write_config(tmp_path)
    return tmp_path


def assess(project: Path, migration, *, expect: int = 0, env: dict | None = None):
    result = run_migrate(
        "assess", env={**migration.env, "MIGRATE_PROJECT_DIR": str(project), **(env or {})}, expect=expect
    )
    report = json.loads((project / "reports" / "assessment" / "latest" / "assessment.json").read_text())
    markdown = (project / "reports" / "assessment" / "latest" / "assessment.md").read_text()
    return result, report, markdown


def table(report: dict, name: str) -> dict:
    return next(t for t in report["tables"] if t["name"] == name)


def column(report: dict, table_name: str, name: str) -> dict:
    return next(c for c in table(report, table_name)["columns"] if c["name"] == name)


def findings(report: dict, area: str) -> list[str]:
    return [f["message"] for f in report["findings"] if f["area"] == area]


def test_assess_reports_the_truth_inserted_into_a_schema_it_has_never_seen(shop, migration):
    result, report, markdown = assess(shop, migration)

    assert table(report, "Customers")["rows"] == 200 and table(report, "Customers")["rows_exact"]
    email = column(report, "Customers", "eMail")
    assert email["nulls"]["count"] == 10 and email["nulls"]["share"] == 0.05 and email["nulls"]["margin"] == 0.0
    assert re.search(r"\| eMail \| character varying\(100\) \| 5\.0% \|", markdown)

    signup = column(report, "Customers", "SignupDate")
    assert signup["classes"]["date_iso"]["share"] == pytest.approx(0.6)
    assert signup["classes"]["date_us"]["share"] == pytest.approx(0.3)
    assert signup["blanks"]["share"] == pytest.approx(0.1)
    assert signup["invalid_dates"] == 1
    assert any("Customers.SignupDate is text holding dates" in m for m in findings(report, "conversion"))

    duplicates = next(d for d in table(report, "Customers")["duplicates"] if d["columns"] == ["eMail"])
    assert (duplicates["groups"], duplicates["extra_rows"]) == (3, 3)

    [link] = [r for r in report["relationships"] if r["child_table"] == "Orders"]
    assert (link["child_column"], link["parent_table"], link["parent_column"]) == (
        "customerId",
        "Customers",
        "customerId",
    )
    assert link["likely"] and link["match_rate"] == pytest.approx(0.9) and link["orphan_rate"] == pytest.approx(0.1)
    assert "| Orders.customerId | Customers.customerId | likely | 90.0% |" in markdown

    total = column(report, "Orders", "Total")
    assert total["float_noise"] == 8 and "float money" in total["risks"]
    assert "timestamp without time zone" in column(report, "Orders", "PlacedAt")["risks"]
    assert [t["name"] for t in table(report, "Orders")["triggers"]] == ["ordersTouch"]
    assert any("ordersTouch" in m for m in findings(report, "triggers"))

    card = column(report, "Orders", "CardNumber")
    assert card["sensitive"] and card["masked"] == "last4" and card["top_values"] == [] and card["min"] is None
    for number in CARD_NUMBERS:
        assert number not in markdown and number not in json.dumps(report)

    assert any("Customers.Tier" in m and "must exist in the target" in m for m in findings(report, "types"))
    # The copy probe cannot create that type's column in the target: the read side is still timed.
    assert "target write not measured" in table(report, "Customers")["timing"]["notes"][0]
    assert table(report, "Customers")["timing"]["copy_rows"] == 200

    assert table(report, "Orders")["growth"]["column"] == "PlacedAt"
    assert table(report, "Orders")["timing"]["copy_rows"] == 400
    assert table(report, "AuditLog")["key_from"] == "migration.yml"
    assert report["recommendation"]["strategy"] == "big_bang"
    assert report["verdict"]["status"] == "ready_with_risks" and report["exit_code"] == 0
    assert "recommended strategy: big bang" in result.stdout and re.search(
        r"reports/assessment/\d{8}T\d+Z/assessment.md", result.stdout
    )

    page = (shop / "reports" / "assessment" / "latest" / "assessment.html").read_text()
    assert "assessment.html (with charts)" in result.stdout
    volumes, strategies = figure(page, "assessment-volumes"), figure(page, "assessment-strategies")
    assert "<svg" in volumes and "<svg" in strategies and "<script" not in page
    for t in report["tables"]:
        assert f"<tr><td>{t['name']}</td><td class=r>{t['rows']}</td></tr>" in volumes, t["name"]
    unit = re.search(r"per strategy \((\w+)\)", strategies).group(1)
    size = {"hours": 3600, "minutes": 60, "seconds": 1}[unit]
    for s in report["strategies"]:
        cells = [s["downtime_seconds"], s["total_seconds"]]
        shown = "".join(f"<td class=r>{round(c / size, 2)}</td>" for c in cells)
        assert shown in strategies, s["name"]
    for number in CARD_NUMBERS:
        assert number not in page


def figure(page: str, name: str) -> str:
    """One chart of an HTML report: its SVG, its caption and its figures."""
    start = page.index(f'<figure class=chart data-chart="{name}"')
    return page[start : page.index("</figure>", start)]


def test_assess_leaves_nothing_behind_in_source_or_target(shop, migration):
    def relations(url: str) -> set:
        with psycopg.connect(url) as conn:
            return set(
                conn.execute(
                    "select n.nspname || '.' || c.relname from pg_class c join pg_namespace n "
                    "on n.oid = c.relnamespace "
                    "where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')"
                ).fetchall()
            )

    def schemas(url: str) -> set:
        with psycopg.connect(url) as conn:
            return {name for (name,) in conn.execute("select nspname from pg_namespace")}

    before = (relations(migration.source_url), relations(migration.target_url), schemas(migration.target_url))
    assess(shop, migration)
    assert (relations(migration.source_url), relations(migration.target_url), schemas(migration.target_url)) == before


def test_a_table_without_a_key_is_named_and_exits_1(shop, migration):
    write_config(shop, audit="{}")
    result, report, markdown = assess(shop, migration, expect=1)
    assert_one_clear_line(
        result, "AuditLog has no primary key", "tables.AuditLog.key", "reports/assessment/", "/assessment.md"
    )
    assert report["verdict"]["status"] == "blocked" and report["exit_code"] == 1
    assert "| blocking | keys | AuditLog has no primary key" in markdown


def test_an_unknown_table_is_named_and_exits_2(shop, migration):
    (shop / "migration.yml").write_text(
        "source: {schema: Shop}\ntables:\n  customers: {}\n  Orders: {masks: {CardNumber: last4}}\n"
    )
    result, report, _ = assess(shop, migration, expect=2)
    assert_one_clear_line(result, '"Shop"."customers"', "does not exist", "did you mean Customers")
    assert table(report, "customers")["exists"] is False
    assert table(report, "Orders")["rows"] == 400  # the rest is still assessed


def test_a_broken_downtime_limit_is_one_line_and_exit_2(shop, migration):
    write_config(shop, limit="'an hour'")
    result = run_migrate("assess", env={**migration.env, "MIGRATE_PROJECT_DIR": str(shop)}, expect=2)
    assert_one_clear_line(result, "downtime_limit_minutes must be a positive number of minutes")


def test_a_missing_schema_is_one_line_and_exit_2(shop, migration):
    (shop / "migration.yml").write_text("source: {schema: shop}\ntables:\n  Orders: {}\n")
    result, report, _ = assess(shop, migration, expect=2)
    assert_one_clear_line(result, 'schema "shop" does not exist', "source.schema")
    assert report["recommendation"]["strategy"] is None


def test_card_numbers_without_a_mask_block_the_migration(shop, migration):
    (shop / "migration.yml").write_text("source: {schema: Shop}\ntables:\n  Orders: {}\nstrategy: big_bang\n")
    result, report, markdown = assess(shop, migration, expect=1)
    assert "Orders.CardNumber holds full card numbers" in result.stderr
    assert "masks: {CardNumber: last4}" in result.stderr
    for number in CARD_NUMBERS:
        assert number not in markdown


@pytest.fixture
def reader(admin_url, migration):
    """A login role that may read the shop tables and nothing more (no TRIGGER, no CREATE)."""
    role = f"assess_reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL('grant usage on schema "Shop" to {r}; grant select on all tables in schema "Shop" to {r}').format(
                r=sql.Identifier(role)
            )
        )
    yield make_conninfo(migration.source_url, user=role)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_missing_capture_privileges_block_a_parallel_run(shop, migration, reader):
    write_config(shop, strategy="parallel_run", limit=None)
    result, report, markdown = assess(shop, migration, expect=1, env={"MIGRATE_SOURCE_URL": reader})
    assert_one_clear_line(result, "parallel run", "TRIGGER on Customers, Orders, AuditLog")
    assert report["privileges"]["capture_trigger"] is False
    assert report["recommendation"]["strategy"] in ("big_bang", "phased")
    assert "| trigger capture possible | no: needs CREATE on database" in markdown


def test_downtime_over_the_limit_blocks_and_names_the_fix(shop, migration):
    write_config(shop, limit=0.5)
    result, report, _ = assess(shop, migration, expect=1)
    assert_one_clear_line(result, "big bang needs about", "over the 30 s limit")
    # On a database this small a parallel run saves nothing: its freeze and final sync take as long.
    least = min(s["downtime_seconds"] for s in report["strategies"])
    chosen = next(s for s in report["strategies"] if s["name"] == report["recommendation"]["strategy"])
    assert round(chosen["downtime_seconds"]) == round(least)
    assert any("no possible strategy fits" in r for r in report["recommendation"]["reasons"])


def test_the_load_estimate_times_one_of_loads_own_ranges_per_table(shop, migration, monkeypatch):
    from harness import assess as assessment
    from harness.core.config import load_config

    monkeypatch.setenv("MIGRATE_SOURCE_URL", migration.source_url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    config = load_config(shop)
    source, target = connections.resolve(config)
    result = assessment.run(config, source, target, jobs=2, range_rows=150)

    # Keys 1..400 in ranges of about 150 rows: load plans three, and the middle one is timed.
    orders = next(t for t in result.tables if t.name == "Orders").timing
    assert orders["as_load"] and orders["ranges"] == 3
    assert orders["copy_range"] == [135, 269] and orders["copy_rows"] == 134
    assert orders["key_seconds"] >= 0 and orders["analyze_seconds"] > 0
    audit = next(t for t in result.tables if t.name == "AuditLog").timing
    assert audit["as_load"] and audit["ranges"] == 1 and audit["copy_rows"] == 50  # one range: the whole table
    load = result.estimates["initial_load"]
    assert load["seconds"] > result.assumptions["load_start_seconds"]
    assert "over 2 worker(s)" in load["how"] and "for Customers only reading the source was timed" in load["how"]
    assert result.assumptions["load_jobs"] == 2 and result.assumptions["load_range_rows"] == 150


def test_the_estimate_made_before_a_load_is_shown_beside_its_measured_time(shop, migration):
    assess(shop, migration)
    with psycopg.connect(migration.target_url) as conn:
        control.ensure(conn, "migrate_control")
        conn.execute(
            "insert into migrate_control.load_runs (started_at, finished_at, seconds, status) "
            "values (now() + interval '1 second', now() + interval '101 seconds', 100, 'succeeded')"
        )
        conn.commit()
    _, report, markdown = assess(shop, migration)
    measured = report["measured"]
    assert measured["load_run"]["seconds"] == 100
    earlier = report["history"][0]["estimates"]
    assert measured["estimate"]["seconds"] == pytest.approx(earlier["initial_load"])
    assert measured["error"] == pytest.approx((measured["estimate"]["seconds"] - 100) / 100)
    assert len(report["history"]) == 2
    assert "Estimate against the real load" in markdown


DBT_SOURCES = """
version: 2
sources:
  - name: shop
    schema: landing
    tables:
      - name: Customers
        columns:
          - name: customerId
            meta: {disposition: mapped, targets: [app.customer.customer_id], rule: kept as the id}
          - name: FullName
            meta: {disposition: dropped, reason: names are entered again by customers}
      - name: Orders
        columns:
          - name: CardNumber
            meta: {disposition: dropped, reason: PCI scope}
"""
DBT_MODELS = """
version: 2
models:
  - name: customer
    meta: {source_table: Customers}
    columns:
      - name: customer_id
        data_type: bigint
        meta: {source: [Customers.customerId], rule: copy}
      - name: email
        data_type: varchar(18)
        meta: {source: [Customers.eMail], rule: copy}
      - name: signed_up_on
        data_type: date
        meta:
          source: [Customers.SignupDate]
          rule: cast
          expected_sql: "nullif(btrim(\\"Customers\\".\\"SignupDate\\"), '')"
      - name: loyalty_points
        data_type: integer
        meta: {source: [], rule: starts at 0}
      - name: segment
        data_type: text
  - name: sales_order
    meta: {source_table: Orders}
    columns:
      - name: order_id
        data_type: bigint
        meta: {source: [Orders.orderId], expected_sql: '"Orders"."orderNo"'}
      - name: total_cents
        data_type: bigint
        meta:
          source: [Orders.Total]
          rule: round half away from zero
          expected_sql: 'round("Orders"."Total"::numeric * 100)'
"""


def dbt_parse(project: Path, target_url: str) -> None:
    """A real `dbt parse` of a small project, so the manifest is exactly what dbt writes."""
    (project / "models" / "staging").mkdir(parents=True)
    (project / "models" / "app").mkdir(parents=True)
    (project / "profiles").mkdir()
    shutil.copy(PROJECT_DIR / "profiles" / "profiles.yml", project / "profiles" / "profiles.yml")
    (project / "dbt_project.yml").write_text('name: shop\nversion: "1.0"\nprofile: migrate\nmodel-paths: ["models"]\n')
    (project / "models" / "staging" / "_shop__sources.yml").write_text(DBT_SOURCES)
    (project / "models" / "app" / "_app__models.yml").write_text(DBT_MODELS)
    (project / "models" / "app" / "customer.sql").write_text("select 1::bigint as customer_id\n")
    (project / "models" / "app" / "sales_order.sql").write_text("select 1::bigint as order_id\n")
    target = connections.Database("target", target_url, "", False)
    env = {**os.environ, **connections.dbt_environment(target), "DO_NOT_TRACK": "1"}
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [str(dbt), "parse", "--project-dir", str(project), "--profiles-dir", str(project / "profiles"), "--quiet"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )


def test_mapping_gaps_and_trial_casts_come_from_the_dbt_metadata(shop, migration):
    dbt_parse(shop, migration.target_url)
    _, report, markdown = assess(shop, migration)
    mapping = report["mapping"]
    assert mapping["checked"]
    unmapped = {(u["table"], u["column"]) for u in mapping["unmapped_source_columns"]}
    assert ("Customers", "Status") in unmapped and ("AuditLog", "Note") in unmapped
    assert ("Customers", "FullName") not in unmapped and ("Customers", "eMail") not in unmapped
    unsourced = {u["column"]: u["rule"] for u in mapping["unsourced_target_columns"]}
    assert unsourced == {"loyalty_points": "starts at 0", "segment": None}
    assert any("customer.segment has no source and no rule" in m for m in findings(report, "mapping"))

    # 181 e-mails are longer than 18 characters: 190 non-null, of which user1..user9 fit.
    assert column(report, "Customers", "eMail")["target_checks"]["too_long"]["count"] == 181
    tried = {e["column"]: e for e in table(report, "Customers")["expected_sql"]}
    orders = {e["column"]: e for e in table(report, "Orders")["expected_sql"]}
    assert "orderNo" in orders["order_id"]["error"]
    if int(report["source"]["server_version"].split(".")[0]) >= 16:
        assert tried["signed_up_on"]["cast_failures"] == 1  # 2021-02-30
        assert orders["total_cents"]["cast_failures"] == 0
    else:  # no pg_input_is_valid: the expressions run, the casts are not counted, and the report says so
        assert tried["signed_up_on"]["rows"] == 200 and tried["signed_up_on"]["cast_failures"] is None
        assert any("pg_input_is_valid" in note for note in report["notes"])
    assert "| customer | app.customer | view |" in markdown


def test_assess_on_the_worked_example(migration, tmp_path):
    seed = pytest.importorskip("harness.demo.seed", reason="the worked example's generator is not there yet")
    with psycopg.connect(migration.source_url) as conn:
        seed.seed_legacy(conn, 10_000, 42)
        conn.commit()
    shutil.copy(PROJECT_DIR / "migration.yml", tmp_path / "migration.yml")
    _, report, markdown = assess(tmp_path, migration)

    links = {(r["child_table"], r["child_column"], r["parent_table"]): r for r in report["relationships"]}
    customer_link = links[("ORDER_HDR", "CUST_ID", "CUSTOMER")]
    assert customer_link["likely"] and customer_link["orphan_rate"] == pytest.approx(0.005, abs=0.003)
    sku_link = links[("ORDER_LINE", "SKU", "PRODUCT")]
    assert sku_link["normalised_match_rate"] > sku_link["match_rate"]
    assert ("ORDER_LINE", "ORDER_NO", "ORDER_HDR") in links and ("PAYMENT", "ORDER_NO", "ORDER_HDR") in links

    card = column(report, "PAYMENT", "CARD_NO")
    assert card["sensitive"] and card["masked"] == "last4"
    assert "float money" in column(report, "PRODUCT", "PRICE")["risks"]
    created = column(report, "CUSTOMER", "CREATED")["classes"]
    assert created["date_iso"]["share"] == pytest.approx(0.50, abs=0.03)
    assert created["date_us"]["share"] == pytest.approx(0.30, abs=0.03)
    emails = next(d for d in table(report, "CUSTOMER")["duplicates"] if d["columns"] == ["EMAIL_ADDR"])
    assert emails["extra_share"] == pytest.approx(0.02, abs=0.01)
    assert report["exit_code"] == 0
    assert mask_card_numbers(markdown) == markdown  # not one Luhn-valid card number in the report


SAMPLE_VALUES = [
    "2011-02-28",
    "2011-02-30",
    "2011-02-28 13:45:10",
    "02/28/2011",
    "2/29/2012",
    "02/29/2011",
    "20110228",
    "20110231",
    "28-FEB-11",
    "29-feb-00",
    "29-FEB-99",
    "4111 1111 1111 1111",
    "4111111111111112",
    "5500-0000-0000-0004",
    "John.Doe@Example.COM",
    "john.doe@",
    "1234.5",
    "$1,234.50",
    "1234.50 USD",
    "€99,00",
    "n/a",
    "",
    "   ",
    " 2011-02-28 ",
    "\t",
    "2011-02-28\n",
]


def test_the_sql_classifier_and_date_parser_agree_with_python(database_url):
    from datetime import date

    from harness.engines.postgres.assess import class_sql, parsed_date_sql
    from harness.profiling import classify

    value = sql.SQL("t.v")
    query = sql.SQL("select t.v, {}, {} from unnest({}::text[]) as t(v)").format(
        class_sql(value), parsed_date_sql(value), sql.Literal(SAMPLE_VALUES)
    )
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(query).fetchall()
    for text, sql_class, _ in rows:
        assert sql_class == classify(text), text
    parsed = {text: day for text, _, day in rows}
    assert (
        parsed["2011-02-28"] == parsed["02/28/2011"] == parsed["20110228"] == parsed["28-FEB-11"] == date(2011, 2, 28)
    )
    assert parsed["2/29/2012"] == date(2012, 2, 29) and parsed["29-feb-00"] == date(2000, 2, 29)
    assert parsed["2011-02-30"] is None and parsed["02/29/2011"] is None and parsed["20110231"] is None
    assert parsed["29-FEB-99"] is None  # 1999 was not a leap year
