"""`migrate docs` on real runs: before anything ran, after a whole generic migration (load, build,
reconcile, backup, rehearsal, approvals, cutover, a check of the rollback criteria), and on the
worked example, before its cutover and after its fallback. The documents carry that run's figures
and names, never a placeholder, and the spreadsheet has a row for every target and every legacy
column."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import openpyxl
import psycopg
import pytest

from harness import approvals, assess, backup, cutover, docs, load, reconcile, rehearse, reports, rollback, sync
from harness.core import connections
from harness.core.config import load_config
from harness.dbt import artifacts as dbt_artifacts
from harness.demo.seed import seed_legacy
from harness.rollback import criteria as rollback_criteria
from tests.conftest import PROJECT_DIR, run_migrate
from tests.integration.conftest import CONFIG, rows

pytestmark = pytest.mark.integration

PLACEHOLDERS = ("TODO", "TBD", "{{", "None")
LOADER_COLUMNS = {"_migrate_synced_at", "_migrate_deleted"}

OWNERS = """
owners: {migration_lead: Data team, business_owner: Shop owners, dba: DBA team}
cutover:
  required_approvals: [business_owner, dba]
  max_lag_seconds: 30
"""

# A small dbt project for the shop schema: two target tables with mapping metadata, a contract
# with a foreign key, a generic, a relationships and a singular test, a macro; Tag left unmapped.
SHOP_DBT = {
    "dbt_project.yml": """
name: shop_docs
version: "1.0"
config-version: 2
profile: migrate
models:
  shop_docs:
    app: {+schema: app, +materialized: table}
""",
    "models/staging/_shop__sources.yml": """
version: 2
sources:
  - name: shop
    schema: landing
    quoting: {identifier: true}
    tables:
      - name: Client
        description: Clients of the shop.
        columns:
          - {name: Id, quote: true, meta: {disposition: mapped, targets: [app.client.client_id, app.basket_line.client_id], rule: Kept as the key.}}
          - {name: Name, quote: true, meta: {disposition: mapped, targets: [app.client.name], rule: Trimmed.}}
          - {name: Card, quote: true, meta: {disposition: dropped, reason: The new shop keeps no card numbers.}}
      - name: Basket
        columns:
          - {name: ClientId, quote: true, meta: {disposition: mapped, targets: [app.basket_line.client_id], rule: Kept.}}
          - {name: Line, quote: true, meta: {disposition: mapped, targets: [app.basket_line.line_no], rule: Kept.}}
          - {name: Sku, quote: true, meta: {disposition: mapped, targets: [app.basket_line.sku], rule: Upper case.}}
          - {name: Price, quote: true, meta: {disposition: mapped, targets: [app.basket_line.price_cents], rule: Float money to cents.}}
      - name: Tag
""",
    "models/app/_app__models.yml": """
version: 2
models:
  - name: client
    description: One row per shop client.
    config: {contract: {enforced: true}}
    columns:
      - {name: client_id, data_type: bigint, constraints: [{type: primary_key}], meta: {source: [Client.Id], rule: Kept as the key.}}
      - {name: name, data_type: text, constraints: [{type: not_null}], meta: {source: [Client.Name], rule: Trimmed.}}
  - name: basket_line
    description: One row per basket line.
    config: {contract: {enforced: true}}
    data_tests:
      - unique: {arguments: {column_name: "client_id || '-' || line_no"}}
    columns:
      - name: client_id
        data_type: bigint
        constraints: [{type: not_null}, {type: foreign_key, to: "ref('client')", to_columns: [client_id]}]
        data_tests: [{relationships: {arguments: {to: "ref('client')", field: client_id}}}]
        meta: {source: [Basket.ClientId], rule: Kept.}
      - {name: line_no, data_type: integer, meta: {source: [Basket.Line], rule: Kept.}}
      - {name: sku, data_type: text, meta: {source: [Basket.Sku], rule: Upper case.}}
      - {name: price_cents, data_type: bigint, meta: {source: [Basket.Price], rule: Float money to cents.}}
      - {name: migrated_at, data_type: timestamptz, meta: {source: [], rule: When the row was built.}}
""",
    "models/app/client.sql": """select "Id"::bigint as client_id, btrim("Name") as name from {{ source('shop', 'Client') }} where not "_migrate_deleted"
""",
    "models/app/basket_line.sql": """select "ClientId"::bigint as client_id, "Line" as line_no, upper("Sku") as sku,
    {{ to_cents('"Price"') }} as price_cents, now() as migrated_at
from {{ source('shop', 'Basket') }} where not "_migrate_deleted"
""",
    "tests/assert_lines_have_clients.sql": """-- Every basket line belongs to a client of the target.
select * from {{ ref('basket_line') }} where client_id not in (select client_id from {{ ref('client') }})
""",
    "macros/to_cents.sql": """{# Float money to cents, rounded once here. #}
{% macro to_cents(expression) %}round({{ expression }} * 100)::bigint{% endmacro %}
""",
    "macros/_macros.yml": """
version: 2
macros:
  - name: to_cents
    description: Float money to integer cents.
    arguments: [{name: expression, type: string, description: SQL expression of the amount.}]
""",
}


def write_project(folder: Path, files: dict[str, str]) -> None:
    shutil.copytree(PROJECT_DIR / "profiles", folder / "profiles", dirs_exist_ok=True)
    (folder / "macros").mkdir(exist_ok=True)
    shutil.copy(
        PROJECT_DIR / "kit" / "macros" / "overrides" / "generate_schema_name.sql",
        folder / "macros" / "generate_schema_name.sql",
    )
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def read(folder: Path, name: str) -> str:
    return (folder / name).read_text()


def assert_no_placeholders(folder: Path) -> None:
    for path in sorted(folder.iterdir()):
        if path.suffix in (".md", ".html", ".json", ".csv"):
            texts = [path.read_text()]
        elif path.suffix == ".xlsx":
            book = openpyxl.load_workbook(path)
            texts = [
                str(v)
                for sheet in book.worksheets
                for row in sheet.iter_rows(values_only=True)
                for v in row
                if v is not None
            ]
        else:
            continue
        for text in texts:
            for word in PLACEHOLDERS:
                assert word not in text, (
                    f"{word!r} in {path.name}: …{text[max(0, text.find(word) - 80) : text.find(word) + 80]}…"
                )
            assert "lorem" not in text.lower(), path.name


def chart_figures(markdown: str, title: str) -> dict[tuple[str, str], tuple[float, float]]:
    """A Gantt chart's figures as its Markdown shows them under its title: (step, kind) → (start, seconds)."""
    lines = markdown[markdown.index(f"**{title}**") :].split("\n\n")[1].splitlines()[2:]
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]
    return {(c[0], c[1]): (float(c[2]), float(c[3])) for c in cells}


def sheet_rows(book: openpyxl.Workbook, title: str) -> list[dict]:
    values = list(book[title].iter_rows(values_only=True))
    return [dict(zip(values[0], row)) for row in values[1:]]


def assert_spreadsheet_covers_every_column(
    folder: Path, project: Path, target_url: str, landing_tables: list[str]
) -> None:
    """A row for every target column (manifest and database) and every legacy column (landing, without the loader's own)."""
    book = openpyxl.load_workbook(folder / "mapping.xlsx")
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    targets = [m for m in dbt_artifacts.models(dbt_artifacts.Artifacts(manifest, None, None)) if m.is_target]
    assert targets
    titles = {t.lower() for t in book.sheetnames}
    for model in targets:
        assert model.name.lower() in titles, f"no sheet for {model.name}"
        listed = {r["target column"] for r in sheet_rows(book, model.name[:31])}
        schema, table = model.relation.split(".", 1)
        in_database = {
            c
            for (c,) in rows(
                target_url,
                f"select column_name from information_schema.columns where table_schema = '{schema}' "
                f"and table_name = '{table}'",
            )
        }
        documented = {c for c in manifest["nodes"][model.unique_id]["columns"]}
        assert documented | in_database <= listed, (
            f"{model.name}: missing {sorted((documented | in_database) - listed)}"
        )
    legacy = {(r["legacy table"], r["legacy column"]) for r in sheet_rows(book, "Legacy columns")}
    for name in landing_tables:
        columns = {
            c
            for (c,) in rows(
                target_url,
                f"select column_name from information_schema.columns where table_schema = 'landing' "
                f"and table_name = '{name}'",
            )
        }
        assert columns - LOADER_COLUMNS, name
        missing = {(name, c) for c in columns - LOADER_COLUMNS} - legacy
        assert not missing, f"legacy columns missing from the spreadsheet: {sorted(missing)}"
    csv_text = read(folder, "mapping.csv")
    assert csv_text.startswith("legacy_table,legacy_column,legacy_type,target_table,target_column")


def test_documents_before_anything_ran_say_what_is_missing(shop):
    _, _, _, migration, tmp_path = shop
    env = {**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path)}
    out = run_migrate("docs", env=env).stdout
    folder = tmp_path / "docs" / "migration"
    assert "files written to docs/migration" in out
    plan, validation = read(folder, "plan.md"), read(folder, "validation.md")
    assert (
        "No reconciliation has run yet" in plan
        and "No assessment has run yet" in plan
        and "Nothing has been loaded yet" in plan
    )
    assert "No rehearsal has run yet" in read(folder, "rollback.md")
    assert "No cutover has run yet" in read(folder, "runbook.md")
    assert "No dbt tests: the project folder has no dbt_project.yml" in validation
    book = openpyxl.load_workbook(folder / "mapping.xlsx")
    unmapped = {(r["legacy table"], r["legacy column"]) for r in sheet_rows(book, "Unmapped and dropped")}
    assert unmapped == {("Client", c) for c in ("Id", "Name", "Card", "Updated")} | {
        ("Basket", c) for c in ("ClientId", "Line", "Sku", "Price")
    } | {("Tag", "Code"), ("Tag", "Label")}
    assert_no_placeholders(folder)


def test_documents_of_a_generic_migration_carry_its_run(shop, admin_url):
    config, source, target, migration, tmp_path = shop
    (tmp_path / "migration.yml").write_text(CONFIG + OWNERS)
    write_project(tmp_path, SHOP_DBT)
    config = load_config(tmp_path)
    check_db = f"{source.name}_check"
    try:
        load.load(config, source, target)
        sync.build(config, target, ("build",))
        assert reconcile.reconcile(config, source, target, ["counts", "checksums", "rules"], build=False).passed
        backup.backup(config, source, target, "source", tmp_path / "backups")
        backup.restore(config, source, target, check_db, allow_source_copy=True)
        rehearsal = rehearse.rehearse(config, source, target)
        approvals.approve(config, target, "cutover", "business_owner", "Ada Lovelace", "figures checked")
        approvals.approve(config, target, "cutover", "dba", "Edgar Codd")
        assert reconcile.reconcile(config, source, target, ["counts", "checksums"], build=False).passed
        run = cutover.run(config, source, target)
        rollback_criteria.evaluate(config, source, target)
    finally:
        connections.drop_database(admin_url, check_db)

    (tmp_path / "target" / "manifest.json").unlink()  # docs parses the project when the manifest is missing
    env = {**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path)}
    assert "ran `dbt parse` first" in run_migrate("docs", env=env).stdout
    folder = tmp_path / "docs" / "migration"
    plan, runbook, rollback_doc, validation, transformations = (
        read(folder, f"{name}.md") for name in ("plan", "runbook", "rollback", "validation", "transformations")
    )

    assert "| Client | primary key of the source | Card (last4) | not assessed | 5,000 |" in plan
    assert "| Basket | primary key of the source | none | not assessed | 6,000 |" in plan
    assert "copied 11,002 rows" in plan
    assert "Switched at " in plan and "cutover run" in plan
    assert "| Rollback tested |" in plan and f"rehearsal {rehearsal.rehearsal_id} succeeded" in plan
    for name in ("Ada Lovelace", "Edgar Codd"):
        for text in (plan, runbook, rollback_doc, validation, read(folder, "plan.html")):
            assert name in text
    assert "figures checked" in plan

    assert "| 2 | catch_up | migration_lead (Data team) |" in runbook
    assert "| 3 | freeze_source | dba (DBA team) |" in runbook
    assert "## After the switch" in runbook and "`migrate decommission`" in runbook
    assert f"Cutover run {run.run_id} succeeded" in runbook
    real = {s.name: s for s in run.steps}
    assert all(f"| {step} | T+" in runbook for step in real)
    assert "writes were unavailable for" in runbook

    # The runbook's Gantt chart: each step of the cutover where and as long as the control schema recorded it.
    recorded = rows(
        migration.target_url,
        "select step, extract(epoch from started_at - min(started_at) over ())::float8, "
        "extract(epoch from finished_at - started_at)::float8 "
        f'from "{config.control_schema}".steps where run_id = {run.run_id}',
    )
    drawn = chart_figures(runbook, "The cutover's steps: planned, rehearsed and real (seconds after T)")
    assert len(recorded) == len(real) and all(
        drawn[(step, "real")] == pytest.approx((start, seconds), abs=0.001) for step, start, seconds in recorded
    )
    rehearsed = rows(
        migration.target_url,
        "select step, extract(epoch from finished_at - started_at)::float8 "
        f'from "{config.control_schema}".steps where run_id = (select run_id from "{config.control_schema}".rehearsals '
        f"where rehearsal_id = {rehearsal.rehearsal_id}) and status = 'succeeded'",
    )
    assert all(
        drawn[(step, "rehearsed")][1] == pytest.approx(seconds, abs=0.001)
        for step, seconds in rehearsed
        if step in real
    )
    assert any(kind == "planned" for _, kind in drawn)
    [(unavailable,)] = rows(
        migration.target_url,
        "select (detail ->> 'write_unavailable_seconds')::float8 "
        f'from "{config.control_schema}".runs where run_id = {run.run_id}',
    )
    runbook_html = read(folder, "runbook.html")
    assert 'data-chart="runbook-timeline"' in runbook_html and 'id="runbook-timeline-write-window-0"' in runbook_html
    assert f"writes unavailable ({unavailable:,.1f} s)" in runbook_html, "the shaded window is the write unavailability"

    # The plan's timeline chart: the real load and the real write unavailability as recorded.
    phases = chart_figures(plan, "The migration's phases: estimated, rehearsed and real durations")
    [(load_seconds,)] = rows(
        migration.target_url,
        f'select seconds::float8 from "{config.control_schema}".load_runs order by load_id desc limit 1',
    )
    assert phases[("initial load", "real")][1] == pytest.approx(load_seconds, abs=0.001)
    assert phases[("freeze to switch (writes unavailable)", "real")][1] == pytest.approx(unavailable, abs=0.001)
    assert ("initial load", "rehearsed") in phases and 'data-chart="plan-timeline"' in read(folder, "plan.html")

    assert "rehearsal" in rollback_doc and "the rollback took" in rollback_doc
    assert "`migrate rollback --check`" in rollback_doc
    assert (
        "`migrate rollback --role ROLE --decided-by NAME --reason TEXT`, ROLE one of business_owner, dba"
        in rollback_doc
    )
    assert "refused unless `--role` names one of business_owner, dba (migration.yml rollback.deciders)" in rollback_doc
    verification = next(x for x in rollback_doc.splitlines() if x.startswith("| verification failed | verification |"))
    assert (
        f"not met: the final verification of cutover run {run.run_id} passed" in verification
        and "; check run " in verification
    )
    assert "| manual decision | manual |" in rollback_doc
    assert "| Client | fallback.legacy_client |  | missing: the fallback stops before writing anything" in rollback_doc
    assert "No rollback has been run on this migration" in rollback_doc

    assert "| Client: source = landing | passed | 5,000 | 5,000 |" in validation
    assert "| Basket: source = landing | passed | 6,000 | 6,000 | 1 segment, 0 differ |" in validation
    assert "every basket_line.client_id exists in client.client_id" in validation
    assert "Every basket line belongs to a client of the target." in validation
    assert "| app.basket_line | enforced | 1 foreign key, 1 not null |" in validation
    assert "| Tag | 2 | 2 |" in validation, "the cutover's final verification counts"

    assert (
        "| to_cents | macros/to_cents.sql | Float money to integer cents. | expression: SQL expression of the amount | basket_line |"
        in transformations
    )
    assert (
        "| basket_line (target table) | models/app/basket_line.sql | table | One row per basket line. | client, shop.Basket | no model |"
        in transformations
    )

    assert_spreadsheet_covers_every_column(folder, tmp_path, migration.target_url, ["Client", "Basket", "Tag"])
    book = openpyxl.load_workbook(folder / "mapping.xlsx")
    prices = [r for r in sheet_rows(book, "basket_line") if r["target column"] == "price_cents"]
    assert prices[0]["legacy type"] == "double precision" and prices[0]["conversion"] == "double precision → bigint"
    assert prices[0]["implemented in"] == "models/app/basket_line.sql"
    fates = {
        (r["legacy table"], r["legacy column"]): r["disposition"] for r in sheet_rows(book, "Unmapped and dropped")
    }
    assert fates == {
        ("Client", "Card"): "dropped",
        ("Client", "Updated"): "unmapped",
        ("Tag", "Code"): "unmapped",
        ("Tag", "Label"): "unmapped",
    }
    assert {r["name"] for r in sheet_rows(book, "Approvals")} == {"Ada Lovelace", "Edgar Codd"}
    assert_no_placeholders(folder)


WORKED_SCALE = 1000


def test_documents_of_the_worked_example(tmp_path, migration, monkeypatch, admin_url):
    """The worked OMS migration at 1,000 customers: assess, load, build, reconcile, approve, docs."""
    for name in ("models", "macros", "kit", "seeds", "profiles"):
        shutil.copytree(PROJECT_DIR / name, tmp_path / name)
    shutil.copytree(PROJECT_DIR / "tests" / "dbt", tmp_path / "tests" / "dbt")
    for name in ("dbt_project.yml", "packages.yml", "migration.yml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    monkeypatch.setenv("MIGRATE_SOURCE_URL", migration.source_url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    config = load_config(tmp_path)
    source = connections.Database("source", migration.source_url, "MIGRATE_SOURCE_URL", False)
    target = connections.Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)
    with psycopg.connect(migration.source_url) as conn:
        seeded = seed_legacy(conn, WORKED_SCALE, 7)
        conn.commit()
    assessed = assess.run(config, source, target)
    reports.write(config.reports_root, "assessment", assessed.to_dict(), assess.assessment_markdown)
    load.load(config, source, target)
    sync.build(config, target, ("build", "--full-refresh"))
    result = reconcile.reconcile(config, source, target, ["counts", "checksums", "sample", "rules"], build=False)
    assert result.passed
    approvals.approve(config, target, "cutover", "business_owner", "Grace Hopper", "dispositions reviewed")
    approvals.approve(config, target, "plan", "migration_lead", "Barbara Liskov")

    generated = docs.generate(config, source, target, tmp_path / "docs" / "migration")
    folder = generated.out_dir
    plan, validation, runbook = read(folder, "plan.md"), read(folder, "validation.md"), read(folder, "runbook.md")
    for table, count in seeded.items():
        assert f"| {table} |" in plan
        line = next(x for x in plan.splitlines() if x.startswith(f"| {table} |"))
        assert line.endswith(f"| {count:,} | {count:,} |"), line
    dispositions = rows(
        migration.target_url,
        "select source_table, source_rows, migrated, merged, quarantined from quarantine.dispositions",
    )
    for table, total, migrated, merged, quarantined in dispositions:
        assert (
            f"| {table}: rows = migrated + merged + quarantined | passed | {total:,} | "
            f"{migrated:,} + {merged:,} + {quarantined:,} = {total:,} |"
        ) in validation
    recommended = assessed.recommendation["strategy"]
    assert recommended and f"recommends **{recommended.replace('_', ' ')}**" in plan
    assert assessed.findings and "## Risks and mitigations" in plan and "| warning |" in plan
    assert "| cutover | business_owner | Order Management | Grace Hopper |" in plan
    assert "| plan | migration_lead | Data Engineering | Barbara Liskov |" in runbook
    assert "dba: not yet" in plan, "the missing approval is named"
    phases = chart_figures(plan, "The migration's phases: estimated, rehearsed and real durations")
    for label, key in (
        ("initial load", "initial_load"),
        ("dbt build", "build"),
        ("validation (reconcile)", "validation"),
    ):
        assert phases[(label, "planned")][1] == pytest.approx(assessed.estimates[key]["seconds"], abs=0.001), label
    assert 'data-chart="plan-timeline"' in read(folder, "plan.html")
    assert "| legacy_dates_parse_every_format | stg_oms__customers |" in validation
    assert_spreadsheet_covers_every_column(folder, tmp_path, migration.target_url, list(seeded))
    book = openpyxl.load_workbook(folder / "mapping.xlsx")
    cards = [r for r in sheet_rows(book, "payment") if r["legacy column"] == "CARD_NO"]
    assert cards and all(r["conversion"].startswith("masked at the source (last4)") for r in cards)
    assert_no_placeholders(folder)

    # After the switch: the new application renames a customer, the criteria are checked, a decider falls back.
    cutover.run(config, source, target, skip_gates=True)
    with psycopg.connect(migration.target_url) as conn:
        conn.execute(
            "update app.customer set display_name = display_name || ' renamed' where customer_id = (select min(customer_id) from app.customer)"
        )
    rollback_criteria.evaluate(config, source, target)
    fell_back = rollback.rollback(
        config, source, target, decided_by="Grace Hopper (business_owner)", reason="orders lose their lines"
    )
    assert fell_back.carried["CUSTOMER"] == {"inserted": 0, "updated": 1, "deleted": 0}
    docs.generate(config, source, target, folder)
    rollback_doc = read(folder, "rollback.md")
    assert "Fell back at " in rollback_doc
    metric = next(x for x in rollback_doc.splitlines() if x.startswith("| new orders without lines | metric |"))
    assert "≤ 0.02, measured by its SQL on the target" in metric and "; check run " in metric
    assert (
        "| CUSTOMER | fallback.legacy_customer | models/fallback/legacy_customer.sql | built by the model legacy_customer |"
        in rollback_doc
    )
    assert "| legacy_keys | models/fallback/legacy_keys.sql |" in rollback_doc
    assert (
        "**What is not carried back** (the header of models/fallback/_fallback__models.yml): Not carried back: categories edited in place"
        in rollback_doc
    )
    assert f"| {fell_back.run_id} | CUSTOMER | 0 | 1 | 0 |" in rollback_doc
    assert (
        "| Grace Hopper (business_owner) | orders lose their lines | succeeded | 0 inserted, 1 updated, 0 deleted over 5 tables |"
        in rollback_doc
    )
    assert f"The fallback, in fallback run {fell_back.run_id} (succeeded): its steps took" in rollback_doc
    assert f"fallback run {fell_back.run_id} decided by Grace Hopper (business_owner): orders lose their lines" in read(
        folder, "plan.md"
    )
    assert_no_placeholders(folder)
