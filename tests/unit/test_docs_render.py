"""The migration documents' rendering, from a facts dict alone: no database, no dbt run."""

from __future__ import annotations

import copy
import json
from datetime import datetime

import pytest

from harness import cutover, decommission, docs, reconcile, render
from harness.core.config import load_config
from harness.dbt.artifacts import Artifacts
from harness.docs import mapping as mapping_sheet
from harness.docs import plan, rollback, runbook, shared, validation, words, writing
from harness.rollback import fallback

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
rollback:
  deciders: [migration_lead, business_owner]
  criteria:
    - {name: verification failed, kind: verification}
    - {name: baskets without lines, kind: metric, sql: select 0.5, max: 0.02}
decommission: {required_approvals: [dba]}
"""


@pytest.fixture
def facts(tmp_path) -> dict:
    """The facts of a migration where nothing has happened yet, as docs.collect shapes them."""
    (tmp_path / "migration.yml").write_text(MIGRATION_YML)
    config = load_config(tmp_path)
    return json.loads(
        json.dumps(
            docs.plain(
                {
                    "document": "migration-docs",
                    "version": 1,
                    "generated_at": "2026-01-02T03:04:05+00:00",
                    "migration": config.name,
                    "source": {"database": "legacy-db:5432/shop", "schema": "Shop", "engine": "postgres"},
                    "target": {
                        "database": "new-db:5432/shop",
                        "landing_schema": "landing",
                        "control_schema": "migrate_control",
                    },
                    "settings": docs.settings(config),
                    "phase": None,
                    "load": None,
                    "sync": None,
                    "backups": [],
                    "rollbacks": [],
                    "approvals": [],
                    "reconcile": {"runs": [], "levels": {}},
                    "rehearsal": None,
                    "cutover": {"last_run": None, "steps": list(cutover.STEPS), "estimates": {}},
                    "fallback": {
                        "runs": [],
                        "steps": list(fallback.STEPS),
                        "models": [],
                        "yaml_files": [],
                        "header": None,
                        "not_carried_back": None,
                        "tables": [
                            {"table": t, "relation": f"fallback.legacy_{t.lower()}", "model": None, "file": None}
                            for t in ("Client", "Basket")
                        ],
                    },
                    "rollback_checks": {"evaluations": 0, "last_run": None, "latest": []},
                    "decommission": {
                        "last_run": None,
                        "steps": list(decommission.STEPS),
                        "read_only_schema": decommission.READ_ONLY_SCHEMA,
                    },
                    "gates": {
                        "checked_at": "2026-01-02T03:04:05+00:00",
                        "error": None,
                        "gates": [
                            {
                                "name": "approvals",
                                "passed": False,
                                "reason": "no cutover approval from business_owner, dba",
                            }
                        ],
                    },
                    "assessment": None,
                    "dbt": {
                        "available": False,
                        "reason": "the project folder has no dbt_project.yml, so there are no models to document",
                    },
                    "mapping": {"target_tables": [], "legacy_tables": [], "notes": []},
                    "notes": [],
                }
            )
        )
    )


def rendered(facts: dict) -> dict[str, str]:
    docs_list = writing.documents(facts)
    nav = [(d.title, f"{d.name}.html") for d in docs_list]
    out = {}
    for doc in [writing.index(facts, docs_list), *docs_list]:
        out[f"{doc.name}.md"] = writing.markdown(doc)
        out[f"{doc.name}.html"] = writing.html_page(doc, nav, facts["migration"])
    return out


# The cutover's steps as this version of the documents knows them; a strategy may add others.
KNOWN_CUTOVER_STEPS = (
    "preflight",
    "catch_up",
    "freeze_source",
    "final_sync",
    "final_build",
    "final_verification",
    "reverse_capture",
    "align_sequences",
    "switch",
    "source_read_only",
)


def test_every_known_step_kind_and_level_is_described_and_owned():
    assert set(KNOWN_CUTOVER_STEPS) <= set(words.STEP_WORDS) and set(KNOWN_CUTOVER_STEPS) <= set(words.STEP_OWNERS)
    assert set(fallback.STEPS) <= set(words.FALLBACK_STEP_WORDS) and set(fallback.STEPS) <= set(
        words.FALLBACK_STEP_OWNERS
    )
    assert set(decommission.STEPS) <= set(words.DECOMMISSION_STEP_WORDS)
    assert set(reconcile.LEVELS) <= set(words.LEVEL_WORDS)
    assert set(words.CRITERION_WORDS) == {"verification", "data_loss", "metric", "latency", "manual"}


def test_a_step_the_documents_do_not_know_is_listed_by_its_own_name(facts):
    steps = docs.merged_steps(
        ("preflight", "freeze_source", "switch"), ["preflight", "freeze_source", "switch_wave_1", "switch"]
    )
    assert steps == ["preflight", "freeze_source", "switch_wave_1", "switch"]
    assert docs.merged_steps(("a", "b"), ["b", "c", "a"]) == ["a", "b", "c"]
    facts["cutover"]["steps"] = [*facts["cutover"]["steps"], "switch_wave_1"]
    text = writing.markdown(runbook.document(facts))
    row = next(line for line in text.splitlines() if "| switch_wave_1 |" in line)
    assert "migration_lead (Data team)" in row and "the step switch wave 1 of `migrate cutover`" in row


def test_documents_of_a_migration_where_nothing_happened_say_so_plainly(facts):
    texts = rendered(facts)
    everything = "\n".join(texts.values())
    for plain in (
        "No reconciliation has run yet",
        "No assessment has run yet",
        "No rehearsal has run yet",
        "No cutover has run yet",
        "Nothing has been loaded yet",
        "No approval has been recorded yet",
        "No rollback has been run on this migration",
    ):
        assert plain in everything, plain
    for word in PLACEHOLDERS:
        assert word not in everything, word
    assert "lorem" not in everything.lower()


def test_planned_start_is_the_sum_of_the_measured_durations_before_it():
    plan = runbook.planned_starts(["a", "b", "c", "d"], {"a": 2.0, "c": 3.5, "d": 1.0})
    assert plan == [("a", 2.0, 0.0, []), ("b", None, 2.0, []), ("c", 3.5, 2.0, ["b"]), ("d", 1.0, 5.5, ["b"])]


def test_steps_go_to_the_roles_migration_yml_names_and_else_to_the_migration_lead(facts):
    settings = facts["settings"]
    assert shared.owner(settings, words.STEP_OWNERS["freeze_source"]) == "dba (DBA team)"
    assert shared.owner(settings, ("release_manager",)) == "migration_lead (Data team)"
    settings["owners"] = {}
    assert shared.owner(settings, ("dba",)) == "no owner named in migration.yml (owners)"


def test_runbook_shows_owners_planned_starts_and_the_real_timeline_beside_them(facts):
    facts["cutover"]["estimates"] = {"preflight": 1.0, "catch_up": 2.0, "freeze_source": 3.0}
    facts["cutover"]["last_run"] = {
        "run_id": 7,
        "started_at": "2026-01-02T04:00:00+00:00",
        "finished_at": None,
        "status": "failed",
        "detail": {"rolled_back": True, "decided_by": "Dana", "reason": "switch failed"},
        "steps": [
            {
                "step": "preflight",
                "status": "succeeded",
                "started_at": "2026-01-02T04:00:00+00:00",
                "finished_at": "2026-01-02T04:00:01+00:00",
                "seconds": 1.5,
                "detail": {},
            }
        ],
    }
    text = writing.markdown(runbook.document(facts))
    assert "| 2 | catch_up | migration_lead (Data team) | T+1.0 s | 2.0 s | syncs the captured changes" in text
    assert "| 3 | freeze_source | dba (DBA team) | T+3.0 s | 3.0 s |" in text
    assert "| 0 | sign-off | business_owner (Shop owners), dba (DBA team) | before T |" in text
    assert "| preflight | T+0.0 s | 1.0 s | 2026-01-02 04:00:00 UTC | 1.5 s | +0.5 s |" in text
    assert "| freeze_source | T+3.0 s | 3.0 s | not reached |" in text
    assert "rolled back, decided by Dana: switch failed" in text
    assert "users of the legacy application (database role shop_legacy)" in text
    after = text[text.index("## After the switch") :]
    assert "`migrate rollback --check`" in after and "`migrate decommission`" in after
    assert "`migrate approve --stage decommission --role ROLE --name NAME` by dba (DBA team)" in after
    assert "`migrate rollback --role ROLE --decided-by NAME --reason TEXT` (rollback.md)" in text


def test_rollback_procedures_before_anything_ran_name_what_is_missing(facts):
    text = writing.markdown(rollback.document(facts))
    assert "not built" not in text and "not part of this version" not in text
    assert "| verification failed | verification |" in text
    assert (
        "| baskets without lines | metric | a figure measured on the target is outside its limit | "
        "≤ 0.02, measured by its SQL on the target | not evaluated yet |"
    ) in text
    assert "| manual decision | manual |" in text, "the manual criterion is always there"
    assert "No evaluation of the rollback criteria has been recorded yet (`migrate rollback --check`)." in text
    assert "refused unless `--role` names one of migration_lead, business_owner" in text
    assert "| business_owner | Shop owners | decides (rollback.deciders) |" in text
    assert (
        "| dba | DBA team | carries out the fallback's freeze_target, carry_back, switch_back, unfreeze_source |"
        in text
    )
    assert (
        "`migrate rollback --role ROLE --decided-by NAME --reason TEXT`, ROLE one of migration_lead, business_owner"
        in text
    )
    assert "| 3 | carry_back | dba (DBA team) |" in text
    assert "No rollback has been run on this migration" in text
    assert "The fallback: not measured, as none has run" in text
    assert "the switch back writes only the routing file .migrate/routing.json" in text
    assert (
        "It needs the sign-off of stage decommission by dba (DBA team) (migration.yml decommission.required_approvals): dba: not yet."
        in text
    )
    assert "Not decommissioned yet (`migrate decommission`, after the rollback window)." in text
    assert "The reverse models cannot be listed: the project folder has no dbt_project.yml" in text


def test_rollback_procedures_show_checks_fallbacks_and_what_is_not_carried_back(facts):
    facts["phase"] = {
        "phase": "fallen_back",
        "changed_at": "2026-01-03T10:00:00+00:00",
        "switched_at": "2026-01-02T08:00:00+00:00",
        "rollback_window_ends": "2026-01-05T08:00:00+00:00",
    }
    facts["rollback_checks"] = {
        "evaluations": 3,
        "last_run": {
            "run_id": 12,
            "started_at": "2026-01-03T09:00:00+00:00",
            "status": "succeeded",
            "detail": {"phase": "switched", "since": "since the switch", "met": ["baskets without lines"]},
        },
        "latest": [
            {
                "run_id": 12,
                "criterion": "baskets without lines",
                "kind": "metric",
                "state": "met",
                "figure": "0.5",
                "threshold": "≤ 0.02",
                "detail": None,
                "checked_at": "2026-01-03T09:00:01+00:00",
            },
            {
                "run_id": 9,
                "criterion": "old name",
                "kind": "manual",
                "state": "not met",
                "figure": "no decision",
                "threshold": "",
                "detail": None,
                "checked_at": "2026-01-02T09:00:00+00:00",
            },
        ],
    }
    step = {
        "status": "succeeded",
        "started_at": "2026-01-03T09:30:00+00:00",
        "finished_at": "2026-01-03T09:30:02+00:00",
        "seconds": 2.0,
    }
    facts["fallback"]["runs"] = [
        {
            "run_id": 13,
            "started_at": "2026-01-03T09:30:00+00:00",
            "finished_at": "2026-01-03T09:31:00+00:00",
            "status": "succeeded",
            "detail": {
                "decided_by": "Ada (business_owner)",
                "reason": "baskets lose their lines",
                "write_unavailable_seconds": 14.5,
            },
            "carried": {
                "Basket": {"inserted": 7, "updated": 0, "deleted": 2},
                "Client": {"inserted": 3, "updated": 1200, "deleted": 0},
            },
            "steps": [{"step": name, **step} for name in fallback.STEPS],
        }
    ]
    facts["fallback"]["models"] = ["legacy_client", "legacy_keys"]
    facts["fallback"]["yaml_files"] = ["models/fallback/_fallback__models.yml"]
    facts["fallback"]["not_carried_back"] = "Not carried back: tags edited in place."
    facts["fallback"]["tables"][0].update(model="legacy_client", file="models/fallback/legacy_client.sql")
    no_project = facts["dbt"]
    facts["dbt"] = {
        "available": True,
        "models": [
            {"name": "legacy_client", "link": None, "file": "models/fallback/legacy_client.sql", "description": ""},
            {
                "name": "legacy_keys",
                "link": None,
                "file": "models/fallback/legacy_keys.sql",
                "description": "Legacy keys for new rows.",
            },
        ],
    }
    text = writing.markdown(rollback.document(facts))
    assert "Fell back at 2026-01-03 10:00:00 UTC" in text
    assert "| **met**: 0.5; check run 12 at 2026-01-03 09:00:01 UTC |" in text
    assert (
        "check run 12 at 2026-01-03 09:00:00 UTC, since the switch, in phase switched: met: baskets without lines (3 evaluations recorded in all)"
        in text
    )
    assert "Evaluated before, no longer in migration.yml: old name." in text
    assert (
        "| 13 | 2026-01-03 09:30:00 UTC | Ada (business_owner) | baskets lose their lines | succeeded | "
        "10 inserted, 1,200 updated, 2 deleted over 2 tables | 14 s |"
    ) in text
    assert "| 13 | Client | 3 | 1,200 | 0 |\n| 13 | Basket | 7 | 0 | 2 |" in text, (
        "carried in the order of migration.yml"
    )
    assert "| 6 | unfreeze_source | dba (DBA team) |" in text and "| 2.0 s |" in text
    assert "its steps took 12 s; writes were unavailable for 14 s." in text
    assert (
        "| Client | fallback.legacy_client | models/fallback/legacy_client.sql | built by the model legacy_client |"
        in text
    )
    assert "| Basket | fallback.legacy_basket |  | missing: the fallback stops before writing anything" in text
    assert "| legacy_keys | models/fallback/legacy_keys.sql | Legacy keys for new rows. |" in text
    assert (
        "**What is not carried back** (the header of models/fallback/_fallback__models.yml): Not carried back: tags edited in place."
        in text
    )
    assert "No abort before the switch." in text
    facts["dbt"] = no_project
    history = writing.markdown(plan.document(facts))
    assert "fallback run 13 decided by Ada (business_owner): baskets lose their lines" in history
    assert (
        "| fallback after the switch (writes unavailable) | not estimated by the assessment | not rehearsed" in history
    )


def test_where_it_stands_follows_the_phase_to_the_decommission(facts):
    facts["phase"] = {
        "phase": "switched",
        "changed_at": "2026-01-01T00:00:00+00:00",
        "switched_at": "2026-01-01T00:00:00+00:00",
        "rollback_window_ends": "2026-01-01T12:00:00+00:00",
    }
    assert "the rollback window ended at 2026-01-01 12:00:00 UTC: `migrate decommission` is next" in shared.standing(
        facts
    )
    facts["phase"]["rollback_window_ends"] = "2026-01-09T00:00:00+00:00"
    assert "read-only until 2026-01-09 00:00:00 UTC" in shared.standing(facts)
    facts["phase"]["phase"] = "decommissioned"
    assert shared.standing(facts).startswith("Decommissioned at 2026-01-01 00:00:00 UTC: the migration is complete")
    facts["decommission"]["last_run"] = {
        "run_id": 20,
        "started_at": "2026-01-09T01:00:00+00:00",
        "finished_at": "2026-01-09T01:05:00+00:00",
        "status": "succeeded",
        "detail": {"backup_id": 4, "archive": "/a/source.dump"},
        "steps": [],
    }
    assert (
        "Decommission run 20 succeeded, started 2026-01-09 01:00:00 UTC, finished 2026-01-09 01:05:00 UTC; archive backup #4 (/a/source.dump)."
        in writing.markdown(rollback.document(facts))
    )


def test_quality_criteria_follow_the_latest_evidence(facts):
    level = {
        "reconcile_id": 4,
        "finished_at": "2026-01-02T05:00:00+00:00",
        "verdict": "passed",
        "seconds": 1.0,
        "notes": [],
        "checks": [
            {"name": "Client: source = landing", "verdict": "passed", "source": "5000", "target": "5000", "detail": ""}
        ],
    }
    facts["reconcile"]["levels"] = {"counts": level, "checksums": {**level, "verdict": "failed"}}
    facts["approvals"] = [
        {
            "approval_id": 1,
            "stage": "cutover",
            "role": "dba",
            "name": "Edgar Codd",
            "note": None,
            "approved_at": "2026-01-02T06:00:00+00:00",
        }
    ]
    criteria = {c["criterion"]: c for c in plan.quality_criteria(facts)}
    loss = criteria["Zero data loss, every row accounted for"]
    assert loss["state"] == "not met" and "counts passed in reconciliation #4" in loss["evidence"]
    assert criteria["Approvals"]["state"] == "not met"
    assert "dba: Edgar Codd at 2026-01-02 06:00:00 UTC" in criteria["Approvals"]["evidence"]
    assert "business_owner: not yet" in criteria["Approvals"]["evidence"]
    assert criteria["Rollback tested"]["state"] == "not checked yet"
    facts["reconcile"]["levels"]["checksums"]["verdict"] = "passed"
    assert plan.quality_criteria(facts)[0]["state"] == "met"


def test_validation_lists_configured_checks_that_have_not_run(facts):
    facts["settings"]["reconcile"]["performance_queries"] = [
        {"name": "orders of a customer", "p95_ms": 50.0, "runs": 20, "require_index": True}
    ]
    text = writing.markdown(validation.document(facts))
    assert "| orders of a customer | p95 ≤ 50 ms over 20 runs, reads an index |" in text
    assert "migration.yml defines no smoke checks (reconcile.smoke)." in text


def test_html_is_self_contained_escaped_and_masks_card_numbers(facts):
    facts["migration"] = "shop <b>& co</b>"
    facts["approvals"] = [
        {
            "approval_id": 1,
            "stage": "cutover",
            "role": "dba",
            "name": "Eve",
            "approved_at": "2026-01-02T06:00:00+00:00",
            "note": "card 4111 1111 1111 1111 seen",
        }
    ]
    page = writing.html_page(plan.document(facts), [("Plan", "plan.html")], facts["migration"])
    assert "<script" not in page and "http://" not in page and "https://" not in page and "<link" not in page
    assert "shop &lt;b&gt;&amp; co&lt;/b&gt;" in page
    assert "4111 1111 1111 1111" not in page and "1111" in page
    assert (
        render.inline("see [dbt docs](../target/index.html#!/model/m) and `x`")
        == 'see <a href="../target/index.html#!/model/m">dbt docs</a> and <code>x</code>'
    )


def test_conversion_names_type_changes_and_masks():
    assert mapping_sheet.conversion("integer", "bigint") == "integer → bigint"
    assert mapping_sheet.conversion("character varying(20)", "varchar(20)") == "same type (varchar(20))"
    assert (
        mapping_sheet.conversion("varchar(25)", "char(4)", "last4")
        == "masked at the source (last4); varchar(25) → char(4)"
    )
    assert mapping_sheet.conversion(None, "text").startswith("legacy type not known")


def test_sheet_titles_are_valid_and_unique():
    taken = {"overview"}
    assert mapping_sheet.sheet_title("Overview", taken) == "Overview (2)"
    long = mapping_sheet.sheet_title("a/very:long*model?name[with]forbidden_characters", taken)
    assert len(long) <= 31 and not set("[]:*?/\\") & set(long)
    assert mapping_sheet.sheet_title("a/very:long*model?name[with]forbidden_characters", taken) != long


MANIFEST = {
    "metadata": {"project_name": "shop", "generated_at": "2026-01-02T00:00:00Z"},
    "sources": {
        "source.shop.shop.Client": {
            "name": "Client",
            "identifier": "Client",
            "source_name": "shop",
            "schema": "landing",
            "columns": {
                "Name": {
                    "name": "Name",
                    "meta": {"disposition": "mapped", "targets": ["app.client.name"], "rule": "trimmed"},
                },
                "_migrate_deleted": {
                    "name": "_migrate_deleted",
                    "meta": {"disposition": "decision", "targets": ["app.client.client_id"], "rule": "tombstone"},
                },
            },
        }
    },
    "nodes": {
        "model.shop.stg_clients": {
            "resource_type": "model",
            "name": "stg_clients",
            "fqn": ["shop", "staging", "stg_clients"],
            "schema": "staging",
            "original_file_path": "models/staging/stg_clients.sql",
            "columns": {},
            "config": {},
        },
        "model.shop.client": {
            "resource_type": "model",
            "name": "client",
            "fqn": ["shop", "app", "client"],
            "schema": "app",
            "alias": "client",
            "original_file_path": "models/app/client.sql",
            "config": {"materialized": "table", "contract": {"enforced": True}},
            "columns": {
                "client_id": {
                    "name": "client_id",
                    "data_type": "bigint",
                    "meta": {"source": ["Client.Id"], "rule": "kept"},
                },
                "name": {"name": "name", "data_type": "text", "meta": {"source": ["Client.Name"], "rule": "trimmed"}},
                "loaded_at": {
                    "name": "loaded_at",
                    "data_type": "timestamptz",
                    "meta": {"source": [], "rule": "load time"},
                },
            },
        },
    },
    "parent_map": {
        "model.shop.client": ["model.shop.stg_clients"],
        "model.shop.stg_clients": ["source.shop.shop.Client"],
        "source.shop.shop.Client": [],
    },
    "child_map": {
        "source.shop.shop.Client": ["model.shop.stg_clients"],
        "model.shop.stg_clients": ["model.shop.client"],
        "model.shop.client": [],
    },
}


def test_mapping_rows_cover_every_target_and_legacy_column():
    legacy = [
        mapping_sheet.LegacyTable(
            "Client",
            (("Id", "integer"), ("Name", "text"), ("Card", "varchar(25)")),
            "source catalog",
            {"Card": "last4"},
            {"_migrate_deleted": "boolean"},
        )
    ]
    mapping = mapping_sheet.mapping_facts(
        Artifacts(copy.deepcopy(MANIFEST), None, None),
        legacy,
        {
            "app.client": {
                "client_id": "bigint",
                "name": "text",
                "loaded_at": "timestamp with time zone",
                "extra": "int",
            }
        },
    )
    (table,) = mapping["target_tables"]
    assert [c["column"] for c in table["columns"]] == ["client_id", "name", "loaded_at", "extra"]
    rows = mapping_sheet.target_rows(table)
    assert rows[0][5:9] == ["Client", "Id", "integer", "integer → bigint"]
    assert rows[0][13] == "models/staging/stg_clients.sql"
    assert rows[2][11] == mapping_sheet.GENERATED
    assert rows[3][9] == "not documented in the YAML"
    fates = {c["column"]: (c["disposition"], c["decided_in"]) for c in mapping["legacy_tables"][0]["columns"]}
    assert fates == {
        "Id": ("mapped", "target metadata"),
        "Name": ("mapped", "source metadata"),
        "Card": ("unmapped", None),
        "_migrate_deleted": ("decision", "source metadata"),
    }
    unmapped = mapping_sheet.legacy_rows(mapping["legacy_tables"][0], only_unmapped=True)
    assert [r[1] for r in unmapped] == ["Card"] and unmapped[0][3] == "last4"
    flat = mapping_sheet.csv_rows(mapping)
    assert [
        "Client",
        "_migrate_deleted",
        "boolean",
        "app.client",
        "client_id",
        "bigint",
        "no value carried: the column decides the row (decision)",
        "tombstone",
        "decision",
        "models/app/client.sql",
    ] in flat
    assert ["Client", "Card", "varchar(25)", "", "", "", "", "", "unmapped", ""] in flat


def test_test_purposes_in_words():
    manifest = {"macros": {"macro.shop.test_balanced": {"description": "Rows balance."}}, "nodes": {}, "sources": {}}
    relationships = {
        "test_metadata": {"name": "relationships", "kwargs": {"to": "ref('client')", "field": "client_id"}},
        "attached_node": "model.shop.basket",
        "column_name": "client_id",
    }
    manifest["nodes"]["model.shop.basket"] = {"name": "basket"}
    assert docs.test_purpose(relationships, manifest) == "every basket.client_id exists in client.client_id"
    generic = {
        "test_metadata": {"name": "balanced", "kwargs": {}},
        "package_name": "shop",
        "depends_on": {"nodes": ["model.shop.basket"]},
    }
    assert docs.test_purpose(generic, manifest) == "Rows balance. (basket)"
    singular = {
        "raw_code": "-- Every line has a client.\n-- Returns the orphans.\nselect 1",
        "original_file_path": "tests/a.sql",
    }
    assert docs.test_purpose(singular, manifest) == "Every line has a client. Returns the orphans."
    assert (
        docs.test_purpose({"raw_code": "select 1", "original_file_path": "tests/b.sql"}, manifest)
        == "the query in tests/b.sql returns no rows"
    )
    assert (
        docs.test_threshold({"severity": "warn", "warn_if": ">10", "fail_calc": "count(*)"})
        == "warns when count(*) >10"
    )


def _step(step: str, start: str, end: str | None, seconds: float | None, status: str = "succeeded") -> dict:
    return {
        "step": step,
        "status": status,
        "started_at": f"2026-01-02T04:00:{start}+00:00",
        "finished_at": f"2026-01-02T04:00:{end}+00:00" if end else None,
        "seconds": seconds,
        "detail": {},
    }


def test_runbook_draws_planned_rehearsed_and_real_steps_with_the_write_window_shaded(facts):
    facts["cutover"]["estimates"] = {"preflight": 1.0, "catch_up": 2.0, "freeze_source": 0.5, "switch": 0.25}
    facts["rehearsal"] = {
        "rehearsal_id": 3,
        "status": "succeeded",
        "steps": [
            {"step": "load", "status": "succeeded", "seconds": 9.0},  # not a cutover step: not drawn
            {"step": "preflight", "status": "succeeded", "seconds": 1.25},
            {"step": "catch_up", "status": "failed", "seconds": 4.0},
        ],
    }
    text = writing.markdown(runbook.document(facts))
    assert "| preflight | planned | 0.0 | 1.0 | succeeded |" in text
    assert "| switch | planned | 3.5 | 0.25 | succeeded |" in text
    assert "| preflight | rehearsed | 0.0 | 1.25 | succeeded |" in text
    assert "| load | rehearsed |" not in text and "| catch_up | rehearsed |" not in text
    assert "writes unavailable, from the freeze of the source to the switch (as planned)" in text
    page = writing.html_page(runbook.document(facts), [], facts["migration"])
    assert 'data-chart="runbook-timeline"' in page and 'id="runbook-timeline-write-window-0"' in page

    facts["cutover"]["last_run"] = {
        "run_id": 7,
        "started_at": "2026-01-02T03:59:59+00:00",
        "finished_at": "2026-01-02T04:00:10+00:00",
        "status": "succeeded",
        "detail": {"write_unavailable_seconds": 6.0},
        "steps": [
            _step("preflight", "01", "02.5", 1.5),
            _step("catch_up", "02.5", "04", 1.5),
            _step("freeze_source", "04", "05", 1.0),
            _step("switch", "09", "10", 1.0),
        ],
    }
    text = writing.markdown(runbook.document(facts))
    assert "| preflight | real | 0.0 | 1.5 | succeeded |" in text
    assert "| freeze_source | real | 3.0 | 1.0 | succeeded |" in text
    assert "| switch | real | 8.0 | 1.0 | succeeded |" in text
    assert "(as it really was in the last cutover)" in text
    page = writing.html_page(runbook.document(facts), [], facts["migration"])
    assert "writes unavailable (6.0 s)" in page, "the shaded window runs from the freeze to the end of the switch"
    # Where the steps recorded when writes stopped and resumed, the window is those moments.
    steps = {s["step"]: s for s in facts["cutover"]["last_run"]["steps"]}
    steps["freeze_source"]["detail"] = {"frozen_at": datetime.fromisoformat("2026-01-02T04:00:04.5+00:00").timestamp()}
    steps["switch"]["detail"] = {"switched_at": datetime.fromisoformat("2026-01-02T04:00:09.75+00:00").timestamp()}
    page = writing.html_page(runbook.document(facts), [], facts["migration"])
    assert "writes unavailable (5.2 s)" in page


def test_plan_timeline_draws_each_phase_estimated_rehearsed_and_real(facts):
    assert 'data-chart="plan-timeline"' not in writing.html_page(plan.document(facts), [], "m"), "no figure, no chart"
    facts["assessment"] = {
        "assessed_at": "2026-01-02T03:00:00+00:00",
        "verdict": {"status": "ready", "headline": "ready"},
        "recommendation": {},
        "strategies": [],
        "estimates": {
            "initial_load": {"seconds": 120.0},
            "build": {"seconds": 30.0},
            "validation": {"seconds": 10.0},
            "final_sync": {"seconds": 2.0},
            "freeze": {"seconds": 5.0},
        },
        "tables": [],
        "risks": [],
        "findings": {"blocking": 0, "warning": 0, "info": 0},
    }
    facts["load"] = {
        "load_id": 4,
        "status": "succeeded",
        "seconds": 95.5,
        "rows_copied": 10,
        "bytes_copied": 100,
        "started_at": "2026-01-02T03:28:24+00:00",
        "finished_at": "2026-01-02T03:30:00+00:00",
        "tables": [],
    }
    facts["rehearsal"] = {
        "rehearsal_id": 3,
        "status": "succeeded",
        "started_at": "2026-01-02T03:10:00+00:00",
        "finished_at": "2026-01-02T03:20:00+00:00",
        "current_models": True,
        "seconds": 600.0,
        "run_id": 11,
        "models_fingerprint": "x",
        "steps": [
            {"step": "load", "status": "succeeded", "seconds": 80.0},
            {"step": "freeze_source", "status": "succeeded", "seconds": 1.0},
            {"step": "final_sync", "status": "succeeded", "seconds": 0.5},
        ],
    }
    text = writing.markdown(plan.document(facts))
    assert "| initial load | planned | 0.0 | 120.0 | succeeded |" in text
    assert "| freeze to switch (writes unavailable) | planned | 162.0 | 5.0 | succeeded |" in text
    assert "| initial load | rehearsed | 0.0 | 80.0 | succeeded |" in text
    assert "| freeze to switch (writes unavailable) | rehearsed | 80.5 | 1.5 | succeeded |" in text
    assert "| initial load | real | 0.0 | 95.5 | succeeded |" in text
    page = writing.html_page(plan.document(facts), [], facts["migration"])
    assert 'data-chart="plan-timeline"' in page and "writes unavailable (5.0 s)" in page
