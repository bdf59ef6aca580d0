"""Relationships: the declared foreign keys between listed tables, and the undeclared ones that
column names suggest, confirmed by looking the (sampled) values up in the parent's key."""

from __future__ import annotations

from collections.abc import Callable

from harness import profiling
from harness.assess import names
from harness.assess.model import WARNING, Finding, Relationship, TableAssessment
from harness.assess.profile import SEED
from harness.core.config import Config
from harness.engines.postgres import assess as pg

LIKELY_REFERENCE = 0.5  # share of a column's values found in a key for the link to count as real


def reference_candidates(
    tables: list[TableAssessment], columns: dict[str, list[pg.ColumnInfo]]
) -> list[tuple[str, str, str, str]]:
    """(child table, column, parent table, key) pairs whose names suggest a reference and whose
    types can be compared; parents are listed tables with a single-column key."""
    parents = [(t.name, t.key[0]) for t in tables if t.exists and t.can_select and len(t.key) == 1]
    result = []
    for child in tables:
        if not (child.exists and child.can_select):
            continue
        declared = {(fk["references_table"], tuple(fk["columns"])) for fk in child.foreign_keys}
        for col in columns[child.name]:
            for parent, key in parents:
                if parent == child.name:
                    continue
                key_col = next((c for c in columns[parent] if c.name == key), None)
                if key_col is None or key_col.category != col.category or (parent, (col.name,)) in declared:
                    continue
                if names.names_suggest_reference(col.name, parent, key):
                    result.append((child.name, col.name, parent, key))
    return result


def relationships(
    conn: pg.Connection,
    config: Config,
    tables: list[TableAssessment],
    columns: dict[str, list[pg.ColumnInfo]],
    plans: dict[str, profiling.SamplePlan],
    findings: list[Finding],
) -> list[Relationship]:
    return collect(
        config.source_schema,
        tables,
        columns,
        plans,
        findings,
        lambda child, column, parent, key, plan, text: _confirm(conn, config, child, column, parent, key, plan, text),
    )


def collect(
    schema: str,
    tables: list[TableAssessment],
    columns: dict[str, list],
    plans: dict[str, profiling.SamplePlan],
    findings: list[Finding],
    confirm: Callable[..., Relationship],
) -> list[Relationship]:
    """The declared single-column foreign keys, then the references the names suggest, each
    confirmed by `confirm(child table, column, parent, key, sample plan, is text)` in the engine's
    database (a likely one becomes a finding)."""
    listed = {t.name for t in tables if t.exists}
    result = []
    for table in tables:
        for fk in table.foreign_keys:
            if fk["references_table"] in listed and fk["references_schema"] == schema and len(fk["columns"]) == 1:
                result.append(
                    Relationship(
                        table.name,
                        fk["columns"][0],
                        fk["references_table"],
                        fk["references_columns"][0],
                        declared=True,
                        match_rate=1.0,
                        likely=True,
                    )
                )
    by_table = {t.name: t for t in tables}
    for child, column, parent, key in reference_candidates(tables, columns):
        plan = plans.get(child)
        if plan is None:
            continue
        text = next(c for c in columns[child] if c.name == column).is_text
        rel = confirm(by_table[child], column, parent, key, plan, text)
        result.append(rel)
        if rel.likely:
            relationship_findings(rel, text, findings)
    return result


def _confirm(
    conn: pg.Connection,
    config: Config,
    child: TableAssessment,
    column: str,
    parent: str,
    key: str,
    plan: profiling.SamplePlan,
    text: bool,
) -> Relationship:
    """How many of the child's sampled values the parent's key holds, exactly and (for text)
    ignoring case and blanks."""
    found = pg.reference_match(conn, config.source_schema, child.name, column, plan, SEED, parent, key, text)
    checked = found["checked"]
    population = max(round(checked * child.rows / max(child.sample.get("rows", 1), 1)), checked)
    rel = Relationship(
        child.name,
        column,
        parent,
        key,
        declared=False,
        checked=checked,
        matched=found["matched"],
        match_rate=profiling.share(found["matched"], checked),
        margin=profiling.proportion_margin(found["matched"], checked, population),
    )
    if text:
        rel.normalised_match_rate = profiling.share(found["matched_normalised"], checked)
    rel.orphan_rate = 1.0 - max(rel.match_rate, rel.normalised_match_rate or 0.0) if checked else 0.0
    rel.likely = checked > 0 and max(rel.match_rate, rel.normalised_match_rate or 0) >= LIKELY_REFERENCE
    return rel


def relationship_findings(rel: Relationship, text: bool, findings: list[Finding]) -> None:
    child, column = rel.child_table, rel.child_column
    where = f"{child}.{column} → {rel.parent_table}.{rel.parent_column}"
    if rel.orphan_rate > 0:
        findings.append(
            Finding(
                WARNING,
                "relationships",
                f"{where} (undeclared): {rel.orphan_rate:.2%} of {rel.checked:,} values have no parent (orphans)",
                "decide in the mapping: quarantine the orphans or attach them to a placeholder parent",
                table=child,
                column=column,
                share=rel.orphan_rate,
            )
        )
    if text and rel.normalised_match_rate is not None and rel.normalised_match_rate - rel.match_rate > 0.0001:
        findings.append(
            Finding(
                WARNING,
                "relationships",
                f"{where}: {rel.normalised_match_rate - rel.match_rate:.2%} of values match only when "
                "case and blanks are ignored",
                "normalise both sides (upper, trim) in staging before joining",
                table=child,
                column=column,
                share=rel.normalised_match_rate - rel.match_rate,
            )
        )
