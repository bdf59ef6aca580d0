"""The mapping metadata is complete: reports and the mapping spreadsheet are generated from it.

Every app column says where it comes from and by which rule; every legacy column says where it
goes, or why it is dropped (schema: top of models/staging/oms/_oms__sources.yml). Read from the
YAML itself, so no database and no dbt run are needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
SOURCES_YML = PROJECT_DIR / "models/staging/oms/_oms__sources.yml"
APP_YML = PROJECT_DIR / "models/app/_app__models.yml"
LEGACY_DDL = PROJECT_DIR / "harness/demo/legacy_schema.sql"
LOADER_COLUMNS = {"_migrate_synced_at", "_migrate_deleted"}
DISPOSITIONS = {"mapped", "decision", "dropped"}


def legacy_columns() -> dict[str, list[str]]:
    """Columns of each legacy table, from the legacy DDL, plus the loader's two columns."""
    tables: dict[str, list[str]] = {}
    for table, body in re.findall(r'create table "oms"\."(\w+)" \((.*?)\n\);', LEGACY_DDL.read_text(), re.S):
        tables[table] = re.findall(r'^\s+"(\w+)"', body, re.M) + sorted(LOADER_COLUMNS)
    return tables


def source_tables() -> dict[str, dict]:
    (source,) = [s for s in yaml.safe_load(SOURCES_YML.read_text())["sources"] if s["name"] == "oms"]
    return {table["name"]: table for table in source["tables"]}


def app_models() -> dict[str, dict]:
    return {model["name"]: model for model in yaml.safe_load(APP_YML.read_text())["models"]}


def app_columns() -> set[str]:
    return {f"app.{name}.{column['name']}" for name, model in app_models().items() for column in model["columns"]}


def test_the_legacy_ddl_is_read():
    tables = legacy_columns()
    assert set(tables) == {"CUSTOMER", "PRODUCT", "ORDER_HDR", "ORDER_LINE", "PAYMENT"}
    assert "EMAIL_ADDR" in tables["CUSTOMER"] and "CARD_NO" in tables["PAYMENT"]


def test_every_legacy_table_is_a_source_with_every_column():
    sources = source_tables()
    for table, columns in legacy_columns().items():
        assert table in sources, f"legacy table {table} is not declared in {SOURCES_YML.name}"
        declared = [column["name"] for column in sources[table].get("columns", [])]
        missing = [column for column in columns if column not in declared]
        assert not missing, f"{table}: columns without metadata: {missing}"


@pytest.mark.parametrize("table", sorted(legacy_columns()))
def test_every_legacy_column_has_a_disposition(table):
    known_app_columns = app_columns()
    for column in source_tables()[table]["columns"]:
        meta = column.get("meta") or {}
        where = f"{table}.{column['name']}"
        assert meta.get("disposition") in DISPOSITIONS, f"{where}: disposition must be one of {sorted(DISPOSITIONS)}"
        if meta["disposition"] == "dropped":
            assert str(meta.get("reason") or "").strip(), f"{where}: a dropped column needs a reason"
        else:
            targets = meta.get("targets") or []
            assert targets, f"{where}: a {meta['disposition']} column needs targets"
            assert str(meta.get("rule") or "").strip(), f"{where}: a {meta['disposition']} column needs a rule"
            unknown = [target for target in targets if target not in known_app_columns]
            assert not unknown, f"{where}: targets that are not app columns: {unknown}"


def test_every_app_model_file_is_documented():
    files = {path.stem for path in (PROJECT_DIR / "models/app").glob("*.sql")}
    assert files == set(app_models()), "each app model needs an entry in _app__models.yml, and no other"


@pytest.mark.parametrize("model", sorted(app_models()))
def test_every_app_column_has_source_rule_and_valid_expected_sql(model):
    legacy = {f"{table}.{column}" for table, columns in legacy_columns().items() for column in columns}
    spec = app_models()[model]
    assert (spec.get("meta") or {}).get("source_table"), f"{model}: model meta needs source_table"
    assert (spec.get("meta") or {}).get("source_join"), f"{model}: model meta needs source_join"
    assert spec["columns"], f"{model}: no columns"
    for column in spec["columns"]:
        where = f"app.{model}.{column['name']}"
        meta = column.get("meta") or {}
        assert column.get("data_type"), f"{where}: the contract needs a data_type"
        assert isinstance(meta.get("source"), list), f"{where}: meta.source must be a list of TABLE.COLUMN"
        unknown = [source for source in meta["source"] if source not in legacy]
        assert not unknown, f"{where}: sources that are not legacy columns: {unknown}"
        assert str(meta.get("rule") or "").strip(), f"{where}: meta.rule is missing"
        expected = meta.get("expected_sql")
        if expected is not None:
            assert isinstance(expected, str) and expected.strip(), f"{where}: expected_sql must be SQL text"
            referenced = set(re.findall(r'"([A-Z_]+)"\."', expected))
            allowed = {source.split(".")[0] for source in meta["source"]}
            assert referenced <= allowed, (
                f"{where}: expected_sql reads tables outside its sources: {referenced - allowed}"
            )


def test_every_app_column_is_reached_from_some_legacy_column_or_generated():
    reached = {
        target
        for table in source_tables().values()
        for column in table["columns"]
        for target in (column.get("meta") or {}).get("targets") or []
    }
    generated = {
        f"app.{name}.{column['name']}"
        for name, model in app_models().items()
        for column in model["columns"]
        if not (column.get("meta") or {}).get("source")
    }
    orphans = sorted(app_columns() - reached - generated)
    assert not orphans, f"app columns no legacy column lists as a target: {orphans}"
