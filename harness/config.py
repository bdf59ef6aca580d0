"""migration.yml, loaded once into a typed object and checked strictly.

Unknown keys are refused rather than ignored: a misspelt setting that silently does nothing
is the worst kind of migration bug.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError

STRATEGIES = ("big_bang", "phased", "parallel_run")
MASKS = ("last4", "null", "hash")
CAPTURE_METHODS = ("trigger", "timestamp")


@dataclass(frozen=True)
class CaptureConfig:
    """How sync finds source changes: triggers (default) or a last-updated timestamp column."""

    method: str = "trigger"
    column: str | None = None  # the timestamp column, for method 'timestamp'
    overlap_seconds: float = 60.0  # re-read this far behind the watermark: late commits, clock skew


@dataclass(frozen=True)
class TableConfig:
    name: str
    key: tuple[str, ...] = ()
    masks: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    """One side of the migration: where it lives and which schema matters."""

    engine: str
    database: str
    url: str | None
    url_setting: str  # what to change when the connection fails


@dataclass(frozen=True)
class Config:
    project_dir: Path
    name: str
    source: Endpoint
    source_schema: str
    target: Endpoint
    landing_schema: str
    control_schema: str
    tables: tuple[TableConfig, ...]
    strategy: str
    owners: dict[str, str]
    roles: dict[str, str]
    capture: CaptureConfig = CaptureConfig()

    def table(self, name: str) -> TableConfig:
        for table in self.tables:
            if table.name == name:
                return table
        raise ConfigError(f"table {name!r} is not listed in migration.yml: add it under 'tables'")


def _section(raw: dict, name: str, allowed: set[str], where: str) -> dict:
    value = raw.get(name, {})
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: '{name}' must be a mapping")
    unknown = set(value) - allowed
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))} under '{name}'; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    return value


def _endpoint(raw: dict, side: str, where: str, default_db: str) -> tuple[Endpoint, dict]:
    allowed = {"engine", "database", "url", "schema", "landing_schema", "control_schema"}
    section = _section(raw, side, allowed, where)
    engine = section.get("engine", "postgres")
    if engine != "postgres":
        raise ConfigError(f"{where}: {side}.engine {engine!r} is not supported yet; use 'postgres'")
    env_name = f"MIGRATE_{side.upper()}_URL"
    url = os.environ.get(env_name) or section.get("url")
    setting = env_name if os.environ.get(env_name) else f"{side}.url in migration.yml (or {env_name})"
    return Endpoint(engine, section.get("database", default_db), url, setting), section


def _tables(raw: dict, where: str) -> tuple[TableConfig, ...]:
    tables = raw.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{where}: 'tables' must list at least one source table with its key")
    result = []
    for name, spec in tables.items():
        spec = spec or {}
        unknown = set(spec) - {"key", "masks"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} under table {name}")
        key = spec.get("key") or []
        if isinstance(key, str):
            key = [key]
        masks = spec.get("masks") or {}
        for column, mask in masks.items():
            if mask not in MASKS:
                raise ConfigError(
                    f"{where}: mask {mask!r} on {name}.{column} is unknown; use one of {', '.join(MASKS)}"
                )
        result.append(TableConfig(str(name), tuple(str(k) for k in key), dict(masks)))
    return tuple(result)


def load_config(project_dir: Path | None = None) -> Config:
    project_dir = (project_dir or Path(os.environ.get("MIGRATE_PROJECT_DIR", "."))).resolve()
    path = project_dir / "migration.yml"
    where = str(path)
    if not path.exists():
        raise ConfigError(f"{where} not found: run migrate from the project folder or set MIGRATE_PROJECT_DIR")
    try:
        raw: Any = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{where} is not valid YAML{line}: fix the syntax") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping of settings")
    known = {"name", "source", "target", "tables", "strategy", "owners", "roles", "capture"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(known))}"
        )
    source, source_section = _endpoint(raw, "source", where, "legacy")
    target, target_section = _endpoint(raw, "target", where, "target")
    if "schema" not in source_section:
        raise ConfigError(f"{where}: source.schema is missing: name the legacy schema to migrate")
    strategy = raw.get("strategy", "parallel_run")
    if strategy not in STRATEGIES:
        raise ConfigError(f"{where}: strategy {strategy!r} is unknown; use one of {', '.join(STRATEGIES)}")
    return Config(
        project_dir=project_dir,
        name=str(raw.get("name", project_dir.name)),
        source=source,
        source_schema=source_section["schema"],
        target=target,
        landing_schema=target_section.get("landing_schema", "landing"),
        control_schema=target_section.get("control_schema", "migrate_control"),
        tables=_tables(raw, where),
        strategy=strategy,
        owners=dict(raw.get("owners") or {}),
        roles=dict(raw.get("roles") or {}),
        capture=_capture(raw, where),
    )


def _capture(raw: dict, where: str) -> CaptureConfig:
    section = _section(raw, "capture", {"method", "column", "overlap_seconds"}, where)
    method = section.get("method", "trigger")
    if method not in CAPTURE_METHODS:
        raise ConfigError(f"{where}: capture.method {method!r} is unknown; use one of {', '.join(CAPTURE_METHODS)}")
    column = section.get("column")
    if method == "timestamp" and not column:
        raise ConfigError(f"{where}: capture.method 'timestamp' needs capture.column, the last-updated column (e.g. LAST_UPD)")
    overlap = section.get("overlap_seconds", 60)
    if not isinstance(overlap, (int, float)) or overlap < 0:
        raise ConfigError(f"{where}: capture.overlap_seconds must be a number of seconds ≥ 0")
    return CaptureConfig(method, column, float(overlap))
