"""The source's catalog → the project model (harness/scaffold/model.py), through the source engine."""

from __future__ import annotations

import fnmatch

from harness.assess.names import names_suggest_reference
from harness.dbt import contract as dbt_contract
from harness.engines.base import CatalogTable, SourceEngine
from harness.engines.postgres import identifier_problem
from harness.scaffold.model import (
    MAX_NAME_BYTES,
    RESERVED,
    ColumnModel,
    ForeignKeyModel,
    Project,
    TableModel,
    choose_key,
    convert,
    fit,
    mask_by_name,
    mask_by_values,
    mask_fits,
    quote,
    rewrite_check,
    snake,
    suggest_strategy,
    taken_back,
    unique_names,
)

SAMPLE_ROWS = 200


def select_tables(tables: list[CatalogTable], patterns: list[str] | None) -> list[CatalogTable]:
    if not patterns:
        return tables
    return [t for t in tables if any(fnmatch.fnmatchcase(t.name, p) for p in patterns)]


def build_project(
    engine: SourceEngine, conn, schema: str, catalog: list[CatalogTable], *, name: str, kit_dir: str, urls: dict
) -> Project:
    left_out: list[tuple[str, str]] = []
    kept: list[tuple[CatalogTable, list[str], str]] = []
    for table in catalog:
        chosen = choose_key(table)
        unmapped = [f"column {c.name}: {c.unmapped}" for c in table.columns if c.unmapped]
        unnamed = _name_problem(table, chosen[0] if chosen else [])
        if unnamed:
            left_out.append((table.name, unnamed))
        elif unmapped:
            left_out.append((table.name, f"{'; '.join(unmapped)}; to migrate it, cast the column in a view"))
        elif chosen is None:
            left_out.append(
                (
                    table.name,
                    "no primary key and no unique index on NOT NULL columns; to migrate it, add it under tables "
                    "in migration.yml with the columns that identify a row (key: [...]) and its models",
                )
            )
        else:
            kept.append((table, *chosen))
    app_names = unique_names([snake(t.name) for t, _, _ in kept], taken={"sync_batches", "sync_app_deletes"})
    models: dict[str, TableModel] = {}
    for (table, key, origin), app_name in zip(kept, app_names):
        models[table.name] = _table(engine, conn, schema, table, key, origin, app_name)
    for table, _, _ in kept:
        _relations(models[table.name], table, models)
    for table, _, _ in kept:
        _undeclared(engine, conn, schema, models[table.name], table, models)
    findings = [
        f"{quote(table.name)}: check {name} ({condition}) is not in app.{models[table.name].name}'s contract: "
        "PostgreSQL cannot read it as the source states it; restate it in the app model if it must hold"
        for table, _, _ in kept
        for name, condition in [
            *table.unread_checks,
            *((n, c) for n, c in table.checks if not rewrite_check(c, models[table.name].columns)),
        ]
    ]
    # Parents first (the order of migration.yml): a fallback writes back in this order, deletes in its reverse.
    tables = Project.parents_first(list(models.values()))
    shared = dbt_contract.shared_fallback_relations([t.source for t in tables])
    for t in tables:
        relation = f"fallback.{dbt_contract.fallback_relation_name(t.source)}"
        if t.source in shared:
            t.fallback = None
            findings.append(
                f"{quote(t.source)}: no reverse model, since {relation} would also be the reverse model of "
                f"{', '.join(quote(other) for other in shared[t.source])} (the contract lower-cases the table's "
                "name); a rollback after the switch cannot carry its changes back"
            )
        elif t.fallback is None:
            findings.append(
                f"{quote(t.source)}: no reverse model, since {relation} is not within 63 bytes; "
                "a rollback after the switch cannot carry its changes back"
            )
    strategy, reason = suggest_strategy(tables)
    return Project(
        name=name,
        engine=engine.name,
        source_schema=schema,
        source_url=urls.get("source"),
        target_url=urls.get("target"),
        kit_dir=kit_dir,
        tables=tables,
        left_out=left_out,
        strategy=strategy,
        strategy_reason=reason,
        findings=findings,
    )


def _name_problem(table: CatalogTable, key: list[str]) -> str | None:
    """Why the project cannot name the table as the source does, or None. Landing holds a table and its
    columns under the source's names, and PostgreSQL cuts a name over 63 bytes (MySQL holds 64
    characters): two names alike in their first 63 bytes would land in one object. migration.yml
    refuses the characters no schema uses in the names it lists (the table, its key)."""
    problem = identifier_problem(table.name)
    if problem:
        return f"its name {problem}; to migrate it, rename it in the source (landing holds it under the source's name)"
    for column in table.columns:
        size = len(column.name.encode())
        if size > MAX_NAME_BYTES:
            return (
                f"column {column.name} is {size} bytes, more than the {MAX_NAME_BYTES} bytes a PostgreSQL name holds; "
                "to migrate the table, rename the column in the source (landing holds it under the source's name)"
            )
    for column in key:
        problem = identifier_problem(column)
        if problem:
            return f"its key column {column} {problem}; to migrate the table, rename the column in the source"
    return None


def _table(engine, conn, schema, table: CatalogTable, key, origin, app_name) -> TableModel:
    names = unique_names([snake(c.name) for c in table.columns], taken=RESERVED)
    columns = []
    text_columns = [c.name for c in table.columns if c.is_text and c.name not in key]
    samples = engine.sample_text(conn, schema, table.name, text_columns, SAMPLE_ROWS) if text_columns else {}
    for column, name in zip(table.columns, names):
        landing = column.landing_type or column.type
        target, expression, note = convert(landing)
        model = ColumnModel(
            column.name,
            name,
            column.type,
            target,
            expression.format(v=f"source.{quote(column.name)}"),
            column.not_null,
            "; ".join(said for said in (column.landing_note, note) if said),
            expected=expression.format(v=f"{quote(table.name)}.{quote(column.name)}"),
            landing_type=landing,
        )
        if column.name not in key:
            proposed = mask_by_values(samples.get(column.name, [])) or mask_by_name(column.name)
            # migration.yml names a masked column: only one it can name (no quotes, within 63 bytes).
            if proposed and mask_fits(proposed[0], column) and not identifier_problem(column.name):
                model.mask, model.mask_reason = proposed
        columns.append(model)
    fallback = dbt_contract.fallback_relation_name(table.name)
    staging = fit(f"stg_legacy__{app_name}")
    model = TableModel(
        source=table.name,
        name=app_name,
        staging=staging,
        decisions=fit(f"int_{app_name}_decided"),
        # Contract name legacy_<table>, within 63 bytes; one dbt cannot name unquoted (spaces, capitals)
        # is a view over the reverse model that its post-hook creates (TableModel.fallback_quoted).
        fallback=fallback if len(fallback.encode()) <= MAX_NAME_BYTES else None,
        columns=columns,
        key=key,
        key_origin=origin,
        estimated_rows=table.estimated_rows,
        total_bytes=table.total_bytes,
        writes_per_second=table.writes_per_second,
    )
    by_source = {c.source: c for c in columns}
    model.unique_keys = [[by_source[c].name for c in cols] for cols in table.unique_keys if list(cols) != key]
    for check_name, expression in table.checks:
        rewritten = rewrite_check(expression, columns)
        if rewritten:
            model.checks.append((fit(snake(check_name)), rewritten))
    for column in columns:
        if (check := taken_back(column.landing_type, column.name)) is not None:
            model.checks.append(check)
    return model


def _relations(model: TableModel, table: CatalogTable, models: dict[str, TableModel]) -> None:
    for fk in table.foreign_keys:
        parent = models.get(fk.parent)
        if parent is None:
            model.comments.append(
                f"{quote(table.name)} ({', '.join(fk.columns)}) references {quote(fk.parent)}, which is not migrated"
            )
            continue
        relation = ForeignKeyModel(
            [model.column(c).name for c in fk.columns],
            parent,
            [parent.column(c).name for c in fk.parent_columns],
            list(fk.columns),
            fk.name,
        )
        # A reference to the table itself cannot be a contract constraint (a full refresh builds the
        # table beside the old one): the kit's add_self_foreign_key adds it as a post-hook.
        (model.self_foreign_keys if parent is model else model.foreign_keys).append(relation)


LIKELY_REFERENCE = 0.5  # share of sampled values found in the parent's key for a proposal (as assess)


def _undeclared(engine, conn, schema, model: TableModel, table: CatalogTable, models: dict[str, TableModel]) -> None:
    """Relationships the source does not declare, found as assess finds them (a column named like a
    parent's single-column key, most sampled values found there), proposed as comments."""
    declared = {tuple(fk.columns) for fk in table.foreign_keys}
    for column in model.columns:
        if (column.source,) in declared:
            continue
        for parent in models.values():
            if len(parent.key) != 1:
                continue
            key = parent.column(parent.key[0])
            if parent is model and column.source == key.source:
                continue
            if key.target_type != column.target_type or not names_suggest_reference(
                column.source, parent.source, key.source
            ):
                continue
            share = engine.reference_share(
                conn, schema, table.name, column.source, parent.source, key.source, SAMPLE_ROWS
            )
            if share is None or not share[0] or share[1] / share[0] < LIKELY_REFERENCE:
                continue
            checked, found = share
            model.proposals.append(
                f"undeclared: {column.name} -> {parent.name} ({key.name}): {found} of {checked} sampled values found "
                f"there; to enforce it, add a foreign_key constraint here (columns: [{column.name}], "
                f"to: ref('{parent.model}'), to_columns: [{key.name}]) and its quarantine rule in {model.decisions}"
            )
