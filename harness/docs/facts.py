"""The facts every document shows, gathered into one JSON-ready dict (the document model):
the control schema, the databases' catalogs, the gates and the latest assessment."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from harness import cutover, decommission, engines, reports
from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.errors import HarnessError
from harness.dbt import artifacts as dbt_artifacts
from harness.docs import mapping
from harness.docs.dbt_facts import collect_dbt, reverse_models
from harness.engines import postgres
from harness.engines.base import Connection
from harness.reconcile import describe_expectation
from harness.rollback import fallback
from harness.target import approvals, backups, history, landing, sync_state

CONSTRAINT_KINDS = {"p": "primary key", "f": "foreign key", "u": "unique", "c": "check", "x": "exclusion"}


def plain(value: Any) -> Any:
    """A value as JSON holds it: times as ISO 8601 in UTC, decimals as numbers."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def collect(config: Config, source: Database, target: Database, out_dir: Path) -> dict[str, Any]:
    """Every fact the documents show, as one JSON-ready dict: the document model."""
    artifacts = dbt_artifacts.load(config.project_dir)
    # Target types come from the database, so a missing catalog.json is no loss; without a dbt
    # project, a missing manifest is said once, by the documents that need it.
    has_project = (config.project_dir / "dbt_project.yml").exists()
    notes = [n for n in artifacts.notes if "catalog.json" not in n and (has_project or "manifest.json" not in n)]
    models = dbt_artifacts.models(artifacts)
    schema = config.control_schema
    with connections.connection(target, command="docs", autocommit=True) as conn:
        control.ensure(conn, schema)
        facts = _control_facts(conn, schema)
        landing_columns = {t.name: postgres.columns(conn, config.landing_schema, t.name) for t in config.tables}
        relations = [m.relation for m in models if m.is_target]
        target_types = {r: {c.name: c.type for c in postgres.columns(conn, *r.split(".", 1))} for r in relations}
        constraints = _constraints(conn, relations)
    legacy = _legacy_tables(config, source, landing_columns, notes)
    # The steps as the harness runs them now (those of the configured strategy where the cutover
    # has more than one runbook), with any other step a recorded run holds beside them.
    planned = cutover.steps_for(config.strategy) if hasattr(cutover, "steps_for") else cutover.STEPS
    facts["cutover"]["steps"] = merged_steps(tuple(planned), _recorded(facts["cutover"]["last_run"]))
    facts["fallback"]["steps"] = merged_steps(
        fallback.STEPS, _recorded(facts["fallback"]["runs"][-1] if facts["fallback"]["runs"] else None)
    )
    facts["decommission"]["steps"] = merged_steps(decommission.STEPS, _recorded(facts["decommission"]["last_run"]))
    facts["decommission"]["read_only_schema"] = decommission.READ_ONLY_SCHEMA
    facts["cutover"]["estimates"] = cutover.estimates(config, target)
    facts["gates"] = _gates(config, source, target)
    rehearsal = facts["rehearsal"]
    if rehearsal:
        rehearsal["current_models"] = rehearsal["models_fingerprint"] == cutover.models_fingerprint(config.project_dir)
    dbt_facts = collect_dbt(config, artifacts, out_dir, facts["reconcile"]["levels"].get("rules"))
    for model in dbt_facts.get("models", []):
        model["constraints"] = constraints.get(model["relation"], {}) if model["is_target"] else {}
    facts["fallback"].update(reverse_models(config, dbt_facts))
    return plain(
        {
            "document": "migration-docs",
            "version": 1,
            "generated_at": datetime.now(UTC),
            "migration": config.name,
            "source": {"database": source.describe(), "schema": config.source_schema, "engine": config.source.engine},
            "target": {
                "database": target.describe(),
                "landing_schema": config.landing_schema,
                "control_schema": schema,
            },
            "settings": settings(config),
            **facts,
            "assessment": _assessment(config.reports_root, notes),
            "dbt": dbt_facts,
            "mapping": mapping.mapping_facts(artifacts, legacy, target_types),
            "notes": notes,
        }
    )


def settings(config: Config) -> dict[str, Any]:
    """What migration.yml decides that the documents show."""
    c, r = config.cutover, config.reconcile
    return {
        "strategy": config.strategy,
        "downtime_limit_minutes": config.downtime_limit_minutes,
        "owners": dict(config.owners),
        "roles": dict(config.roles),
        "tables": [{"name": t.name, "key": list(t.key), "masks": dict(t.masks)} for t in config.tables],
        "capture": {
            "method": config.capture.method,
            "column": config.capture.column,
            "overlap_seconds": config.capture.overlap_seconds,
        },
        "cutover": {
            "required_approvals": list(c.required_approvals),
            "max_lag_seconds": c.max_lag_seconds,
            "reconcile_max_age_minutes": c.reconcile_max_age_minutes,
            "backup_max_age_hours": c.backup_max_age_hours,
            "require_rehearsal": c.require_rehearsal,
            "rollback_window_hours": c.rollback_window_hours,
            "lock_timeout_seconds": c.lock_timeout_seconds,
            "drain_timeout_seconds": c.drain_timeout_seconds,
            "switch_command": " ".join(c.switch_command) if c.switch_command else None,
            "switch_back_command": " ".join(c.switch_back_command) if c.switch_back_command else None,
            "routing_file": c.routing_file,
            "waves": [list(w) for w in c.waves],
        },
        "rollback": {
            "deciders": list(config.rollback.deciders),
            "criteria": [
                {
                    "name": x.name,
                    "kind": x.kind,
                    "sql": x.sql,
                    "command": " ".join(x.command) if x.command else None,
                    "max": x.max,
                    "min": x.min,
                }
                for x in config.rollback.criteria
            ],
        },
        "decommission": {"required_approvals": list(config.decommission.required_approvals)},
        "reconcile": {
            "sample_size": r.sample_size,
            "rules": [{"name": x.name, "tolerance": x.tolerance} for x in r.rules],
            "performance_queries": [
                {"name": x.name, "p95_ms": x.p95_ms, "runs": x.runs, "require_index": x.require_index}
                for x in r.performance_queries
            ],
            "smoke": [
                {"name": x.name, "expect": describe_expectation(x.expect), "kind": "command" if x.command else "sql"}
                for x in r.smoke
            ],
        },
    }


# --- the control schema --------------------------------------------------------------------------


def _control_facts(conn: Connection, schema: str) -> dict[str, Any]:
    return {
        "phase": history.phase(conn, schema),
        "load": history.last_load(conn, schema, tables=True),
        "sync": sync_state.applied(conn, schema),
        "backups": backups.newest_per_side(conn, schema),
        "reconcile": history.reconciliations(conn, schema),
        "rehearsal": history.last_rehearsal(conn, schema),
        "cutover": history.last_cutover(conn, schema),
        "rollbacks": history.runs_of(conn, schema, "rollback"),
        "fallback": {"runs": history.fallback_runs(conn, schema)},
        "rollback_checks": history.rollback_checks(conn, schema),
        "decommission": {"last_run": history.last_run(conn, schema, "decommission")},
        "approvals": [
            dict(zip([*approvals.COLUMNS, "revoked_at", "revoked_by"], row)) for row in approvals.every(conn, schema)
        ],
    }


def _recorded(run: dict | None) -> list[str]:
    return [s["step"] for s in (run or {}).get("steps") or []]


def merged_steps(known: tuple[str, ...], recorded: list[str]) -> list[str]:
    """The harness's steps in its order, with each recorded step it does not know (a step of
    another strategy or version) placed after the recorded step before it."""
    steps = list(known)
    previous = None
    for step in recorded:
        if step not in steps:
            steps.insert(steps.index(previous) + 1 if previous in steps else len(steps), step)
        previous = step
    return steps


def _constraints(conn: Connection, relations: list[str]) -> dict[str, dict[str, int]]:
    """Per target relation, the constraints the database enforces: kind → how many."""
    found: dict[str, dict[str, int]] = {}
    for relation in relations:
        schema, table = relation.split(".", 1)
        by_kind, not_null = postgres.constraint_counts(conn, schema, table)
        kinds = {CONSTRAINT_KINDS.get(kind, kind): n for kind, n in by_kind.items()}
        if not_null:
            kinds["not null"] = not_null
        found[relation] = kinds
    return found


# --- the databases' catalogs, the gates ----------------------------------------------------------


def _legacy_tables(
    config: Config, source: Database, landing_columns: dict[str, list[postgres.Column]], notes: list[str]
) -> list[mapping.LegacyTable]:
    """Each listed table's columns and types: from the source catalog, else from landing's copy."""
    loader = {landing.SYNCED_AT, landing.DELETED}
    source_columns: dict[str, list[postgres.Column]] = {}
    try:
        engine = engines.source_engine(config)
        with connections.connection(source, command="docs") as src:
            for table in config.tables:
                source_columns[table.name] = engine.columns(src, config.source_schema, table.name)
            src.rollback()
    except HarnessError as exc:
        notes.append(f"the source could not be read ({exc}); legacy types are taken from landing")
    result = []
    for table in config.tables:
        in_landing = landing_columns.get(table.name) or []
        own = {c.name: c.type for c in in_landing if c.name in loader}
        if source_columns.get(table.name):
            columns, origin = source_columns[table.name], "source catalog"
        elif in_landing:
            columns, origin = [c for c in in_landing if c.name not in loader], "landing"
        else:
            columns, origin = [], "not found"
            notes.append(f"{table.name} is in neither the source nor landing: its columns are not listed")
        result.append(
            mapping.LegacyTable(table.name, tuple((c.name, c.type) for c in columns), origin, dict(table.masks), own)
        )
    return result


def _gates(config: Config, source: Database, target: Database) -> dict[str, Any]:
    """The cutover's gates as they stand now."""
    checked_at = datetime.now(UTC)
    try:
        found = cutover.gates(config, source, target)
    except HarnessError as exc:
        return {"checked_at": checked_at, "error": str(exc), "gates": []}
    return {
        "checked_at": checked_at,
        "error": None,
        "gates": [{"name": g.name, "passed": g.passed, "reason": g.reason} for g in found],
    }


# --- the latest assessment.json -------------------------------------------------------------------


def _assessment(reports_root: Path, notes: list[str]) -> dict[str, Any] | None:
    path = reports.latest(reports_root, "assessment")
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        notes.append(f"{path} could not be read: run `migrate assess` again")
        return None
    findings = data.get("findings") or []
    return {
        "assessed_at": data.get("assessed_at"),
        "verdict": data.get("verdict") or {},
        "recommendation": data.get("recommendation") or {},
        "configured_strategy": data.get("configured_strategy"),
        "downtime_limit_minutes": data.get("downtime_limit_minutes"),
        "strategies": [
            {
                k: s.get(k)
                for k in ("name", "downtime_seconds", "total_seconds", "within_limit", "possible", "missing", "how")
            }
            for s in data.get("strategies") or []
        ],
        "estimates": data.get("estimates") or {},
        "tables": [{k: t.get(k) for k in ("name", "exists", "rows", "rows_exact")} for t in data.get("tables") or []],
        "risks": [
            {k: f.get(k) for k in ("severity", "area", "message", "fix", "table", "column")}
            for f in findings
            if f.get("severity") in ("blocking", "warning")
        ],
        "findings": {s: sum(1 for f in findings if f.get("severity") == s) for s in ("blocking", "warning", "info")},
        "measured": data.get("measured"),
    }
