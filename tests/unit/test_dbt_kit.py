"""The kit's macros (kit/macros/) serve any migration: they name no table, source or model of the
worked example; what they need to know of a migration comes from its models' configuration and
var source_tables (docs/dbt-contract.md)."""

from __future__ import annotations

import re

import yaml

from tests.conftest import PROJECT_DIR

KIT = PROJECT_DIR / "kit" / "macros"


def worked_example_names() -> set[str]:
    """The source tables of migration.yml, the dbt sources, and the models of the mapping."""
    names = set(yaml.safe_load((PROJECT_DIR / "migration.yml").read_text())["tables"])
    for sources in (PROJECT_DIR / "models").rglob("*sources.yml"):
        names.update(
            source["name"]
            for source in yaml.safe_load(sources.read_text())["sources"]
            if source["name"] != "reverse_capture"
        )
    for layer in ("staging", "intermediate", "app"):
        names.update(model.stem for model in (PROJECT_DIR / "models" / layer).rglob("*.sql"))
    return names


def test_the_kit_names_nothing_of_the_worked_example():
    names = worked_example_names()
    pattern = re.compile(
        r"\b(" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")\b", re.IGNORECASE
    )
    found = [
        f"{file.relative_to(PROJECT_DIR)}:{number}: {pattern.search(line).group(0)}"
        for file in sorted(KIT.rglob("*"))
        if file.suffix in (".sql", ".yml")
        for number, line in enumerate(file.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert found == []
