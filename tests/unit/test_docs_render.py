"""The migration documents' rendering, from a facts dict alone: no database, no dbt run."""
from __future__ import annotations

import copy
import json

import pytest

from harness import cutover, docs, docs_render, mapping_sheet, reconcile
from harness.config import load_config
from harness.dbt_artifacts import Artifacts

PLACEHOLDERS = ("TODO", "TBD", "{{", "None")

MIGRATION_YML = """
name: unit shop
source: {schema: Shop}
tables:
  Client: {key: [Id], masks: {Card: last4}}
  Basket: {key: [ClientId, Line]}
owners: {migration_lead: Data team, business_owner: Shop owners, dba: DBA team}
roles: {legacy_app_role: shop_legacy}
cutover: {required_approvals: [business_owner, dba]}
"""


@pytest.fixture
def facts(tmp_path) -> dict:
    """The facts of a migration where nothing has happened yet, as docs.collect shapes them."""
    (tmp_path / "migration.yml").write_text(MIGRATION_YML)
    config = load_config(tmp_path)
    return json.loads(json.dumps(docs.plain({
        "document": "migration-docs", "version": 1, "generated_at": "2026-01-02T03:04:05+00:00", "migration": config.name,
        "source": {"database": "legacy-db:5432/shop", "schema": "Shop", "engine": "postgres"},
        "target": {"database": "new-db:5432/shop", "landing_schema": "landing", "control_schema": "migrate_control"},
        "settings": docs.settings(config),
        "phase": None, "load": None, "sync": None, "backups": [], "rollbacks": [], "approvals": [],
        "reconcile": {"runs": [], "levels": {}}, "rehearsal": None,
        "cutover": {"last_run": None, "steps": list(cutover.STEPS), "estimates": {}},
        "gates": {"checked_at": "2026-01-02T03:04:05+00:00", "error": None,
                  "gates": [{"name": "approvals", "passed": False, "reason": "no cutover approval from business_owner, dba"}]},
        "assessment": None,
        "dbt": {"available": False, "reason": "the project folder has no dbt_project.yml, so there are no models to document"},
        "mapping": {"target_tables": [], "legacy_tables": [], "notes": []},
        "notes": [],
    })))


def rendered(facts: dict) -> dict[str, str]:
    docs_list = docs_render.documents(facts)
    nav = [(d.title, f"{d.name}.html") for d in docs_list]
    out = {}
    for doc in [docs_render.index(facts, docs_list), *docs_list]:
        out[f"{doc.name}.md"] = docs_render.markdown(doc)
        out[f"{doc.name}.html"] = docs_render.html_page(doc, nav, facts["migration"])
    return out


def test_every_cutover_step_and_reconcile_level_is_described_and_owned():
    assert set(cutover.STEPS) <= set(docs_render.STEP_WORDS)
    assert set(cutover.STEPS) <= set(docs_render.STEP_OWNERS)
    assert set(reconcile.LEVELS) <= set(docs_render.LEVEL_WORDS)


def test_documents_of_a_migration_where_nothing_happened_say_so_plainly(facts):
    texts = rendered(facts)
    everything = "\n".join(texts.values())
    for plain in ("No reconciliation has run yet", "No assessment has run yet", "No rehearsal has run yet",
                  "No cutover has run yet", "Nothing has been loaded yet", "No approval has been recorded yet",
                  "No rollback has been run on this migration"):
        assert plain in everything, plain
    for word in PLACEHOLDERS:
        assert word not in everything, word
    assert "lorem" not in everything.lower()


def test_planned_start_is_the_sum_of_the_measured_durations_before_it():
    plan = docs_render.planned_starts(["a", "b", "c", "d"], {"a": 2.0, "c": 3.5, "d": 1.0})
    assert plan == [("a", 2.0, 0.0, []), ("b", None, 2.0, []), ("c", 3.5, 2.0, ["b"]), ("d", 1.0, 5.5, ["b"])]


def test_steps_go_to_the_roles_migration_yml_names_and_else_to_the_migration_lead(facts):
    settings = facts["settings"]
    assert docs_render.owner(settings, docs_render.STEP_OWNERS["freeze_source"]) == "dba (DBA team)"
    assert docs_render.owner(settings, ("release_manager",)) == "migration_lead (Data team)"
    settings["owners"] = {}
    assert docs_render.owner(settings, ("dba",)) == "no owner named in migration.yml (owners)"


def test_runbook_shows_owners_planned_starts_and_the_real_timeline_beside_them(facts):
    facts["cutover"]["estimates"] = {"preflight": 1.0, "reverse_capture": 2.0, "freeze_source": 3.0}
    facts["cutover"]["last_run"] = {
        "run_id": 7, "started_at": "2026-01-02T04:00:00+00:00", "finished_at": None, "status": "failed",
        "detail": {"rolled_back": True, "decided_by": "Dana", "reason": "switch failed"},
        "steps": [{"step": "preflight", "status": "succeeded", "started_at": "2026-01-02T04:00:00+00:00",
                   "finished_at": "2026-01-02T04:00:01+00:00", "seconds": 1.5, "detail": {}}],
    }
    text = docs_render.markdown(docs_render.runbook(facts))
    assert "| 2 | freeze_source | dba (DBA team) | T+1.0 s | 3.0 s |" in text
    assert "| 0 | sign-off | business_owner (Shop owners), dba (DBA team) | before T |" in text
    assert "| preflight | T+0.0 s | 1.0 s | 2026-01-02 04:00:00 UTC | 1.5 s | +0.5 s |" in text
    assert "| freeze_source | T+1.0 s | 3.0 s | not reached |" in text
    assert "rolled back, decided by Dana: switch failed" in text
    assert "users of the legacy application (database role shop_legacy)" in text


def test_quality_criteria_follow_the_latest_evidence(facts):
    level = {"reconcile_id": 4, "finished_at": "2026-01-02T05:00:00+00:00", "verdict": "passed", "seconds": 1.0, "notes": [],
             "checks": [{"name": "Client: source = landing", "verdict": "passed", "source": "5000", "target": "5000", "detail": ""}]}
    facts["reconcile"]["levels"] = {"counts": level, "checksums": {**level, "verdict": "failed"}}
    facts["approvals"] = [{"approval_id": 1, "stage": "cutover", "role": "dba", "name": "Edgar Codd", "note": None,
                           "approved_at": "2026-01-02T06:00:00+00:00"}]
    criteria = {c["criterion"]: c for c in docs_render.quality_criteria(facts)}
    loss = criteria["Zero data loss, every row accounted for"]
    assert loss["state"] == "not met" and "counts passed in reconciliation #4" in loss["evidence"]
    assert criteria["Approvals"]["state"] == "not met"
    assert "dba: Edgar Codd at 2026-01-02 06:00:00 UTC" in criteria["Approvals"]["evidence"]
    assert "business_owner: not yet" in criteria["Approvals"]["evidence"]
    assert criteria["Rollback tested"]["state"] == "not checked yet"
    facts["reconcile"]["levels"]["checksums"]["verdict"] = "passed"
    assert docs_render.quality_criteria(facts)[0]["state"] == "met"


def test_validation_lists_configured_checks_that_have_not_run(facts):
    facts["settings"]["reconcile"]["performance_queries"] = [{"name": "orders of a customer", "p95_ms": 50.0, "runs": 20, "require_index": True}]
    text = docs_render.markdown(docs_render.validation(facts))
    assert "| orders of a customer | p95 ≤ 50 ms over 20 runs, reads an index |" in text
    assert "migration.yml defines no smoke checks (reconcile.smoke)." in text


def test_html_is_self_contained_escaped_and_masks_card_numbers(facts):
    facts["migration"] = "shop <b>& co</b>"
    facts["approvals"] = [{"approval_id": 1, "stage": "cutover", "role": "dba", "name": "Eve", "approved_at": "2026-01-02T06:00:00+00:00",
                           "note": "card 4111 1111 1111 1111 seen"}]
    page = docs_render.html_page(docs_render.plan(facts), [("Plan", "plan.html")], facts["migration"])
    assert "<script" not in page and "http://" not in page and "https://" not in page and "<link" not in page
    assert "shop &lt;b&gt;&amp; co&lt;/b&gt;" in page
    assert "4111 1111 1111 1111" not in page and "1111" in page
    assert docs_render.inline("see [dbt docs](../target/index.html#!/model/m) and `x`") == \
        'see <a href="../target/index.html#!/model/m">dbt docs</a> and <code>x</code>'


def test_conversion_names_type_changes_and_masks():
    assert mapping_sheet.conversion("integer", "bigint") == "integer → bigint"
    assert mapping_sheet.conversion("character varying(20)", "varchar(20)") == "same type (varchar(20))"
    assert mapping_sheet.conversion("varchar(25)", "char(4)", "last4") == "masked at the source (last4); varchar(25) → char(4)"
    assert mapping_sheet.conversion(None, "text").startswith("legacy type not known")


def test_sheet_titles_are_valid_and_unique():
    taken = {"overview"}
    assert mapping_sheet.sheet_title("Overview", taken) == "Overview (2)"
    long = mapping_sheet.sheet_title("a/very:long*model?name[with]forbidden_characters", taken)
    assert len(long) <= 31 and not set("[]:*?/\\") & set(long)
    assert mapping_sheet.sheet_title("a/very:long*model?name[with]forbidden_characters", taken) != long


MANIFEST = {
    "metadata": {"project_name": "shop", "generated_at": "2026-01-02T00:00:00Z"},
    "sources": {"source.shop.shop.Client": {
        "name": "Client", "identifier": "Client", "source_name": "shop", "schema": "landing",
        "columns": {"Name": {"name": "Name", "meta": {"disposition": "mapped", "targets": ["app.client.name"], "rule": "trimmed"}},
                    "_migrate_deleted": {"name": "_migrate_deleted", "meta": {"disposition": "decision", "targets": ["app.client.client_id"],
                                                                              "rule": "tombstone"}}},
    }},
    "nodes": {
        "model.shop.stg_clients": {"resource_type": "model", "name": "stg_clients", "fqn": ["shop", "staging", "stg_clients"],
                                   "schema": "staging", "original_file_path": "models/staging/stg_clients.sql", "columns": {}, "config": {}},
        "model.shop.client": {
            "resource_type": "model", "name": "client", "fqn": ["shop", "app", "client"], "schema": "app", "alias": "client",
            "original_file_path": "models/app/client.sql", "config": {"materialized": "table", "contract": {"enforced": True}},
            "columns": {
                "client_id": {"name": "client_id", "data_type": "bigint", "meta": {"source": ["Client.Id"], "rule": "kept"}},
                "name": {"name": "name", "data_type": "text", "meta": {"source": ["Client.Name"], "rule": "trimmed"}},
                "loaded_at": {"name": "loaded_at", "data_type": "timestamptz", "meta": {"source": [], "rule": "load time"}},
            },
        },
    },
    "parent_map": {"model.shop.client": ["model.shop.stg_clients"], "model.shop.stg_clients": ["source.shop.shop.Client"],
                   "source.shop.shop.Client": []},
    "child_map": {"source.shop.shop.Client": ["model.shop.stg_clients"], "model.shop.stg_clients": ["model.shop.client"],
                  "model.shop.client": []},
}


def test_mapping_rows_cover_every_target_and_legacy_column():
    legacy = [mapping_sheet.LegacyTable("Client", (("Id", "integer"), ("Name", "text"), ("Card", "varchar(25)")), "source catalog",
                                        {"Card": "last4"}, {"_migrate_deleted": "boolean"})]
    mapping = mapping_sheet.mapping_facts(Artifacts(copy.deepcopy(MANIFEST), None, None), legacy,
                                          {"app.client": {"client_id": "bigint", "name": "text", "loaded_at": "timestamp with time zone", "extra": "int"}})
    (table,) = mapping["target_tables"]
    assert [c["column"] for c in table["columns"]] == ["client_id", "name", "loaded_at", "extra"]
    rows = mapping_sheet.target_rows(table)
    assert rows[0][5:9] == ["Client", "Id", "integer", "integer → bigint"]
    assert rows[0][13] == "models/staging/stg_clients.sql"
    assert rows[2][11] == mapping_sheet.GENERATED
    assert rows[3][9] == "not documented in the YAML"
    fates = {c["column"]: (c["disposition"], c["decided_in"]) for c in mapping["legacy_tables"][0]["columns"]}
    assert fates == {"Id": ("mapped", "target metadata"), "Name": ("mapped", "source metadata"), "Card": ("unmapped", None),
                     "_migrate_deleted": ("decision", "source metadata")}
    unmapped = mapping_sheet.legacy_rows(mapping["legacy_tables"][0], only_unmapped=True)
    assert [r[1] for r in unmapped] == ["Card"] and unmapped[0][3] == "last4"
    flat = mapping_sheet.csv_rows(mapping)
    assert ["Client", "_migrate_deleted", "boolean", "app.client", "client_id", "bigint",
            "no value carried: the column decides the row (decision)", "tombstone", "decision", "models/app/client.sql"] in flat
    assert ["Client", "Card", "varchar(25)", "", "", "", "", "", "unmapped", ""] in flat


def test_test_purposes_in_words():
    manifest = {"macros": {"macro.shop.test_balanced": {"description": "Rows balance."}}, "nodes": {}, "sources": {}}
    relationships = {"test_metadata": {"name": "relationships", "kwargs": {"to": "ref('client')", "field": "client_id"}},
                     "attached_node": "model.shop.basket", "column_name": "client_id"}
    manifest["nodes"]["model.shop.basket"] = {"name": "basket"}
    assert docs.test_purpose(relationships, manifest) == "every basket.client_id exists in client.client_id"
    generic = {"test_metadata": {"name": "balanced", "kwargs": {}}, "package_name": "shop", "depends_on": {"nodes": ["model.shop.basket"]}}
    assert docs.test_purpose(generic, manifest) == "Rows balance. (basket)"
    singular = {"raw_code": "-- Every line has a client.\n-- Returns the orphans.\nselect 1", "original_file_path": "tests/a.sql"}
    assert docs.test_purpose(singular, manifest) == "Every line has a client. Returns the orphans."
    assert docs.test_purpose({"raw_code": "select 1", "original_file_path": "tests/b.sql"}, manifest) == "the query in tests/b.sql returns no rows"
    assert docs.test_threshold({"severity": "warn", "warn_if": ">10", "fail_calc": "count(*)"}) == "warns when count(*) >10"
