"""The worked example's dbt project meets the contract the harness relies on (harness/dbt/contract.py,
docs/dbt-contract.md), and migration.yml's target.landing_schema reaches its sources.

The project is parsed as the harness runs dbt (harness/dbt/__init__.py), in a folder of its own whose
migration.yml moves landing to another schema; parsing needs no database.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from harness import dbt
from harness.core.config import load_config
from harness.core.connections import Database
from harness.dbt import contract as dbt_contract
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration

LANDING = "legacy_copy"
DBT_PROJECT_FILES = (
    "dbt_project.yml",
    "packages.yml",
    "selectors.yml",
    "profiles",
    "models",
    "macros",
    "kit",
    "seeds",
    "tests",
)


@pytest.fixture(scope="module")
def parsed(tmp_path_factory, admin_url):
    """The example project, with landing_schema set to another schema, parsed by the harness."""
    project = tmp_path_factory.mktemp("project")
    for name in DBT_PROJECT_FILES:
        (project / name).symlink_to(PROJECT_DIR / name)
    migration = yaml.safe_load((PROJECT_DIR / "migration.yml").read_text())
    migration["target"]["landing_schema"] = LANDING
    (project / "migration.yml").write_text(yaml.safe_dump(migration))
    config = load_config(project)
    target = Database("target", admin_url, "MIGRATE_TEST_ADMIN_URL", False)
    with pytest.MonkeyPatch.context() as patch:
        for name in dbt.environment(target, LANDING):
            patch.setenv(name, os.environ.get(name, ""))  # dbt runs set them; restored for the tests after this one
        manifest = dbt.parse(config, target)
    return config, manifest, project


def test_landing_schema_of_migration_yml_reaches_the_dbt_sources(parsed):
    config, manifest, _ = parsed
    landing_sources = [s for s in manifest.sources.values() if s.source_name == "oms"]
    assert landing_sources
    for source in landing_sources:
        assert source.schema == LANDING, source.unique_id
        assert source.relation_name.endswith(f'.{LANDING}."{source.identifier}"'), source.relation_name


def test_the_worked_example_provides_every_name_the_harness_relies_on(parsed):
    config, manifest, project = parsed
    models = {node.name: node for node in manifest.nodes.values() if node.resource_type == "model"}

    schema, name = dbt_contract.DISPOSITIONS
    assert models[name].schema == schema
    assert dbt_contract.SYNC_SELECTOR in manifest.selectors
    assert {node.schema for node in models.values() if node.fqn[1] == "app"} == {dbt_contract.APP_SCHEMA}
    for table in config.tables:
        reverse = models[dbt_contract.fallback_relation_name(table.name)]
        assert reverse.schema == dbt_contract.FALLBACK_SCHEMA
        assert dbt_contract.FALLBACK_TAG in reverse.tags
        sql = Path(project / reverse.original_file_path).read_text()
        assert dbt_contract.FALLBACK_OP in sql and dbt_contract.FALLBACK_COLUMNS in sql, reverse.name
