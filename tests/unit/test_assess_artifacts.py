"""Reading dbt's artifacts: types, mapping metadata in its usual spellings, build timings."""

import json

import pytest

from harness.dbt import artifacts as dbt_artifacts
from harness.dbt.artifacts import Artifacts, SourceRef, parse_mapping, parse_reference, parse_type


@pytest.mark.parametrize(
    "text, base, length, precision, scale",
    [
        ("character varying(200)", "varchar", 200, None, None),
        ("varchar(20)", "varchar", 20, None, None),
        ("char", "char", 1, None, None),
        ("character(2)", "char", 2, None, None),
        ("numeric(12,2)", "numeric", None, 12, 2),
        ("numeric(5)", "numeric", None, 5, 0),
        ("numeric", "numeric", None, None, None),
        ("timestamptz", "timestamp with time zone", None, None, None),
        ("BIGINT", "bigint", None, None, None),
    ],
)
def test_types_are_parsed(text, base, length, precision, scale):
    parsed = parse_type(text)
    assert (parsed.base, parsed.length, parsed.precision, parsed.scale) == (base, length, precision, scale)


@pytest.mark.parametrize(
    "text, refs",
    [
        ("CUSTOMER.CUST_ID", [SourceRef("CUSTOMER", "CUST_ID")]),
        ("oms.CUSTOMER.CUST_ID", [SourceRef("CUSTOMER", "CUST_ID")]),
        ('"CUSTOMER"."CUST_ID"', [SourceRef("CUSTOMER", "CUST_ID")]),
        ("CUSTOMER.ADDR1, CUSTOMER.CITY", [SourceRef("CUSTOMER", "ADDR1"), SourceRef("CUSTOMER", "CITY")]),
        ("lower(btrim(EMAIL_ADDR))", []),
    ],
)
def test_references_are_read_in_their_usual_spellings(text, refs):
    assert parse_reference(text) == refs


@pytest.mark.parametrize(
    "meta",
    [
        {"source": ["CUSTOMER.EMAIL_ADDR"], "rule": "trim, lower", "expected_sql": "lower(x)"},
        {"sources": "CUSTOMER.EMAIL_ADDR", "transformation": "trim, lower", "expression": "lower(x)"},
        {
            "mapping": {
                "legacy": {"table": "CUSTOMER", "column": "EMAIL_ADDR"},
                "rule": "trim, lower",
                "sql": "lower(x)",
            }
        },
        {"source_table": "CUSTOMER", "source_columns": ["EMAIL_ADDR"], "rule": "trim, lower", "expected": "lower(x)"},
    ],
)
def test_mapping_metadata_is_read_whatever_its_spelling(meta):
    mapping = parse_mapping(meta)
    assert mapping.sources == (SourceRef("CUSTOMER", "EMAIL_ADDR"),)
    assert mapping.rule == "trim, lower" and mapping.expression == "lower(x)"


def test_generated_columns_have_an_empty_source():
    mapping = parse_mapping({"source": [], "rule": "surrogate key"})
    assert mapping.sources == () and mapping.rule == "surrogate key"


def test_bare_column_names_take_the_models_source_table():
    assert parse_mapping({"source": ["CUST_ID"]}, default_table="CUSTOMER").sources == (
        SourceRef("CUSTOMER", "CUST_ID"),
    )


MANIFEST = {
    "metadata": {"project_name": "demo"},
    "nodes": {
        "model.demo.customer": {
            "resource_type": "model",
            "name": "customer",
            "schema": "app",
            "alias": "customer",
            "fqn": ["demo", "app", "customer"],
            "config": {"materialized": "table", "contract": {"enforced": True}, "meta": {"source_table": "CUSTOMER"}},
            "columns": {
                "email": {
                    "name": "email",
                    "data_type": "text",
                    "constraints": [],
                    "config": {"meta": {"source": ["EMAIL_ADDR"], "rule": "trim"}},
                    "meta": {},
                },
            },
        },
        "model.demo.stg_customers": {
            "resource_type": "model",
            "name": "stg_customers",
            "schema": "staging",
            "fqn": ["demo", "staging", "oms", "stg_customers"],
            "config": {},
            "columns": {},
        },
        "test.demo.unique_x": {"resource_type": "test", "name": "unique_x"},
    },
    "sources": {
        "source.demo.oms.CUSTOMER": {
            "name": "CUSTOMER",
            "identifier": "CUSTOMER",
            "columns": {
                "PHONE": {"meta": {"disposition": "dropped", "reason": "unused"}},
                "EMAIL_ADDR": {"meta": {"disposition": "mapped", "targets": ["app.customer.email"], "rule": "trim"}},
            },
        },
    },
}


def test_models_are_read_from_the_manifest_with_catalog_types(tmp_path):
    catalog = {"nodes": {"model.demo.customer": {"columns": {"EMAIL": {"type": "character varying(200)"}}}}}
    models = dbt_artifacts.models(Artifacts(MANIFEST, catalog, None))
    customer = next(m for m in models if m.name == "customer")
    assert customer.is_target and customer.contract_enforced and customer.source_table == "CUSTOMER"
    assert customer.columns[0].type == "character varying(200)" and customer.columns[0].type_from == "catalog"
    assert customer.columns[0].mapping.sources == (SourceRef("CUSTOMER", "EMAIL_ADDR"),)
    assert not next(m for m in models if m.name == "stg_customers").is_target


def test_dispositions_come_from_the_sources_columns():
    found = dbt_artifacts.source_dispositions(Artifacts(MANIFEST, None, None))
    assert found[("CUSTOMER", "PHONE")].disposition == "dropped"
    assert found[("CUSTOMER", "EMAIL_ADDR")].targets == ("app.customer.email",)


def test_missing_artifacts_are_named_not_fatal(tmp_path):
    artifacts = dbt_artifacts.load(tmp_path)
    assert artifacts.manifest is None and "no target/manifest.json" in artifacts.notes[0]
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "manifest.json").write_text("{not json")
    assert "could not be read" in dbt_artifacts.load(tmp_path).notes[0]


def test_build_timing_comes_from_a_build_not_from_docs_generate():
    build = {"args": {"which": "build"}, "elapsed_time": 42.5, "results": [{"status": "success"}, {"status": "pass"}]}
    docs = {"args": {"which": "generate"}, "elapsed_time": 3.0, "results": []}
    assert dbt_artifacts.build_timing(Artifacts(None, None, build)) == {
        "command": "build",
        "seconds": 42.5,
        "nodes": 2,
        "failed": 0,
        "generated_at": None,
    }
    assert dbt_artifacts.build_timing(Artifacts(None, None, docs)) is None
    assert json.dumps(MANIFEST)  # the fixture is plain JSON, as dbt writes it
