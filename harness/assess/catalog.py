"""The schema inventory: each listed table's catalog detail (keys, indexes, triggers, rules, sizes,
privileges), its key as migration.yml and the catalog settle it, and its row count."""

from __future__ import annotations

from harness.assess.model import BLOCKING, Finding, TableAssessment
from harness.core.config import Config, TableConfig
from harness.engines.postgres import assess as pg

EXACT_COUNT_LIMIT = 20_000_000  # above this many estimated rows, the catalog's estimate is reported instead


def inventory(
    conn: pg.Connection, config: Config, table_config: TableConfig, privileges: dict, findings: list[Finding]
) -> tuple[TableAssessment, list[pg.ColumnInfo]]:
    schema, name = config.source_schema, table_config.name
    info = pg.table_info(conn, schema, name) if privileges["schema_exists"] else None
    if info is None:
        if privileges["schema_exists"]:
            similar = pg.similar_table_names(conn, schema, name)
            hint = f" (did you mean {', '.join(similar)}?)" if similar else ""
            findings.append(
                Finding(
                    BLOCKING,
                    "configuration",
                    f'table "{schema}"."{name}" listed in migration.yml does not exist in the source{hint}',
                    "fix the name under 'tables' in migration.yml (names are case-sensitive)",
                    table=name,
                )
            )
        return TableAssessment(name, exists=False), []

    cols = pg.column_info(conn, schema, name)
    table = TableAssessment(
        name,
        exists=True,
        kind=info.kind,
        replica_identity=info.replica_identity,
        can_select=info.can_select and privileges["schema_usage"],
        can_trigger=info.can_trigger,
        estimated_rows=max(info.estimated_rows, 0),
        bytes={
            "heap": info.heap_bytes,
            "toast": info.toast_bytes,
            "indexes": info.index_bytes,
            "total": info.total_bytes,
        },
    )
    table.unique_keys = pg.unique_keys(conn, schema, name)
    table.foreign_keys = pg.foreign_keys(conn, schema, name)
    table.indexes = pg.indexes(conn, schema, name)
    table.triggers = pg.triggers(conn, schema, name)
    table.rules = pg.rules(conn, schema, name)
    choose_key(table, table_config, cols, findings)
    if not privileges["schema_usage"]:
        return table, cols
    if not info.can_select:
        findings.append(
            Finding(
                BLOCKING,
                "privileges",
                f'user "{pg.connected_user(conn)}" may not read {name} (no SELECT privilege)',
                f'grant select on "{schema}"."{name}" to the migration user',
                table=name,
            )
        )
        return table, cols

    table.changes_per_second = 0.0
    changes, window = pg.write_activity(conn, info.oid)
    if window > 0:
        table.changes_per_second = changes / window
    if info.estimated_rows <= EXACT_COUNT_LIMIT:
        table.rows, table.rows_exact = pg.exact_count(conn, schema, name), True
    else:
        table.rows, table.rows_exact = info.estimated_rows, False
    return table, cols


def choose_key(
    table: TableAssessment, table_config: TableConfig, cols: list[pg.ColumnInfo], findings: list[Finding]
) -> None:
    """The key migration.yml names, else the primary key; a finding when neither is usable."""
    name = table.name
    primary = next((k["columns"] for k in table.unique_keys if k["primary"]), [])
    names = {c.name for c in cols}
    if table_config.key:
        table.key = list(table_config.key)
        table.key_from = "primary key" if set(primary) == set(table_config.key) else "migration.yml"
    elif primary:
        table.key, table.key_from = primary, "primary key"
    unknown = [c for c in [*table_config.key, *table_config.masks] if c not in names]
    if unknown:
        findings.append(
            Finding(
                BLOCKING,
                "configuration",
                f"migration.yml names column(s) {', '.join(unknown)} that {name} does not have",
                f"fix tables.{name} in migration.yml (names are case-sensitive)",
                table=name,
            )
        )
        table.key = [c for c in table.key if c in names]
    if not table.key:
        findings.append(
            Finding(
                BLOCKING,
                "keys",
                f"{name} has no primary key and migration.yml names none",
                f"name the columns that identify a row under tables.{name}.key in migration.yml",
                table=name,
            )
        )
