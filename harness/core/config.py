"""migration.yml, loaded once into a typed object and checked strictly.

Unknown keys are refused rather than ignored: a misspelt setting that silently does nothing
is the worst kind of migration bug.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.core.errors import ConfigError
from harness.engines.postgres import MAX_IDENTIFIER_BYTES, DatabaseOptions, identifier_problem

STRATEGIES = ("big_bang", "phased", "parallel_run")
MASKS = ("last4", "null", "hash")
CAPTURE_METHODS = ("trigger", "timestamp", "binlog")
SOURCE_ENGINES = ("postgres", "mysql")  # mysql: MySQL 8 and MariaDB 10.6+ (harness/engines/mysql/)
LOCALE_PROVIDERS = ("libc", "icu", "builtin")
ROLLBACK_KINDS = ("verification", "data_loss", "metric", "latency", "manual")
# Where Debian's libpostgresql-jdbc-java puts the PostgreSQL JDBC driver (`make spark` installs it).
DEFAULT_JDBC_DRIVER = "/usr/share/java/postgresql.jar"
SPARK_MEMORY = re.compile(r"[1-9][0-9]*[kmgt]?", re.IGNORECASE)


@dataclass(frozen=True)
class CaptureConfig:
    """How sync finds source changes: triggers (default) or a last-updated timestamp column."""

    method: str = "trigger"
    column: str | None = None  # the timestamp column, for method 'timestamp'
    overlap_seconds: float = 60.0  # re-read this far behind the watermark: late commits, clock skew


@dataclass(frozen=True)
class RuleCheck:
    """A business-rule reconciliation: the same figures by group, computed on each side, compared."""

    name: str
    source_sql: str  # runs on the source; rows of (group columns..., figure)
    target_sql: str  # runs on the target; the same shape
    tolerance: float = 0.0  # largest allowed absolute difference of a figure


@dataclass(frozen=True)
class PerformanceQuery:
    name: str
    sql: str  # runs on the target
    p95_ms: float  # the level fails when the 95th percentile is slower
    runs: int = 20
    require_index: bool = False  # fail when the plan reads no index


@dataclass(frozen=True)
class Expectation:
    """What a smoke check must give: a value, a row count, a minimum row count or an exit code."""

    kind: str  # "value", "rows", "min_rows" (SQL) or "exit_code" (command)
    value: Any
    contains: str | None = None  # command: text its output must contain


@dataclass(frozen=True)
class SmokeCheck:
    name: str
    expect: Expectation
    sql: str | None = None  # runs on the target
    command: tuple[str, ...] | None = None  # runs in the project folder, PG* variables set for the target


@dataclass(frozen=True)
class SparkConfig:
    """`reconcile.spark`: where the sample level's comparison runs when it runs on Spark."""

    master: str  # local[2], spark://host:7077, yarn, ...
    partitions: int = 8  # key ranges each side is read in (JDBC reads, one task each)
    driver_memory: str = "1g"  # spark.driver.memory; in local mode the executors share it
    jdbc_driver: str = DEFAULT_JDBC_DRIVER  # the PostgreSQL JDBC driver jar
    conf: dict[str, str] = field(default_factory=dict)  # further Spark settings, passed as they are


@dataclass(frozen=True)
class ReconcileConfig:
    """The `reconcile:` section: what `migrate reconcile` checks beyond counts and checksums."""

    sample_size: int = 1000
    rules: tuple[RuleCheck, ...] = ()
    performance_queries: tuple[PerformanceQuery, ...] = ()
    smoke: tuple[SmokeCheck, ...] = ()
    spark: SparkConfig | None = None  # None: the sample level compares with pandas, on this machine


@dataclass(frozen=True)
class CutoverConfig:
    """The `cutover:` section: the gates it must pass and how the applications are switched."""

    required_approvals: tuple[str, ...] = ()  # owner roles that must sign off the cutover stage
    max_lag_seconds: float = 5.0
    reconcile_max_age_minutes: float = 60.0  # the newest green reconciliation with the checksums level must be younger
    backup_max_age_hours: float = 24.0
    require_rehearsal: bool = True
    rollback_window_hours: float = 72.0
    lock_timeout_seconds: float = 30.0  # the freeze gives up (and freezes nothing) after this
    # The freeze waits this long for the write transactions in flight, then ends those still open
    # (never acknowledged: the application retries them); None waits up to lock_timeout_seconds.
    drain_timeout_seconds: float | None = None
    switch_command: tuple[str, ...] | None = None  # points the applications at the new system
    switch_back_command: tuple[str, ...] | None = None
    routing_file: str = ".migrate/routing.json"  # the demo's applications follow it
    waves: tuple[tuple[str, ...], ...] = ()  # phased strategy: the tables of each wave


@dataclass(frozen=True)
class RollbackCriterion:
    """One reason to roll back after the switch; `migrate rollback --check` evaluates each."""

    name: str
    kind: str  # one of ROLLBACK_KINDS
    sql: str | None = None  # metric: one number, read from the target
    command: tuple[str, ...] | None = None  # metric: a program printing the number as its last line
    max: float | None = None  # metric: met when the figure is above
    min: float | None = None  # metric: met when the figure is below


# Without a `criteria:` list these are evaluated; a manual decision is always among them.
DEFAULT_CRITERIA = (
    RollbackCriterion("verification failed", "verification"),
    RollbackCriterion("data loss found", "data_loss"),
)
MANUAL_CRITERION = RollbackCriterion("manual decision", "manual")


@dataclass(frozen=True)
class RollbackConfig:
    """The `rollback:` section: who may decide a rollback, and the criteria that recommend one."""

    deciders: tuple[str, ...] = ()  # owner roles
    criteria: tuple[RollbackCriterion, ...] = DEFAULT_CRITERIA + (MANUAL_CRITERION,)


@dataclass(frozen=True)
class DecommissionConfig:
    required_approvals: tuple[str, ...] = ()  # owner roles that must sign off the decommission stage


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
    downtime_limit_minutes: float | None = None
    capture: CaptureConfig = CaptureConfig()
    reconcile: ReconcileConfig = ReconcileConfig()
    cutover: CutoverConfig = CutoverConfig()
    rollback: RollbackConfig = RollbackConfig()
    decommission: DecommissionConfig = DecommissionConfig()
    reports_dir: Path | None = None  # where reports go; None: reports/ in the project (a rehearsal sets its own)
    # target.database_options: what the target database is created with instead of the source's encoding and locale
    target_database_options: DatabaseOptions = field(default_factory=DatabaseOptions)

    @property
    def reports_root(self) -> Path:
        return self.reports_dir or self.project_dir / "reports"

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


def _identifier(value: Any, key: str, where: str) -> str:
    """A database name from migration.yml, refused (with its key) when PostgreSQL cannot hold it as written."""
    name = str(value)
    problem = identifier_problem(name)
    if problem and key.startswith("tables.") and len(name.encode()) > MAX_IDENTIFIER_BYTES:
        # A source name PostgreSQL would cut (MySQL holds 64 characters): landing holds it as the source names it.
        fix = "landing holds it under the source's name, so rename it in the source, or leave the table out"
        raise ConfigError(f"{where}: {key}: the name {name!r} {problem}: {fix}")
    if problem:
        raise ConfigError(f"{where}: {key}: the name {name!r} {problem}: write the name as the database spells it")
    return name


def _endpoint(raw: dict, side: str, where: str, default_db: str) -> tuple[Endpoint, dict]:
    allowed = {"engine", "database", "url", "schema", "landing_schema", "control_schema"} | (
        {"database_options"} if side == "target" else set()
    )
    section = _section(raw, side, allowed, where)
    engine = section.get("engine", "postgres")
    engines = SOURCE_ENGINES if side == "source" else ("postgres",)
    if engine not in engines:
        raise ConfigError(
            f"{where}: {side}.engine {engine!r} is not supported; use {' or '.join(repr(e) for e in engines)}"
        )
    env_name = f"MIGRATE_{side.upper()}_URL"
    url = os.environ.get(env_name) or section.get("url")
    setting = env_name if os.environ.get(env_name) else f"{side}.url in migration.yml (or {env_name})"
    for key in ("database", "schema", "landing_schema", "control_schema"):
        if key in section:
            _identifier(section[key], f"{side}.{key}", where)
    return Endpoint(engine, section.get("database", default_db), url, setting), section


def _tables(raw: dict, where: str) -> tuple[TableConfig, ...]:
    tables = raw.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{where}: 'tables' must list at least one source table with its key")
    result = []
    for name, spec in tables.items():
        _identifier(name, f"tables.{name}", where)
        spec = spec or {}
        unknown = set(spec) - {"key", "masks"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} under table {name}")
        key = spec.get("key") or []
        if isinstance(key, str):
            key = [key]
        # YAML reads an unquoted `null` as None: that is the 'null' mask, not a missing one.
        masks = {column: "null" if mask is None else mask for column, mask in (spec.get("masks") or {}).items()}
        for column in key:
            _identifier(column, f"tables.{name}.key", where)
        for column in masks:
            _identifier(column, f"tables.{name}.masks", where)
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
    known = {
        "name",
        "source",
        "target",
        "tables",
        "strategy",
        "owners",
        "roles",
        "capture",
        "downtime_limit_minutes",
        "reconcile",
        "cutover",
        "rollback",
        "decommission",
    }
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(known))}")
    source, source_section = _endpoint(raw, "source", where, "legacy")
    target, target_section = _endpoint(raw, "target", where, "target")
    if "schema" not in source_section:
        raise ConfigError(f"{where}: source.schema is missing: name the legacy schema to migrate")
    strategy = raw.get("strategy", "parallel_run")
    if strategy not in STRATEGIES:
        raise ConfigError(f"{where}: strategy {strategy!r} is unknown; use one of {', '.join(STRATEGIES)}")
    limit = raw.get("downtime_limit_minutes")
    # bool is an int in Python: `downtime_limit_minutes: yes` must not pass as 1 minute.
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit <= 0):
        raise ConfigError(f"{where}: downtime_limit_minutes must be a positive number of minutes, not {limit!r}")
    reconcile = _reconcile(raw, where)
    cutover = _cutover(raw, where)
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
        downtime_limit_minutes=float(limit) if limit is not None else None,
        capture=_capture(raw, where, source.engine),
        reconcile=reconcile,
        cutover=cutover,
        rollback=_rollback(raw, where, cutover, reconcile),
        decommission=_decommission(raw, where),
        target_database_options=_database_options(target_section, where),
    )


def _database_options(target_section: dict, where: str) -> DatabaseOptions:
    """target.database_options: CREATE DATABASE's encoding and locale options, each taking the place of the source's."""
    allowed = {f.name for f in dataclasses.fields(DatabaseOptions)}
    section = target_section.get("database_options") or {}
    if not isinstance(section, dict):
        raise ConfigError(
            f"{where}: target.database_options must be a mapping, e.g. {{encoding: UTF8, lc_collate: C.UTF-8}}"
        )
    unknown = set(section) - allowed
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))} under target.database_options; allowed: "
            f"{', '.join(sorted(allowed))}"
        )
    for key, value in section.items():
        if not isinstance(value, str) or not value:
            raise ConfigError(
                f"{where}: target.database_options.{key} must be a name such as UTF8, C.UTF-8 or en-US, not {value!r}"
            )
    provider = section.get("locale_provider")
    if provider is not None and provider not in LOCALE_PROVIDERS:
        raise ConfigError(
            f"{where}: target.database_options.locale_provider {provider!r} is unknown; "
            f"use one of {', '.join(LOCALE_PROVIDERS)}"
        )
    return DatabaseOptions(**section)


def _capture(raw: dict, where: str, engine: str = "postgres") -> CaptureConfig:
    section = _section(raw, "capture", {"method", "column", "overlap_seconds"}, where)
    # Each engine's methods, its default first: a MySQL-family source is read from its binary log.
    methods = ("binlog", "trigger") if engine == "mysql" else ("trigger", "timestamp")
    method = section.get("method", methods[0])
    if method not in CAPTURE_METHODS:
        raise ConfigError(f"{where}: capture.method {method!r} is unknown; use one of {', '.join(CAPTURE_METHODS)}")
    if method not in methods:
        raise ConfigError(
            f"{where}: capture.method {method!r} does not work with source.engine {engine!r}; "
            f"use {' or '.join(repr(m) for m in methods)}"
        )
    column = section.get("column")
    if method == "timestamp" and not column:
        raise ConfigError(
            f"{where}: capture.method 'timestamp' needs capture.column, the last-updated column (e.g. LAST_UPD)"
        )
    if column is not None:
        _identifier(column, "capture.column", where)
    overlap = section.get("overlap_seconds", 60)
    if not isinstance(overlap, (int, float)) or overlap < 0:
        raise ConfigError(f"{where}: capture.overlap_seconds must be a number of seconds ≥ 0")
    return CaptureConfig(method, column, float(overlap))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _items(
    section: dict, name: str, allowed: set[str], required: set[str], where: str, parent: str = "reconcile"
) -> list[tuple[str, dict]]:
    """A list of named mappings under <parent>.<name>, each checked for unknown and missing keys."""
    items = section.get(name) or []
    if not isinstance(items, list):
        raise ConfigError(f"{where}: {parent}.{name} must be a list")
    seen: set[str] = set()
    result = []
    for i, item in enumerate(items):
        label = f"{parent}.{name}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: {label} must be a mapping with {', '.join(sorted(required))}")
        unknown = set(item) - allowed
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))} under {label}; allowed: "
                f"{', '.join(sorted(allowed))}"
            )
        missing = required - set(item)
        if missing:
            raise ConfigError(f"{where}: {label} needs {', '.join(sorted(missing))}")
        item_name = str(item["name"])
        if item_name in seen:
            raise ConfigError(f"{where}: {label}: the name {item_name!r} is used twice under {parent}.{name}")
        seen.add(item_name)
        for key in ("sql", "source_sql", "target_sql"):
            if key in item and (not isinstance(item[key], str) or not item[key].strip()):
                raise ConfigError(f"{where}: {label} ({item_name}): {key} must be an SQL query")
        result.append((f"{label} ({item_name})", item))
    return result


def _expectation(item: dict, label: str, where: str) -> Expectation:
    expect = item.get("expect")
    if "command" in item:
        if expect is None:
            return Expectation("exit_code", 0)
        if isinstance(expect, int) and not isinstance(expect, bool):
            return Expectation("exit_code", expect)
        if isinstance(expect, dict) and set(expect) <= {"exit_code", "contains"} and expect:
            code = expect.get("exit_code", 0)
            if not isinstance(code, int) or isinstance(code, bool):
                raise ConfigError(f"{where}: {label}: expect.exit_code must be a whole number")
            contains = expect.get("contains")
            return Expectation("exit_code", code, None if contains is None else str(contains))
        raise ConfigError(f"{where}: {label}: a command expects an exit code, or {{exit_code: N, contains: text}}")
    if "expect" not in item:
        raise ConfigError(f"{where}: {label} needs expect: a value, {{rows: N}} or {{min_rows: N}}")
    if isinstance(expect, dict):
        if len(expect) != 1 or not set(expect) <= {"value", "rows", "min_rows"}:
            raise ConfigError(f"{where}: {label}: expect takes one of value, rows, min_rows")
        ((kind, value),) = expect.items()
        if kind != "value" and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ConfigError(f"{where}: {label}: expect.{kind} must be a whole number ≥ 0")
        return Expectation(kind, value)
    if isinstance(expect, list):
        raise ConfigError(f"{where}: {label}: expect takes one value, {{rows: N}} or {{min_rows: N}}, not a list")
    return Expectation("value", expect)


def _command_line(value: Any, label: str, where: str) -> tuple[str, ...]:
    command: tuple[str, ...] = ()
    if isinstance(value, str):
        command = tuple(shlex.split(value))
    elif isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        command = tuple(str(v) for v in value)
    if not command:
        raise ConfigError(f"{where}: {label}: command must be a command line or a list of arguments")
    return command


def _reconcile(raw: dict, where: str) -> ReconcileConfig:
    section = _section(raw, "reconcile", {"sample_size", "rules", "performance_queries", "smoke", "spark"}, where)
    sample_size = section.get("sample_size", 1000)
    if not isinstance(sample_size, int) or isinstance(sample_size, bool) or sample_size < 1:
        raise ConfigError(f"{where}: reconcile.sample_size must be a whole number of rows ≥ 1, not {sample_size!r}")
    rules = []
    for label, item in _items(
        section, "rules", {"name", "source_sql", "target_sql", "tolerance"}, {"name", "source_sql", "target_sql"}, where
    ):
        tolerance = item.get("tolerance", 0)
        if not _number(tolerance) or tolerance < 0:
            raise ConfigError(f"{where}: {label}: tolerance must be a number ≥ 0")
        rules.append(RuleCheck(str(item["name"]), item["source_sql"], item["target_sql"], float(tolerance)))
    queries = []
    for label, item in _items(
        section,
        "performance_queries",
        {"name", "sql", "p95_ms", "runs", "require_index"},
        {"name", "sql", "p95_ms"},
        where,
    ):
        if not _number(item["p95_ms"]) or item["p95_ms"] <= 0:
            raise ConfigError(f"{where}: {label}: p95_ms must be a positive number of milliseconds")
        runs = item.get("runs", 20)
        if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
            raise ConfigError(f"{where}: {label}: runs must be a whole number ≥ 1")
        require_index = item.get("require_index", False)
        if not isinstance(require_index, bool):
            raise ConfigError(f"{where}: {label}: require_index must be true or false")
        queries.append(PerformanceQuery(str(item["name"]), item["sql"], float(item["p95_ms"]), runs, require_index))
    smoke = []
    for label, item in _items(section, "smoke", {"name", "sql", "command", "expect"}, {"name"}, where):
        if ("sql" in item) == ("command" in item):
            raise ConfigError(f"{where}: {label} needs exactly one of sql or command")
        command = _command_line(item["command"], label, where) if "command" in item else None
        smoke.append(SmokeCheck(str(item["name"]), _expectation(item, label, where), item.get("sql"), command))
    return ReconcileConfig(sample_size, tuple(rules), tuple(queries), tuple(smoke), _spark(section, where))


def _spark(reconcile: dict, where: str) -> SparkConfig | None:
    """reconcile.spark: absent, the comparison runs on pandas; with a master, on Spark."""
    if reconcile.get("spark") is None:
        return None
    section = _section(reconcile, "spark", {"master", "partitions", "driver_memory", "jdbc_driver", "conf"}, where)
    master = section.get("master")
    if not isinstance(master, str) or not master.strip():
        raise ConfigError(
            f"{where}: reconcile.spark.master must name a Spark master, e.g. local[2] or spark://host:7077"
        )
    partitions = section.get("partitions", 8)
    if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
        raise ConfigError(f"{where}: reconcile.spark.partitions must be a whole number ≥ 1, not {partitions!r}")
    memory = str(section.get("driver_memory", "1g"))
    if not SPARK_MEMORY.fullmatch(memory):
        raise ConfigError(f"{where}: reconcile.spark.driver_memory must be a size such as 512m or 2g, not {memory!r}")
    driver = section.get("jdbc_driver", DEFAULT_JDBC_DRIVER)
    if not isinstance(driver, str) or not driver.strip():
        raise ConfigError(f"{where}: reconcile.spark.jdbc_driver must be the path of the PostgreSQL JDBC driver jar")
    conf = section.get("conf") or {}
    if not isinstance(conf, dict) or not all(isinstance(k, str) and k.startswith("spark.") for k in conf):
        raise ConfigError(
            f"{where}: reconcile.spark.conf must be a mapping of Spark settings, e.g. {{spark.executor.memory: 4g}}"
        )
    return SparkConfig(master.strip(), partitions, memory, driver, {k: str(v) for k, v in conf.items()})


def _cutover(raw: dict, where: str) -> CutoverConfig:
    numbers = {
        "max_lag_seconds",
        "reconcile_max_age_minutes",
        "backup_max_age_hours",
        "rollback_window_hours",
        "lock_timeout_seconds",
        "drain_timeout_seconds",
    }
    allowed = numbers | {
        "required_approvals",
        "require_rehearsal",
        "switch_command",
        "switch_back_command",
        "routing_file",
        "waves",
    }
    section = _section(raw, "cutover", allowed, where)
    for name in numbers & set(section):
        if not _number(section[name]) or section[name] < 0:
            raise ConfigError(f"{where}: cutover.{name} must be a number ≥ 0, not {section[name]!r}")
    owners = set(raw.get("owners") or {})
    approvals = tuple(section.get("required_approvals") or ())
    unknown = [r for r in approvals if r not in owners]
    if unknown:
        raise ConfigError(
            f"{where}: cutover.required_approvals names {', '.join(unknown)}, which are not under 'owners'"
        )
    waves = _waves(raw, section, where)

    def command(name: str) -> tuple[str, ...] | None:
        value = section.get(name)
        if value is None:
            return None
        return tuple(shlex.split(value)) if isinstance(value, str) else tuple(str(v) for v in value)

    defaults = CutoverConfig()
    return CutoverConfig(
        required_approvals=approvals,
        require_rehearsal=bool(section.get("require_rehearsal", defaults.require_rehearsal)),
        switch_command=command("switch_command"),
        switch_back_command=command("switch_back_command"),
        routing_file=str(section.get("routing_file", defaults.routing_file)),
        waves=waves,
        **{name: float(section[name]) for name in numbers & set(section)},
    )


def _waves(raw: dict, section: dict, where: str) -> tuple[tuple[str, ...], ...]:
    """cutover.waves: lists of table names that together name every table exactly once."""
    value = section.get("waves") or []
    if not isinstance(value, list) or not all(
        isinstance(w, list) and w and all(isinstance(t, str) for t in w) for w in value
    ):
        raise ConfigError(
            f"{where}: cutover.waves must be a list of waves, each a non-empty list of table names, e.g. "
            "[[PRODUCT], [CUSTOMER, ORDER_HDR]]"
        )
    waves = tuple(tuple(wave) for wave in value)
    if not waves:
        if raw.get("strategy") == "phased":
            raise ConfigError(
                f"{where}: strategy phased needs cutover.waves: the tables of each wave, every table under "
                "'tables' in exactly one"
            )
        return waves
    if not isinstance(raw.get("tables"), dict):
        return waves  # 'tables' itself is refused, with its own message
    tables = [str(t) for t in raw["tables"]]
    named = [t for wave in waves for t in wave]
    strays = [t for t in named if t not in tables]
    if strays:
        raise ConfigError(f"{where}: cutover.waves names {', '.join(strays)}, which are not under 'tables'")
    twice = sorted({t for t in named if named.count(t) > 1})
    if twice:
        raise ConfigError(
            f"{where}: cutover.waves names {', '.join(twice)} more than once: every table belongs to exactly one wave"
        )
    missing = [t for t in tables if t not in named]
    if missing:
        raise ConfigError(
            f"{where}: cutover.waves leaves out {', '.join(missing)}: every table under 'tables' "
            "belongs to exactly one wave"
        )
    return waves


def _roles(value: Any, name: str, raw: dict, where: str) -> tuple[str, ...]:
    """A list of owner roles: each must be a key of `owners`."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {name} must be a list of owner roles")
    owners = set(raw.get("owners") or {})
    unknown = [r for r in value if r not in owners]
    if unknown:
        raise ConfigError(f"{where}: {name} names {', '.join(unknown)}, which are not under 'owners'")
    return tuple(value)


def _rollback(raw: dict, where: str, cutover: CutoverConfig, reconcile: ReconcileConfig) -> RollbackConfig:
    section = _section(raw, "rollback", {"deciders", "criteria"}, where)
    deciders = _roles(section.get("deciders"), "rollback.deciders", raw, where)
    if "deciders" not in section:
        # Those who sign off the cutover decide its rollback, as the rollback document says.
        deciders = cutover.required_approvals or tuple(raw.get("owners") or {})
    if "criteria" not in section:
        return RollbackConfig(deciders)
    criteria = []
    metric_keys = {"name", "kind", "sql", "command", "max", "min"}
    for label, item in _items(section, "criteria", metric_keys, {"name", "kind"}, where, parent="rollback"):
        kind = item["kind"]
        if kind not in ROLLBACK_KINDS:
            raise ConfigError(f"{where}: {label}: kind {kind!r} is unknown; use one of {', '.join(ROLLBACK_KINDS)}")
        name = str(item["name"])
        if kind != "metric":
            extra = set(item) - {"name", "kind"}
            if extra:
                raise ConfigError(
                    f"{where}: {label}: {', '.join(sorted(extra))} is not used by kind {kind}, which "
                    "takes only name and kind"
                )
            if kind == "latency" and not reconcile.performance_queries:
                raise ConfigError(
                    f"{where}: {label}: kind latency times reconcile.performance_queries, and migration.yml lists none"
                )
            criteria.append(RollbackCriterion(name, kind))
            continue
        if ("sql" in item) == ("command" in item):
            raise ConfigError(
                f"{where}: {label}: a metric needs exactly one of sql (on the target) or command (printing a number)"
            )
        if "max" not in item and "min" not in item:
            raise ConfigError(f"{where}: {label}: a metric needs a limit: max, min or both")
        for bound in ("max", "min"):
            if bound in item and not _number(item[bound]):
                raise ConfigError(f"{where}: {label}: {bound} must be a number, not {item[bound]!r}")
        if "max" in item and "min" in item and item["min"] > item["max"]:
            raise ConfigError(f"{where}: {label}: min {item['min']:g} is above max {item['max']:g}")
        command = _command_line(item["command"], label, where) if "command" in item else None
        criteria.append(
            RollbackCriterion(
                name,
                kind,
                item.get("sql"),
                command,
                float(item["max"]) if "max" in item else None,
                float(item["min"]) if "min" in item else None,
            )
        )
    if not any(c.kind == "manual" for c in criteria):
        # A decider can always decide, whatever the figures say.
        taken = any(c.name == MANUAL_CRITERION.name for c in criteria)
        criteria.append(RollbackCriterion("decided by a decider", "manual") if taken else MANUAL_CRITERION)
    return RollbackConfig(deciders, tuple(criteria))


def _decommission(raw: dict, where: str) -> DecommissionConfig:
    section = _section(raw, "decommission", {"required_approvals"}, where)
    return DecommissionConfig(_roles(section.get("required_approvals"), "decommission.required_approvals", raw, where))
