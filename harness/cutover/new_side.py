"""The new side made ready for the applications: the `app` tables captured for a fallback (with
before images) and their sequences continued above the migrated values."""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path

from harness.core import connections
from harness.core.config import Config
from harness.core.connections import Database
from harness.cutover.strategy import Plan
from harness.dbt import artifacts as dbt_artifacts
from harness.engines.base import Connection
from harness.engines.postgres import capture
from harness.target import landing
from harness.target.app import (  # noqa: F401 (the cutover's names)
    align_sequences,
    app_table_names,
    app_tables,
    forget_changes,
)
from harness.target.provision import APP_SCHEMA


def app_sources(project_dir: Path, legacy_tables: Collection[str]) -> dict[str, set[str]]:
    """Each table of `app` with the legacy tables it is made from, as the models declare them
    (model meta `source_table`, e.g. "CUSTOMER, ORDER_HDR"), read from dbt's manifest."""
    result = {}
    for model in dbt_artifacts.models(dbt_artifacts.load(project_dir)):
        if model.is_target and model.schema == APP_SCHEMA and model.source_table:
            named = {name.strip().strip('"') for name in re.split(r"[,;]", model.source_table) if name.strip()}
            if named <= set(legacy_tables):
                result[model.relation.split(".", 1)[1]] = named
    return result


def reverse_capture_due(config: Config, conn: Connection, chosen: Plan) -> list[landing.SourceTable]:
    """The `app` tables the new application may write once this cutover switches.

    All of them, except in a phased cutover: there a table is captured once every legacy table it
    is made from is switched (tables of unknown origin with the last wave), so a fallback carries
    back only the new application's writes, never the syncs of the tables still on the legacy side.
    """
    candidates = app_tables(conn)
    if chosen.wave is None:
        return candidates
    before, after = set(chosen.switched_before), set(chosen.switched_after)
    origin = app_sources(config.project_dir, [t.name for t in config.tables])

    def switched(table: str, tables: set[str]) -> bool:
        return table in origin and origin[table] <= tables

    # Those that an earlier wave's cutover did not capture (a question of the waves, not of which
    # triggers exist: a resumed run must find the same tables).
    return [t for t in candidates if not switched(t.name, before) and (chosen.last or switched(t.name, after))]


def install_reverse_capture(target: Database, tables: list[landing.SourceTable]) -> None:
    """Capture (with before images) on the `app` tables the new application will write. Creating
    triggers locks each table; before the freeze that costs the window nothing."""
    with connections.connection(target, command="cutover", autocommit=True) as conn:
        installed = set(capture.state(conn, APP_SCHEMA, [t.name for t in tables]).installed)
        capture.install(conn, APP_SCHEMA, [t for t in tables if t.name not in installed], before_images=True)


def clear_reverse_log(target: Database, names: list[str]) -> None:
    """Forget what the migration itself wrote to these tables (its builds): until the switch nobody
    else writes them, so the log holds the new application's writes only from the switch on."""
    with connections.connection(target, command="cutover", autocommit=True) as conn:
        forget_changes(conn, names)
