"""The dbt docs site's column descriptions, from a manifest alone: staging columns described from
their model's select list and the legacy columns' metadata."""

from __future__ import annotations

import copy

from harness.dbt import docs_site, staging_lineage

STAGING_SQL = """-- one select, as the worked example's staging models
select
    source."CUST_ID" as cust_id,
    {{ clean_email('source."EMAIL_ADDR"') }} as email,  -- a comment, with a comma
    source."AGE"::integer as age,
    upper(btrim(source."STATUS")) as status_code,
    countries.country_code,
    to_jsonb(source.*) - '_migrate_synced_at' - '_migrate_deleted' as source_row,
    source._migrate_deleted as is_deleted
from {{ source('legacy', 'CUSTOMER') }} as source
left join {{ ref('country_codes') }} as countries on source."CTRY" = countries.spelling
"""

CTE_SQL = """with source as (
    select * from {{ source('legacy', 'CUSTOMER') }}
),

final as (
    select
        "CUST_ID" as cust_id,
        {{ clean_email('"EMAIL_ADDR"') }} as email
    from source
)

select * from final
"""


def manifest(raw_code: str) -> dict:
    column = {"meta": {}, "config": {"meta": {}}}
    return {
        "nodes": {
            "model.p.stg_legacy__customers": {
                "resource_type": "model",
                "name": "stg_legacy__customers",
                "raw_code": raw_code,
                "depends_on": {"nodes": ["source.p.legacy.CUSTOMER", "seed.p.country_codes"]},
                "columns": {"email": {"name": "email", "description": "The address, cleansed.", **column}},
            }
        },
        "sources": {
            "source.p.legacy.CUSTOMER": {
                "name": "CUSTOMER",
                "columns": {
                    "CUST_ID": {"name": "CUST_ID", "meta": {"disposition": "mapped", "targets": ["app.customer.id"]}},
                    "EMAIL_ADDR": {
                        "name": "EMAIL_ADDR",
                        "meta": {"disposition": "mapped", "targets": ["app.customer.email"], "rule": "Lower case."},
                    },
                    "AGE": {"name": "AGE", "meta": {"disposition": "dropped", "reason": "Not kept."}},
                    "STATUS": {"name": "STATUS", "meta": {}},
                    "CTRY": {"name": "CTRY", "meta": {}},
                },
            }
        },
    }


def descriptions(data: dict) -> dict[str, str]:
    return {n: c["description"] for n, c in data["nodes"]["model.p.stg_legacy__customers"]["columns"].items()}


def test_staging_columns_say_which_legacy_column_they_read_and_what_was_done():
    data = manifest(STAGING_SQL)
    assert docs_site.describe(data) == 7 + 3, "7 staging columns, 3 legacy columns with a disposition"
    d = descriptions(data)
    assert d["email"] == (
        "The address, cleansed.\n\nMapping: from legacy `CUSTOMER.EMAIL_ADDR`, through macro `clean_email`. "
        "Legacy `CUSTOMER.EMAIL_ADDR`: mapped → `app.customer.email`. Rule: Lower case."
    )
    assert d["cust_id"] == (
        "Mapping: from legacy `CUSTOMER.CUST_ID`, copied as is. Legacy `CUSTOMER.CUST_ID`: mapped → `app.customer.id`."
    ), "a column the YAML does not list is added, described"
    assert d["age"].startswith("Mapping: from legacy `CUSTOMER.AGE`, cast to `integer`. Legacy `CUSTOMER.AGE`: dropped")
    assert d["status_code"] == 'Mapping: from legacy `CUSTOMER.STATUS`, computed as `upper(btrim(source."STATUS"))`.'
    assert d["country_code"] == "Mapping: from `country_codes`, copied as is."
    assert d["source_row"].startswith("Mapping: the whole legacy row of `CUSTOMER`, computed as `to_jsonb(source.*)")
    assert d["is_deleted"] == (
        "Mapping: from the loader's `_migrate_deleted` (the tombstone: the row was deleted at the source), copied as is."
    )
    again = copy.deepcopy(data)
    docs_site.describe(again)
    assert descriptions(again) == d, "describing twice replaces the mapping, never repeats it"


def test_a_staging_model_written_as_ctes_is_read_through_select_star():
    columns = staging_lineage.staging_columns(CTE_SQL, {"CUSTOMER": {"CUST_ID", "EMAIL_ADDR"}})
    assert [(c.name, c.legacy, c.conversion) for c in columns] == [
        ("cust_id", [("CUSTOMER", "CUST_ID")], "copied as is"),
        ("email", [("CUSTOMER", "EMAIL_ADDR")], "through macro `clean_email`"),
    ]


def test_a_column_with_its_own_mapping_metadata_keeps_it():
    data = manifest(STAGING_SQL)
    email = data["nodes"]["model.p.stg_legacy__customers"]["columns"]["email"]
    email["meta"] = {"source": ["CUSTOMER.EMAIL_ADDR"], "rule": "Said in the YAML."}
    docs_site.describe(data)
    assert descriptions(data)["email"].endswith("Mapping: from legacy `CUSTOMER.EMAIL_ADDR`. Rule: Said in the YAML.")
