"""`migrate init`: a migration project scaffolded from a live source's catalog.

The source engine describes the schema (harness.engines.base: tables, columns, keys, declared
constraints, size, write rate, sampled values); build.py turns that into the project model
(model.py); this module renders the templates (templates/, Jinja with [[ ]] / [% %] delimiters, so
that the dbt Jinja they write passes through untouched) into the new project's folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
import yaml

import harness
from harness.core import connections
from harness.core.errors import ConfigError
from harness.engines import engine_named
from harness.engines.base import SourceEngine
from harness.engines.postgres import identifier_problem
from harness.scaffold.build import build_project, select_tables
from harness.scaffold.model import Project, fit, quote, snake
from harness.scaffold.update import UpdateResult, update_project, write_manifest

TEMPLATES = Path(__file__).parent / "templates"
KIT_DIR = Path(harness.__file__).resolve().parent.parent / "kit"


@dataclass
class InitResult:
    directory: Path
    files: list[str] = field(default_factory=list)
    tables: int = 0
    masks: int = 0
    strategy: str = ""
    findings: list[str] = field(default_factory=list)  # one line each: what init could not do
    update: UpdateResult | None = None  # --update: what was written, kept and found changed


def init_project(
    directory: Path,
    source_url: str,
    *,
    target_url: str | None = None,
    schema: str | None = None,
    tables: list[str] | None = None,
    force: bool = False,
    update: bool = False,
) -> InitResult:
    directory = directory.resolve()
    if update:
        source_url, target_url, schema = _from_project(directory, source_url, target_url, schema)
    elif directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} is a file: name a new or empty folder")
    elif directory.exists() and any(directory.iterdir()) and not force:
        raise ConfigError(f"{directory} is not empty: name a new folder, or add --force to write the project into it")
    engine = engine_named(_engine_of("source", source_url))
    if target_url is not None and _engine_of("target", target_url) != "postgres":
        raise ConfigError("--target-url is a MySQL URL: the target is PostgreSQL, use postgresql://user@host:port/db")
    if not (KIT_DIR / "dbt_project.yml").exists():
        raise ConfigError(f"the kit's dbt package is missing at {KIT_DIR}: reinstall migrate-kit from its checkout")
    source = connections.Database("source", source_url, "--source-url", False)
    schema = schema or _default_schema(engine, source)
    with connections.connection(source, command="init") as conn:
        what = "database" if engine.schema_is_database else "schema"
        if not engine.schema_exists(conn, schema):
            raise ConfigError(f"{what} {schema!r} does not exist in the source: name it with --schema")
        # migration.yml refuses it (a MySQL database's name may be 64 characters): said now, not by every later command.
        problem = identifier_problem(schema)
        if problem:
            raise ConfigError(
                f"{what} {schema!r} {problem}, which migration.yml cannot name: "
                f"migrate a copy of it under a shorter name (--schema)"
            )
        catalog = select_tables(engine.describe_tables(conn, schema), tables)
        if not catalog:
            what = f"no table matches {', '.join(tables)}" if tables else "it has no tables"
            raise ConfigError(f"nothing to migrate in schema {schema!r}: {what}; check --schema and --tables")
        project = build_project(
            engine,
            conn,
            schema,
            catalog,
            name=directory.name,
            kit_dir=str(KIT_DIR),
            urls={"source": source_url, "target": target_url},
        )
    result = InitResult(directory, tables=len(project.tables), strategy=project.strategy)
    result.masks = sum(1 for t in project.tables for c in t.columns if c.mask)
    result.findings = [f"{quote(name)}: {why}" for name, why in project.left_out] + project.findings
    if not project.tables:
        raise ConfigError(f"no table of schema {schema!r} has a key: {'; '.join(result.findings)}")
    files = render(project)
    if update:
        result.update = update_project(directory, files, project)
        return result
    directory.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        result.files.append(path)
    write_manifest(directory, files, project)
    return result


def _from_project(directory: Path, source_url, target_url, schema) -> tuple[str, str | None, str | None]:
    """An update's source, target and schema: as given, else as the project's migration.yml has them."""
    path = directory / "migration.yml"
    if not path.exists():
        raise ConfigError(f"{directory} has no migration.yml: --update runs on a project migrate init wrote")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML ({str(exc).splitlines()[0]}): correct it first") from exc
    source, target = raw.get("source") or {}, raw.get("target") or {}
    source_url = source_url or source.get("url") or os.environ.get("MIGRATE_SOURCE_URL")
    if not source_url:
        raise ConfigError("no source URL: give --source-url, or set source.url in migration.yml or MIGRATE_SOURCE_URL")
    return source_url, target_url or target.get("url"), schema or source.get("schema")


POSTGRES_SCHEMES = ("postgresql", "postgres")
URL_FORMS = "postgresql://user@host:port/database or mysql://user@host:port/database"


def _engine_of(side: str, url: str) -> str:
    """The engine of a URL given on the command line, by its scheme; a URL it cannot use is one line."""
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in connections.MYSQL_SCHEMES:
        return "mysql"
    if scheme and scheme not in POSTGRES_SCHEMES:
        schemes = ", ".join(f"{s}://" for s in POSTGRES_SCHEMES + connections.MYSQL_SCHEMES)
        raise ConfigError(f"--{side}-url has the scheme {scheme}://, which init cannot read: use one of {schemes}")
    problem = connections.url_problem(url)  # a PostgreSQL URL, or libpq's key=value form
    if problem:
        raise ConfigError(f"--{side}-url {problem}: use {URL_FORMS}")
    return "postgres"


def _default_schema(engine: SourceEngine, source: connections.Database) -> str:
    """A PostgreSQL source's `public`; where the schema is a database (MySQL's), the one its URL names."""
    if not engine.schema_is_database:
        return "public"
    if not source.name:
        raise ConfigError("--source-url names no database: name the MySQL database to migrate with --schema")
    return source.name


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False}
    env.filters["tojson"] = lambda value: json.dumps(value, ensure_ascii=False)
    env.filters["keyjoin"] = lambda column: f"migrated.{column} = decided.{column}"
    env.filters["appjoin"] = lambda column: f"app_row.{column} = decided.{column}"
    env.filters["source_key_sql"] = lambda key: " || '|' || ".join(f"decided.{c}::text" for c in key)
    env.filters["key_changed"] = lambda key: " or ".join(
        f"old_row ->> '{c}' is distinct from new_row ->> '{c}'" for c in key
    )
    env.filters["app_key_sql"] = lambda key: " || '|' || ".join(f"app_row.{c}::text" for c in key)
    env.globals.update(quote=quote, fit_name=fit, sql_text=lambda text: "'" + text.replace("'", "''") + "'")
    return env


def render(project: Project) -> dict[str, str]:
    """Every file of the project: its path in the project and its text."""
    env = _environment()
    project_name = fit(snake(project.name) if snake(project.name)[0].isalpha() else "m" + snake(project.name))
    common = {"p": project, "project_name": project_name, "delete_order": project.delete_order()}

    def one(template: str, **extra) -> str:
        return env.get_template(template).render(**common, **extra)

    files = {
        "migration.yml": one("migration.yml.j2"),
        "dbt_project.yml": one("dbt_project.yml.j2"),
        "packages.yml": one("packages.yml.j2"),
        "selectors.yml": one("selectors.yml.j2"),
        "profiles/profiles.yml": (TEMPLATES / "profiles.yml.j2").read_text(),
        ".gitignore": one("gitignore.j2"),
        "macros/kit_hooks.sql": (TEMPLATES / "kit_hooks.sql.j2").read_text(),
        "models/staging/_legacy__sources.yml": one("models/sources.yml.j2"),
        "models/intermediate/_intermediate__models.yml": one("models/intermediate_models.yml.j2"),
        "models/app/_app__models.yml": one("models/app_models.yml.j2"),
        "models/quarantine/quarantined_rows.sql": one("models/quarantined_rows.sql.j2"),
        "models/quarantine/dispositions.sql": one("models/dispositions.sql.j2"),
        "models/quarantine/_quarantine__models.yml": one("models/quarantine_models.yml.j2"),
        "models/sync/sync_batches.sql": one("models/sync_batches.sql.j2"),
        "models/sync/sync_app_deletes.sql": one("models/sync_app_deletes.sql.j2"),
        "models/sync/_sync__models.yml": one("models/sync_models.yml.j2"),
        "models/fallback/app_changes_log.sql": one("models/app_changes_log.sql.j2"),
        "models/fallback/_fallback__models.yml": one("models/fallback_models.yml.j2"),
    }
    for t in project.tables:
        files[f"models/staging/{t.staging}.sql"] = one("models/staging.sql.j2", t=t)
        files[f"models/intermediate/{t.decisions}.sql"] = one("models/decisions.sql.j2", t=t)
        files[f"models/app/{t.model}.sql"] = one("models/app.sql.j2", t=t)
        if t.fallback:
            files[f"models/fallback/{t.fallback_model}.sql"] = one("models/fallback.sql.j2", t=t)
    return files
