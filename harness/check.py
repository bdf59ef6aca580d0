"""`migrate check`: whether a migration project meets what the harness relies on, before running it.

Four parts, each a list of problems with their fix: the configuration (migration.yml), the dbt
project's files, the conventions of docs/dbt-contract.md (harness/dbt/contract.py) as dbt parses
the project, and the connections to the source and the target. A part that cannot be checked
because an earlier one failed says so instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness import dbt
from harness.core import connections
from harness.core.config import Config, load_config
from harness.core.errors import HarnessError
from harness.dbt import contract as dbt_contract

MAX_NAME_BYTES = 63  # PostgreSQL's identifiers
PARTS = ("config", "dbt project", "conventions", "connections")


@dataclass(frozen=True)
class Problem:
    part: str  # one of PARTS
    what: str
    fix: str

    def line(self) -> str:
        return f"{self.part}: {self.what}" + (f": {self.fix}" if self.fix else "")


@dataclass
class CheckResult:
    problems: list[Problem] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # the parts that were checked
    notes: list[str] = field(default_factory=list)  # limits that no change to the project lifts

    @property
    def ok(self) -> bool:
        return not self.problems


def check(project_dir: Path, *, connect: bool = True) -> CheckResult:
    result = CheckResult()
    if not (project_dir / "migration.yml").exists():
        load_config(project_dir)  # raises: not a project folder (a usage error, as for every command)
    try:
        config = load_config(project_dir)
    except HarnessError as exc:
        result.problems.append(Problem("config", str(exc), ""))  # its line says the fix already
        return result
    result.checked.append("config")
    files = _dbt_files(project_dir)
    result.problems += files
    result.checked.append("dbt project")
    if not files:
        result.problems += _conventions(config, result.notes)
        result.checked.append("conventions")
    if connect:
        result.problems += _connections(config)
        result.checked.append("connections")
    return result


def _read_yaml(path: Path) -> tuple[dict | None, str | None]:
    if not path.exists():
        return None, None
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        return None, f"{path.name} is not valid YAML ({str(exc).splitlines()[0]})"
    return (data if isinstance(data, dict) else {}), None


def _dbt_files(project_dir: Path) -> list[Problem]:
    problems = []
    project, broken = _read_yaml(project_dir / "dbt_project.yml")
    if broken:
        problems.append(Problem("dbt project", broken, "correct dbt_project.yml"))
    elif project is None:
        problems.append(
            Problem("dbt project", "no dbt_project.yml", "run migrate init in a new folder, or add the dbt project")
        )
    profiles, broken = _read_yaml(project_dir / "profiles" / "profiles.yml")
    if broken or profiles is None or "migrate" not in profiles:
        problems.append(
            Problem(
                "dbt project",
                broken or "no profile `migrate` in profiles/profiles.yml",
                "add the profile migrate reading MIGRATE_TARGET_HOST, _PORT, _USER, _PASSWORD, _DBNAME "
                "(docs/dbt-contract.md)",
            )
        )
    packages, broken = _read_yaml(project_dir / "packages.yml")
    if broken:
        problems.append(Problem("dbt project", broken, "correct packages.yml"))
    for package in (packages or {}).get("packages") or []:
        local = package.get("local") if isinstance(package, dict) else None
        if local and not (project_dir / local / "dbt_project.yml").exists():
            problems.append(
                Problem(
                    "dbt project",
                    f"packages.yml names the local package {local}, which has no dbt_project.yml",
                    "point it at the kit's folder (kit/ of the migrate-kit checkout)",
                )
            )
    if project is not None and not broken:
        hooks = project.get("on-run-start") or []
        if not any("create_landing_sync_indexes" in str(hook) for hook in hooks):
            problems.append(
                Problem(
                    "dbt project",
                    "on-run-start does not call create_landing_sync_indexes",
                    'add on-run-start: ["{{ migrate_kit.create_landing_sync_indexes() }}"] to dbt_project.yml',
                )
            )
    return problems


def _conventions(config: Config, notes: list[str]) -> list[Problem]:
    """The names of harness/dbt/contract.py, in the project as dbt parses it."""
    target = connections.Database("target", "postgresql://unused@localhost/unused", "", False)
    try:
        manifest = dbt.parse(config, target)
    except HarnessError as exc:
        return [Problem("conventions", f"dbt cannot parse the project ({exc})", "correct the file dbt names")]
    problems = []
    models = [n for n in manifest.nodes.values() if n.resource_type == "model"]
    sources = {(s.identifier or s.name): s for s in manifest.sources.values()}
    project_vars = (yaml.safe_load((config.project_dir / "dbt_project.yml").read_text()) or {}).get("vars") or {}
    source_tables = project_vars.get("source_tables") or {}
    shared = dbt_contract.shared_fallback_relations([t.name for t in config.tables])
    for table in config.tables:
        source = sources.get(table.name)
        if source is None:
            problems.append(
                Problem(
                    "conventions",
                    f"table {table.name} of migration.yml has no dbt source",
                    f"add it to a sources YAML with identifier {table.name!r} and "
                    f"schema \"{{{{ env_var('{dbt_contract.LANDING_SCHEMA_ENV}', 'landing') }}}}\"",
                )
            )
        elif source.schema != config.landing_schema:
            problems.append(
                Problem(
                    "conventions",
                    f"the dbt source of {table.name} reads schema {source.schema}, "
                    f"not landing ({config.landing_schema})",
                    f"set its schema to \"{{{{ env_var('{dbt_contract.LANDING_SCHEMA_ENV}', 'landing') }}}}\"",
                )
            )
        if table.name not in source_tables:
            problems.append(
                Problem(
                    "conventions",
                    f"var source_tables has no entry for {table.name}",
                    "add {staging: <model>, decisions: <model>, key: [...]} "
                    "under vars.source_tables in dbt_project.yml",
                )
            )
        reverse = dbt_contract.fallback_relation_name(table.name)
        if len(reverse.encode()) > MAX_NAME_BYTES:
            notes.append(
                f"{table.name}: its reverse model's name {reverse} is over {MAX_NAME_BYTES} bytes, so a rollback "
                "after the switch cannot carry its changes back (a rollback before the switch can)"
            )
        elif table.name in shared:
            notes.append(
                f"{table.name}: its reverse model's name {reverse} is also that of {', '.join(shared[table.name])}, "
                "so a rollback after the switch cannot carry its changes back (a rollback before the switch can)"
            )
        elif not any(_makes_relation(m, reverse) for m in models if dbt_contract.FALLBACK_TAG in m.tags):
            problems.append(
                Problem(
                    "conventions",
                    f"no reverse model {dbt_contract.FALLBACK_SCHEMA}.{reverse} for {table.name}",
                    f"add one tagged {dbt_contract.FALLBACK_TAG} (its columns, {dbt_contract.FALLBACK_OP}, "
                    f"{dbt_contract.FALLBACK_COLUMNS}); without it a rollback after the switch is impossible",
                )
            )
    schema, name = dbt_contract.DISPOSITIONS
    if not any(m.name == name and m.schema == schema for m in models):
        problems.append(
            Problem(
                "conventions",
                f"no model {schema}.{name}",
                "add it: one row per source table with source_table, source_rows, migrated, merged, quarantined",
            )
        )
    if not any(m.schema == dbt_contract.APP_SCHEMA for m in models):
        problems.append(
            Problem(
                "conventions",
                f"no model in schema {dbt_contract.APP_SCHEMA}",
                "add the target models under models/app with +schema: app",
            )
        )
    if dbt_contract.SYNC_SELECTOR not in manifest.selectors:
        problems.append(
            Problem(
                "conventions",
                f"no selector {dbt_contract.SYNC_SELECTOR} in selectors.yml",
                "add it (the models downstream of the landing sources); without it each sync batch builds everything",
            )
        )
    return problems


def _makes_relation(model, relation: str) -> bool:
    """Whether a model is the relation, or creates it (a post-hook view under a quoted name)."""
    if (model.alias or model.name) == relation:
        return True
    hooks = " ".join(str(getattr(hook, "sql", hook)) for hook in model.config.post_hook)
    return f'"{relation}"' in hooks.replace('\\"', '"')


def _connections(config: Config) -> list[Problem]:
    problems = []
    try:
        source, target = connections.resolve(config, create_missing=False)
    except HarnessError as exc:
        return [Problem("connections", str(exc), "set the URLs in migration.yml or the environment")]
    for db in (source, target):
        try:
            with connections.connection(db, command="check"):
                pass
        except HarnessError as exc:
            problems.append(Problem("connections", str(exc), "start the server, or correct the URL"))
    return problems
