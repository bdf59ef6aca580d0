"""Mapping coverage: which legacy columns the dbt models use, which have a disposition and which
are neither; which target columns have no source; and the target column each legacy column lands
in, for the profile's trial casts and the expected_sql expressions tried on the source."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from harness.assess.model import WARNING, Finding, TableAssessment
from harness.dbt import artifacts as dbt_artifacts
from harness.engines.postgres import assess as pg
from harness.target import landing


def _match_name(name: str | None, choices: dict[str, str]) -> str | None:
    """Exact name first, then ignoring case (staging YAML often lower-cases legacy names)."""
    if name is None:
        return None
    return name if name in choices.values() else choices.get(name.lower())


@dataclass
class _Names:
    """The listed tables' and their columns' names, to resolve the names the YAML uses."""

    tables: dict[str, str]  # lower-cased → as in the source
    columns: dict[str, dict[str, str]]  # table → lower-cased column → as in the source

    def table(self, name: str | None) -> str | None:
        return _match_name(name, self.tables)

    def column(self, table: str | None, column: str) -> str | None:
        return _match_name(column, self.columns.get(table, {})) if table else None

    def resolve(self, table: str | None, column: str) -> tuple[str | None, str | None]:
        t = self.table(table)
        if t is None and table is None:
            # A bare column name: take it when exactly one listed table has it.
            owners = [name for name in self.columns if _match_name(column, self.columns[name])]
            t = owners[0] if len(owners) == 1 else None
        return t, self.column(t, column)


@dataclass
class _Coverage:
    """What the models' columns say, gathered model by model."""

    used: set[tuple[str, str]] = field(default_factory=set)
    targets: dict[tuple[str, str], dict] = field(default_factory=dict)  # (table, column) → target column
    mapped: list[dict] = field(default_factory=list)
    unsourced: list[dict] = field(default_factory=list)
    expressions: list[dict] = field(default_factory=list)

    def offer_target(
        self, key: tuple[str, str], model: dbt_artifacts.TargetModel, col: dbt_artifacts.TargetColumn
    ) -> None:
        """Remember the target column a legacy column lands in; a plain copy or cast wins over a rule."""
        if not col.type:
            return
        plain = plain_rule(col.mapping.rule)
        if key not in self.targets or (plain and not self.targets[key]["plain"]):
            self.targets[key] = {
                "model": model.name,
                "column": col.name,
                "type": col.type,
                "rule": col.mapping.rule,
                "plain": plain,
                "expected_sql": bool(col.mapping.expression),
            }


def mapping(
    artifacts: dbt_artifacts.Artifacts,
    models: list[dbt_artifacts.TargetModel],
    tables: list[TableAssessment],
    columns: dict[str, list[pg.ColumnInfo]],
    findings: list[Finding],
) -> tuple[dict, dict, list[dict]]:
    """The coverage for the report; (table, column) → the target column it maps to (for trial
    casts); and the expected_sql expressions to try on the source."""
    if artifacts.manifest is None:
        return (
            {
                "checked": False,
                "reason": "no target/manifest.json",
                "mapped": [],
                "unmapped_source_columns": [],
                "unsourced_target_columns": [],
                "dispositions": {},
            },
            {},
            [],
        )
    names = _Names(
        {t.name.lower(): t.name for t in tables if t.exists},
        {t: {c.name.lower(): c.name for c in cols} for t, cols in columns.items()},
    )
    dispositions = _dispositions(artifacts, names)
    coverage = _Coverage()
    for model in models:
        for col in model.columns:
            _model_column(model, col, names, coverage, findings)
    _targets_by_disposition(models, dispositions, coverage)
    unmapped = _coverage_findings(tables, columns, dispositions, coverage, findings)
    return (
        {
            "checked": True,
            "mapped": coverage.mapped,
            "unmapped_source_columns": unmapped,
            "unsourced_target_columns": coverage.unsourced,
            "dispositions": {f"{t}.{c}": dataclasses.asdict(d) for (t, c), d in sorted(dispositions.items())},
        },
        coverage.targets,
        coverage.expressions,
    )


def _dispositions(
    artifacts: dbt_artifacts.Artifacts, names: _Names
) -> dict[tuple[str, str], dbt_artifacts.Disposition]:
    """The sources YAML's dispositions, by (table, column) as the source names them; column "*" is the whole table."""
    dispositions = {}
    for (table, column), found in dbt_artifacts.source_dispositions(artifacts).items():
        t = names.table(table)
        c = "*" if column == "*" else names.column(t, column)
        if t and c:
            dispositions[(t, c)] = found
    return dispositions


def _model_column(
    model: dbt_artifacts.TargetModel,
    col: dbt_artifacts.TargetColumn,
    names: _Names,
    coverage: _Coverage,
    findings: list[Finding],
) -> None:
    # Landing's own bookkeeping columns (_migrate_synced_at ...) are not legacy data.
    refs = [
        (*names.resolve(ref.table, ref.column), str(ref))
        for ref in col.mapping.sources
        if ref.column not in (landing.SYNCED_AT, landing.DELETED)
    ]
    coverage.used.update((t, c) for t, c, _ in refs if t and c)
    if not model.is_target:
        return
    coverage.mapped.append(
        {
            "model": model.name,
            "relation": model.relation,
            "column": col.name,
            "type": col.type,
            "sources": [f"{t}.{c}" if t and c else f"{raw} (not in the source)" for t, c, raw in refs],
            "rule": col.mapping.rule,
            "expression": col.mapping.expression,
        }
    )
    if not refs:
        coverage.unsourced.append({"model": model.name, "column": col.name, "rule": col.mapping.rule})
    resolved = [(t, c) for t, c, _ in refs if t and c]
    if len(resolved) == 1:
        coverage.offer_target(resolved[0], model, col)
    for t, c, raw in refs:
        if not (t and c):
            findings.append(
                Finding(
                    WARNING,
                    "mapping",
                    f"{model.name}.{col.name} maps from {raw}, which the listed source tables do not have",
                    "fix the column's meta in the model YAML",
                )
            )
    row_table = names.table(model.source_table)
    if col.mapping.expression and row_table and col.type:
        coverage.expressions.append(
            {
                "table": row_table,
                "alias": model.source_table,
                "model": model.name,
                "column": col.name,
                "type": col.type,
                "expression": col.mapping.expression,
            }
        )


def _targets_by_disposition(models: list[dbt_artifacts.TargetModel], dispositions: dict, coverage: _Coverage) -> None:
    """A disposition that names exactly one target column maps its legacy column there too."""
    target_columns = {(m.name.lower(), c.name.lower()): (m, c) for m in models if m.is_target for c in m.columns}
    for (t, c), found in dispositions.items():
        if c == "*":
            continue
        used_by = [target_columns.get(tuple(ref.lower().split(".")[-2:])) for ref in found.targets]
        used_by = [u for u in used_by if u]
        if len(used_by) == 1:
            coverage.offer_target((t, c), *used_by[0])


def _coverage_findings(
    tables: list[TableAssessment],
    columns: dict[str, list[pg.ColumnInfo]],
    dispositions: dict,
    coverage: _Coverage,
    findings: list[Finding],
) -> list[dict]:
    """Findings for legacy columns nothing maps or disposes of, and target columns with neither a
    source nor a rule; returns the unmapped legacy columns."""
    unmapped = []
    for table in tables:
        if not table.exists or (table.name, "*") in dispositions:
            continue
        missing = [
            c.name
            for c in columns[table.name]
            if (table.name, c.name) not in coverage.used and (table.name, c.name) not in dispositions
        ]
        unmapped.extend({"table": table.name, "column": column} for column in missing)
        if missing:
            findings.append(
                Finding(
                    WARNING,
                    "mapping",
                    f"{table.name}: {len(missing)} legacy column(s) with no mapping and no "
                    f"disposition: {', '.join(missing)}",
                    "map them in an app column's meta (source) or give them a disposition in the sources YAML",
                    table=table.name,
                )
            )
    for entry in coverage.unsourced:
        if not entry["rule"]:
            findings.append(
                Finding(
                    WARNING,
                    "mapping",
                    f"target column {entry['model']}.{entry['column']} has no source and no rule",
                    "name its legacy column(s) or its rule in the model YAML's column meta",
                )
            )
    return unmapped


def plain_rule(rule: str | None) -> bool:
    """A rule that copies or casts the value as it is, so a raw trial cast says what the build will meet."""
    if not rule:
        return True
    first = rule.strip().lower().split()[0].strip(":;,.") if rule.strip() else ""
    return first in (
        "copy",
        "cast",
        "rename",
        "direct",
        "as-is",
        "identity",
        "same",
        "none",
        "passthrough",
        "pass-through",
    )


def target_schema(artifacts: dbt_artifacts.Artifacts, models: list[dbt_artifacts.TargetModel]) -> dict:
    return {
        "manifest": artifacts.manifest is not None,
        "catalog": artifacts.catalog is not None,
        "project": artifacts.project_name,
        "models": [
            {
                "name": m.name,
                "relation": m.relation,
                "layer": m.layer,
                "target": m.is_target,
                "materialized": m.materialized,
                "contract_enforced": m.contract_enforced,
                "columns": [
                    {"name": c.name, "type": c.type, "type_from": c.type_from, "constraints": c.constraints}
                    for c in m.columns
                ],
            }
            for m in models
        ],
    }
