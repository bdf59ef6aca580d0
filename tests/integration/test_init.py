"""`migrate init` on a source it has never seen, then the lifecycle on the project it wrote, with no
hand edit: provision, load, sync after source writes, reconcile, dbt build; zero rows lost."""

from __future__ import annotations

import re
from decimal import Decimal

import psycopg
import pytest

from tests.conftest import run_migrate

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LONG = "a_table_with_a_very_long_name_that_goes_on_and_on_for_60_byt"  # 60 bytes
SOURCE = f"""
create schema "Shop";
set search_path = "Shop";
create table "Customer" ("CustID" integer primary key, "Full Name" varchar(80) not null, "E-Mail" varchar(120),
    card_no varchar(25), balance money, "Flag" "char", created timestamp, notes text);
create table "Order Items" ("OrderNo" bigint, "LineNo" smallint, "CustID" integer references "Customer",
    qty numeric(10,2) check (qty > 0), payload json, tags text[], uid uuid, primary key ("OrderNo", "LineNo"));
create table "{LONG}" (id text primary key, "MixedCase" boolean, span interval, blob bytea);
create table "no key here" (a int, b text);
insert into "Customer" select i, 'Name ' || i, 'user' || i || '@example.com',
    case when i % 2 = 0 then '4111 1111 1111 1111' else '5500-0000-0000-0004' end, i * 1.5, 'x',
    timestamp '2020-01-01' + i * interval '1 hour', null from generate_series(1, 300) i;
insert into "Order Items" select i / 3, i % 3, 1 + i % 300, i % 7 + 1, json_build_object('i', i), array['a', 'b'],
    md5(i::text)::uuid from generate_series(3, 1000) i;
insert into "{LONG}" select 'k' || i, i % 2 = 0, i * interval '1 minute', '\\xdeadbeef' from generate_series(1, 50) i;
insert into "no key here" values (1, 'x');
"""
WRITES = """
set search_path = "Shop";
insert into "Customer" values (1001, 'New', 'n@example.com', null, 1, 'y', now(), 'x');
update "Customer" set notes = 'changed' where "CustID" = 5;
delete from "Order Items" where "OrderNo" = 7;
update "Order Items" set "LineNo" = 9 where "OrderNo" = 8 and "LineNo" = 0;
insert into "Order Items" values (5000, 1, 1001, 3, '{"a": 1}', null, null);
"""


def rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


@pytest.fixture
def scaffolded(migration, tmp_path, monkeypatch):
    monkeypatch.delenv("MIGRATE_PROJECT_DIR", raising=False)
    monkeypatch.delenv("MIGRATE_SOURCE_URL", raising=False)
    monkeypatch.delenv("MIGRATE_TARGET_URL", raising=False)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(SOURCE)
    folder = tmp_path / "my-migration"
    done = run_migrate(
        "init",
        str(folder),
        "--source-url",
        migration.source_url,
        "--target-url",
        migration.target_url,
        "--schema",
        "Shop",
    )
    return folder, done


def test_init_project_runs_the_lifecycle_without_a_hand_edit(migration, scaffolded):
    folder, done = scaffolded
    assert done.stdout.count('"no key here"') == 1  # the table without a key: one clear finding
    config = (folder / "migration.yml").read_text()
    assert '"card_no": last4' in config and '"E-Mail": hash' in config
    assert "Luhn-valid card numbers" in config
    assert (folder / "packages.yml").read_text().count("local:") == 1
    assert not (folder / "macros" / "kit").exists()  # the kit is used from the kit, not copied
    for command in ("provision", "load"):
        run_migrate(command, cwd=folder)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(WRITES)
    run_migrate("sync", cwd=folder)
    run_migrate("reconcile", cwd=folder)
    run_migrate("build", cwd=folder)

    source_items = rows(
        migration.source_url,
        'select "OrderNo", "LineNo", "CustID", qty, payload::jsonb, tags, uid from "Shop"."Order Items" order by 1, 2',
    )
    app_items = rows(
        migration.target_url,
        "select order_no, line_no, cust_id, qty, payload, tags, uid from app.order_items order by 1, 2",
    )
    assert app_items == source_items
    assert rows(migration.target_url, "select cust_id, notes, balance from app.customer order by 1") == rows(
        migration.source_url, 'select "CustID", notes, balance::numeric(19,2) from "Shop"."Customer" order by 1'
    )
    assert rows(migration.target_url, f'select id, mixed_case, span, blob from app."{LONG}" order by 1') == rows(
        migration.source_url, f'select id, "MixedCase", span, blob from "Shop"."{LONG}" order by 1'
    )
    assert rows(migration.target_url, "select count(*) from quarantine.quarantined_rows") == [(0,)]
    # The new application cannot write what a fallback could not carry back into the source's types:
    # NaN or beyond money's range into numeric(19,2), more than one byte into "char"'s text.
    for assignment in ("balance = 'NaN'", "balance = 1e17 - 1", "flag = 'xy'"):
        with psycopg.connect(migration.target_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(f"update app.customer set {assignment} where cust_id = 1")


def test_init_refuses_a_folder_that_is_not_empty(migration, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    failed = run_migrate("init", str(tmp_path), "--source-url", migration.source_url, expect=2)
    assert "not empty" in failed.stderr and "--force" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1


def test_init_says_in_one_line_what_is_wrong_with_a_bad_url(tmp_path):
    failed = run_migrate("init", str(tmp_path / "p"), "--source-url", "not a url", expect=2)
    assert len(failed.stderr.strip().splitlines()) == 1 and "--source-url" in failed.stderr
    unreachable = run_migrate(
        "init", str(tmp_path / "q"), "--source-url", "postgresql://nobody@127.0.0.1:1/none", expect=2
    )
    assert len(unreachable.stderr.strip().splitlines()) == 1 and "cannot connect" in unreachable.stderr


def test_check_says_in_one_line_each_what_a_broken_project_lacks_and_how_to_fix_it(scaffolded):
    folder, _ = scaffolded
    intact = run_migrate("check", cwd=folder)
    assert "meets what the harness relies on" in intact.stdout
    assert f"note: {LONG}: its reverse model's name" in intact.stderr  # over 63 bytes: said, not a problem

    (folder / "selectors.yml").unlink()
    (folder / "models" / "fallback" / "fallback_customer.sql").unlink()
    config = (folder / "migration.yml").read_text()
    config = config.replace("tables:\n", 'tables:\n  "Ghost":\n    key: ["id"]\n', 1)
    config = config.replace(
        config[config.index("  url:", config.index("target:")) :].splitlines()[0],
        "  url: postgresql://nobody@127.0.0.1:1/none",
    )
    (folder / "migration.yml").write_text(config)

    broken = run_migrate("check", cwd=folder, expect=1)
    lines = [line for line in broken.stderr.splitlines() if line.strip() and not line.startswith("note: ")]
    assert "Traceback" not in broken.stderr
    expected = {
        "no selector sync": "conventions:",
        "no reverse model fallback.legacy_customer": "conventions:",
        "table Ghost of migration.yml has no dbt source": "conventions:",
        "var source_tables has no entry for Ghost": "conventions:",
        "no reverse model fallback.legacy_ghost": "conventions:",
        "cannot connect": "connections:",
    }
    for fragment, part in expected.items():
        found = [line for line in lines if fragment in line]
        assert len(found) == 1 and found[0].startswith(part), (fragment, lines)
        assert found[0].count(": ") >= 2, found[0]  # the problem, then its fix
    assert len(lines) == len(expected) + 1, lines  # and the closing line with the count


def test_a_project_whose_dbt_layer_is_empty_loads_syncs_and_says_there_is_no_app(migration, scaffolded):
    import shutil

    folder, _ = scaffolded
    shutil.rmtree(folder / "models")  # migration.yml only: the mapping not written yet
    loaded = run_migrate("load", cwd=folder)
    assert "no dbt models in this project yet" in loaded.stdout
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(WRITES)
    synced = run_migrate("sync", cwd=folder)
    assert "no dbt models in this project yet" in synced.stdout
    assert rows(migration.target_url, 'select count(*) from landing."Customer" where not _migrate_deleted') == [(301,)]
    status = run_migrate("status", cwd=folder)
    assert "no app yet" in status.stdout and "app lag" not in status.stdout
    followed = run_migrate("sync", "--follow", "--duration", "2", "--interval", "1", cwd=folder)
    assert "app lag" not in followed.stdout and "0 dbt builds" in followed.stdout


def test_update_adds_a_new_table_and_column_and_never_overwrites_an_edit(migration, scaffolded):
    folder, _ = scaffolded
    run_migrate("provision", cwd=folder)
    run_migrate("load", cwd=folder)
    config = (folder / "migration.yml").read_text()
    edited_config = config.replace("owners:", "# my own note\nowners:")
    (folder / "migration.yml").write_text(edited_config)
    staging = folder / "models" / "staging" / "stg_legacy__customer.sql"
    edited_staging = staging.read_text() + "-- reviewed by me\n"
    staging.write_text(edited_staging)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute('create table "Shop"."Supplier" ("SupplierID" integer primary key, "Name" text not null)')
        conn.execute("""insert into "Shop"."Supplier" select i, 'supplier ' || i from generate_series(1, 20) i""")
        conn.execute('alter table "Shop"."Order Items" add column "Discount" numeric(5,2)')

    updated = run_migrate("init", str(folder), "--update")
    assert "source: table Supplier added" in updated.stdout
    assert "source: column Order Items.Discount added (numeric(5,2))" in updated.stdout
    assert "added models/staging/stg_legacy__supplier.sql" in updated.stdout
    assert "kept your edits in models/staging/stg_legacy__customer.sql" in updated.stdout
    assert staging.read_text() == edited_staging  # never overwritten
    assert (folder / ".migrate" / "init-update" / "models" / "staging" / "stg_legacy__customer.sql").exists()
    now = (folder / "migration.yml").read_text()
    assert "# my own note" in now and '"Supplier":' in now  # the new table inserted into the edited file
    assert re.sub(r'  "Supplier":\n    key: \["SupplierID"\] .*\n', "", now) == edited_config

    again = run_migrate("init", str(folder), "--update")  # nothing new: nothing written, the edits still kept
    assert "0 source change(s); 0 file(s) added, 0 updated" in again.stdout

    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute("""update "Shop"."Order Items" set "Discount" = 1.5 where "OrderNo" = 5""")
    run_migrate("load", "--no-build", cwd=folder)  # the added table, alone
    run_migrate("sync", "--no-build", cwd=folder)  # the added column reaches landing
    run_migrate("build", "--full-refresh", cwd=folder)
    assert rows(migration.target_url, "select count(*) from app.supplier") == [(20,)]
    assert rows(migration.target_url, "select distinct discount from app.order_items where order_no = 5") == [
        (Decimal("1.50"),)
    ]


def test_init_proposes_undeclared_relationships_and_adds_self_references_by_post_hook(migration, tmp_path):
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute("""
            create schema rel;
            create table rel.supplier (id integer primary key, name text);
            create table rel.part (part_id integer primary key, supplier_id integer, colour_id integer,
                parent_part_id integer references rel.part);
            insert into rel.supplier select i, 's' || i from generate_series(1, 30) i;
            insert into rel.part select i, 1 + i % 30, 1000 + i, case when i > 1 then i - 1 end
                from generate_series(1, 100) i;
        """)
    folder = tmp_path / "rel"
    run_migrate("init", str(folder), "--source-url", migration.source_url, "--schema", "rel")
    models = (folder / "models" / "app" / "_app__models.yml").read_text()
    assert "# undeclared: supplier_id -> supplier (id): 100 of 100 sampled values found there" in models
    assert "colour_id" not in models.split("columns:")[0]  # no parent table: nothing proposed
    part = (folder / "models" / "app" / "part_app.sql").read_text()
    assert "migrate_kit.add_self_foreign_key('parent_part_id', 'part_id', 'part_parent_part_id_fkey')" in part
    decided = (folder / "models" / "intermediate" / "int_part_decided.sql").read_text()
    assert "part_parent_part_id_missing" in decided
