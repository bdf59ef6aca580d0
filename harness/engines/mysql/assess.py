"""`migrate assess` on a MySQL or MariaDB source: the catalog, keys, relationships, volumes, a
data-quality profile, the load probe and the conversion risks of MySQL into PostgreSQL as findings,
read in one consistent snapshot. `read_source(run, src)` fills the assessment run (assess/runner's
`_Run`) as the runner's own steps fill it for a PostgreSQL source; everything after (estimates,
strategies, the verdict, the report) is the runner's, unchanged.

The SQL is MySQL's (information_schema, backticks); the results are the assessment's own types
(harness.assess.model), so the report lays out a MySQL source like a PostgreSQL one, with one more
section: each column's MySQL type and its landing type (`type_mapping`).

The conversion risks, each counted over the whole table (they are rare values; a sample would miss
them): zero and invalid dates, unsigned integers beyond PostgreSQL's bigint, tinyint(1) holding
other values than 0 and 1, ENUM's invalid empty value and SET columns, utf8mb3 columns, latin1
columns holding UTF-8 bytes, case-insensitive collations under which values or keys differ only in
case, trailing spaces under PAD SPACE collations, AUTO_INCREMENT gaps, non-transactional tables
(MyISAM, Aria, MEMORY) and tables without a key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from harness import profiling
from harness.assess.catalog import choose_key
from harness.assess.mapping import mapping
from harness.assess.model import (
    BLOCKING,
    INFO,
    WARNING,
    ColumnProfile,
    Figure,
    Finding,
    Relationship,
    TableAssessment,
)
from harness.assess.relationships import LIKELY_REFERENCE, collect
from harness.core import connections
from harness.core.errors import ConfigError
from harness.engines.mysql import binlog, catalog, types
from harness.engines.mysql.session import MysqlSession
from harness.engines.postgres.catalog import DatabaseOptions

SEED = 20090101  # the profile's sample: the same rows on every run
TIMING_SAMPLE_ROWS = 50_000
UNSIGNED_BEYOND = (1 << 63) - 1  # PostgreSQL's bigint maximum
NON_TRANSACTIONAL = ("myisam", "aria", "memory", "csv", "archive", "merge", "mrg_myisam")
# A UTF-8 lead byte followed by a continuation byte, in the hex of a value's bytes: text written as
# UTF-8 into a latin1 column ("Ã©" for "é") holds them; real latin1 text almost never does.
UTF8_IN_LATIN1 = "^(..)*(C[2-9A-F]|D[0-9A-F]|E[0-9A-F]|F[0-4])[89AB][0-9A-F]"
SETTINGS = (
    "log_bin",
    "binlog_format",
    "binlog_row_image",
    "sql_mode",
    "time_zone",
    "system_time_zone",
    "character_set_server",
    "collation_server",
    "lower_case_table_names",
    "gtid_mode",
    "read_only",
)


@dataclass(frozen=True)
class ServerInfo:
    """The source server as the report shows it (the fields of the PostgreSQL engine's ServerInfo)."""

    version: str
    version_num: int
    database: str
    user: str
    superuser: bool
    replication: bool
    settings: dict[str, str]
    engine: str  # "MariaDB" or "MySQL"

    def limitations(self) -> list[str]:
        return [
            f"{self.engine} source: the text-pattern classes, trial casts and expected_sql trials of the profile "
            "run on PostgreSQL sources only"
        ]


@dataclass(frozen=True)
class SourceLocale:
    version: str
    options: DatabaseOptions


@dataclass(frozen=True)
class ColumnInfo:
    """A source column as the assessment's shared steps (relationships, mapping) read it."""

    position: int
    name: str
    type: str  # MySQL's COLUMN_TYPE, e.g. "bigint(20) unsigned"
    data_type: str
    landing_type: str | None  # None: a type the kit does not map
    not_null: bool
    charset: str | None
    collation: str | None
    extra: str
    category: str  # as PostgreSQL's typcategory: N numeric, S string, D date/time, U other

    @property
    def is_text(self) -> bool:
        return self.category == "S"

    @property
    def sortable(self) -> bool:
        return True


_CATEGORIES = {
    **dict.fromkeys(
        ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric", "float", "double"), "N"
    ),
    **dict.fromkeys(("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"), "S"),
    **dict.fromkeys(("date", "datetime", "timestamp", "time", "year"), "D"),
}


def quoted(name: str) -> str:
    return catalog.quoted(name)


# --- the run ------------------------------------------------------------------------------------


def read_source(run, src: MysqlSession) -> None:
    """Fill `run` (assess/runner's _Run): the server, privileges, tables, columns, profiles, the
    conversion risks, relationships and timings, all read in one consistent snapshot of `src`."""
    config, schema = run.config, run.config.source_schema
    _begin_snapshot(src)
    run.server = server_info(src)
    run.source_locale = source_locale(src, schema)
    run.notes.extend(run.server.limitations())
    run.privileges = privileges(src, schema, run.server)
    if not run.privileges["schema_exists"]:
        run.findings.append(
            Finding(
                BLOCKING,
                "configuration",
                f"database {schema!r} does not exist in the source {run.source.describe()}",
                "fix source.schema in migration.yml (a MySQL database is the source schema)",
            )
        )
    for table_config in config.tables:
        table, cols = inventory(src, schema, table_config, run.privileges, run.findings)
        run.tables.append(table)
        run.columns[table.name] = cols
        run.tick(1)
    run.mapping, targets, _expressions = mapping(run.artifacts, run.models, run.tables, run.columns, run.findings)
    plans = {}
    for table, table_config in zip(run.tables, config.tables):
        if table.exists and table.can_select:
            plans[table.name] = profile(src, schema, table, table_config, run.columns[table.name], run.sample_rows)
            for column in table.columns:
                column.target = targets.get((table.name, column.name))
            conversion_risks(src, schema, table, run.columns[table.name], run.findings)
            run.type_mapping.extend(type_mapping(table, run.columns[table.name]))
        run.tick(1)
    run.findings.extend(server_findings(run.server))
    run.relationships = relationships(src, schema, run.tables, run.columns, plans, run.findings)
    run.tick(1)
    for table in run.tables:
        if table.exists and table.can_select:
            time_table(src, schema, table, run.columns[table.name])
        run.tick(1)
    src.rollback()
    probe_load(run)


def _begin_snapshot(conn: MysqlSession) -> None:
    with conn.cursor() as cur:
        cur.execute("set session transaction isolation level repeatable read")
        cur.execute("start transaction with consistent snapshot, read only")


def _one(conn: MysqlSession, query: str, args=None):
    rows = conn.execute(query, args)
    return rows[0] if rows else None


# --- the server ---------------------------------------------------------------------------------


def server_info(conn: MysqlSession) -> ServerInfo:
    version, user, database = _one(conn, "select version(), current_user(), database()")
    engine = "MariaDB" if "mariadb" in version.lower() else "MySQL"
    numbers = [int(p) for p in version.split("-")[0].split(".")[:3] if p.isdigit()]
    numbers += [0] * (3 - len(numbers))
    grants = " ".join(g for (g,) in conn.execute("show grants")).upper()
    superuser = "ALL PRIVILEGES ON *.*" in grants or "SUPER" in grants
    replication = superuser or ("REPLICATION SLAVE" in grants or "REPLICATION REPLICA" in grants)
    settings = catalog.server_variables(conn, *SETTINGS)
    return ServerInfo(
        version,
        numbers[0] * 10000 + numbers[1] * 100 + numbers[2],
        database or "",
        user,
        superuser,
        replication,
        settings,
        engine,
    )


def source_locale(conn: MysqlSession, schema: str) -> SourceLocale:
    row = _one(
        conn,
        "select default_character_set_name, default_collation_name from information_schema.schemata "
        "where schema_name = %s",
        (schema,),
    )
    charset, collation = row if row else (None, None)
    (version,) = _one(conn, "select version()")
    return SourceLocale(version, DatabaseOptions(encoding=charset, lc_collate=collation))


def privileges(conn: MysqlSession, schema: str, server: ServerInfo) -> dict:
    """Whether the database exists and can be read, and what capture from the binary log still needs."""
    exists = bool(conn.execute("select 1 from information_schema.schemata where schema_name = %s", (schema,)))
    capture_missing = []
    try:
        binlog.check_server(conn)
    except ConfigError as exc:
        capture_missing.append(str(exc))
    if not server.replication:
        capture_missing.append(f"REPLICATION SLAVE and REPLICATION CLIENT for {server.user}")
    return {
        "schema_exists": exists,
        "schema_usage": exists,
        "schema_create": False,
        "database_create": False,
        "capture_schema_exists": False,
        "capture_schema_create": False,
        "capture_missing": capture_missing,
    }


def server_findings(server: ServerInfo) -> list[Finding]:
    mode = server.settings.get("sql_mode", "")
    strict = "STRICT_TRANS_TABLES" in mode or "STRICT_ALL_TABLES" in mode
    findings = []
    if not strict or "ALLOW_INVALID_DATES" in mode or "NO_ZERO_DATE" not in mode:
        findings.append(
            Finding(
                INFO,
                "conversion",
                f"the server's sql_mode ({mode or 'empty'}) lets the application write zero or invalid dates "
                "and out-of-range values (truncated with a warning)",
                "the load keeps every such date in its _mysql_raw_ column; the counts per column are findings above",
            )
        )
    return findings


# --- the inventory ------------------------------------------------------------------------------


def column_info(conn: MysqlSession, schema: str, table: str) -> list[ColumnInfo]:
    rows = conn.execute(
        "select ordinal_position, column_name, data_type, column_type, is_nullable, numeric_precision, "
        "numeric_scale, datetime_precision, character_maximum_length, character_set_name, collation_name, extra "
        "from information_schema.columns where table_schema = %s and table_name = %s order by ordinal_position",
        (schema, table),
    )
    json_columns = catalog._json_checked(conn, schema, table)
    result = []
    for (
        position,
        name,
        data_type,
        column_type,
        nullable,
        precision,
        scale,
        fsp,
        length,
        charset,
        collation,
        extra,
    ) in rows:
        try:
            landing, _kind = types.landing_type(
                data_type,
                column_type,
                precision=catalog._int(precision),
                scale=catalog._int(scale),
                fsp=catalog._int(fsp),
                length=catalog._int(length),
                json_checked=name in json_columns,
            )
        except types.UnknownType:
            landing = None
        result.append(
            ColumnInfo(
                int(position),
                name,
                column_type,
                data_type.lower(),
                landing,
                nullable == "NO",
                charset,
                collation,
                extra or "",
                _CATEGORIES.get(data_type.lower(), "U"),
            )
        )
    return result


def unique_keys(conn: MysqlSession, schema: str, table: str) -> list[dict]:
    rows = conn.execute(
        "select index_name, column_name from information_schema.statistics "
        "where table_schema = %s and table_name = %s and non_unique = 0 order by index_name, seq_in_index",
        (schema, table),
    )
    keys: dict[str, list[str]] = {}
    for name, column in rows:
        keys.setdefault(name, []).append(column)
    return [{"name": name, "columns": cols, "primary": name == "PRIMARY"} for name, cols in keys.items()]


def foreign_keys(conn: MysqlSession, schema: str, table: str) -> list[dict]:
    rows = conn.execute(
        "select constraint_name, column_name, referenced_table_schema, referenced_table_name, referenced_column_name "
        "from information_schema.key_column_usage where table_schema = %s and table_name = %s "
        "and referenced_table_name is not null order by constraint_name, ordinal_position",
        (schema, table),
    )
    keys: dict[str, dict] = {}
    for name, column, ref_schema, ref_table, ref_column in rows:
        key = keys.setdefault(
            name,
            {
                "name": name,
                "columns": [],
                "references_schema": ref_schema,
                "references_table": ref_table,
                "references_columns": [],
            },
        )
        key["columns"].append(column)
        key["references_columns"].append(ref_column)
    return list(keys.values())


def indexes(conn: MysqlSession, schema: str, table: str) -> list[dict]:
    rows = conn.execute(
        "select index_name, non_unique, index_type, group_concat(column_name order by seq_in_index) "
        "from information_schema.statistics where table_schema = %s and table_name = %s "
        "group by index_name, non_unique, index_type order by index_name",
        (schema, table),
    )
    return [
        {
            "name": name,
            "bytes": 0,
            "columns": columns.split(","),
            "definition": f"{'' if int(non_unique) else 'unique '}{index_type.lower()} ({columns})",
        }
        for name, non_unique, index_type, columns in rows
    ]


def triggers(conn: MysqlSession, schema: str, table: str) -> list[dict]:
    rows = conn.execute(
        "select trigger_name, action_timing, event_manipulation, action_statement from information_schema.triggers "
        "where event_object_schema = %s and event_object_table = %s order by trigger_name",
        (schema, table),
    )
    return [
        {"name": name, "enabled": "enabled", "definition": f"{timing} {event}: {statement}"}
        for name, timing, event, statement in rows
    ]


def inventory(conn: MysqlSession, schema: str, table_config, privileges: dict, findings: list[Finding]):
    name = table_config.name
    row = _one(
        conn,
        "select engine, table_rows, data_length, index_length, auto_increment from information_schema.tables "
        "where table_schema = %s and table_name = %s and table_type in ('BASE TABLE', 'SYSTEM VERSIONED')",
        (schema, name),
    )
    if row is None:
        if privileges["schema_exists"]:
            similar = [
                n
                for (n,) in conn.execute(
                    "select table_name from information_schema.tables where table_schema = %s "
                    "and lower(table_name) = lower(%s) and table_name <> %s",
                    (schema, name, name),
                )
            ]
            hint = f" (did you mean {', '.join(similar)}?)" if similar else ""
            findings.append(
                Finding(
                    BLOCKING,
                    "configuration",
                    f"table {schema}.{name} listed in migration.yml does not exist in the source{hint}",
                    "fix the name under 'tables' in migration.yml",
                    table=name,
                )
            )
        return TableAssessment(name, exists=False), []
    engine, estimate, data_bytes, index_bytes, auto_increment = row
    cols = column_info(conn, schema, name)
    table = TableAssessment(
        name,
        exists=True,
        kind=f"table ({engine})",
        can_select=True,
        can_trigger=False,
        estimated_rows=int(estimate or 0),
        bytes={
            "heap": int(data_bytes or 0),
            "toast": 0,
            "indexes": int(index_bytes or 0),
            "total": int(data_bytes or 0) + int(index_bytes or 0),
        },
    )
    table.unique_keys = unique_keys(conn, schema, name)
    table.foreign_keys = foreign_keys(conn, schema, name)
    table.indexes = indexes(conn, schema, name)
    table.triggers = triggers(conn, schema, name)
    choose_key(table, table_config, cols, findings)
    try:
        table.rows = int(_one(conn, f"select count(*) from {catalog.qualified(schema, name)}")[0])
        table.rows_exact = True
    except Exception as exc:  # PyMySQL's errors: no SELECT privilege, a crashed table
        table.can_select = False
        findings.append(
            Finding(
                BLOCKING,
                "privileges",
                f"{name} cannot be read: {exc.args[-1] if exc.args else exc}",
                f"grant SELECT on {schema}.{name} to the migration user",
                table=name,
            )
        )
    _table_findings(table, str(engine or ""), auto_increment, cols, conn, schema, findings)
    return table, cols


def _table_findings(table, engine, auto_increment, cols, conn, schema, findings) -> None:
    """MyISAM and friends, and the AUTO_INCREMENT column's gaps (a table without a key is choose_key's finding)."""
    name = table.name
    if engine.lower() in NON_TRANSACTIONAL:
        findings.append(
            Finding(
                BLOCKING,
                "conversion",
                f"{name} is a {engine} table: no transactions, so no consistent snapshot and no hand-over from the "
                "load to the binary log (capture refuses it)",
                f"convert it (ALTER TABLE {name} ENGINE=InnoDB) before the load, or load it while nothing writes it",
                table=name,
            )
        )
    identity = next((c for c in cols if "auto_increment" in c.extra.lower()), None)
    if identity is None or not table.can_select:
        return
    ident = quoted(identity.name)
    low, high, count = _one(
        conn, f"select min({ident}), max({ident}), count({ident}) from {catalog.qualified(schema, name)}"
    )
    if high is None:
        return
    low, high, count = int(low), int(high), int(count)  # the session reads every value as text
    gaps = high - low + 1 - count
    following = int(auto_increment) if auto_increment is not None else int(high) + 1
    message = (
        f"{name}.{identity.name} is AUTO_INCREMENT: {count:,} values from {low} to {high}, "
        f"{gaps:,} numbers never used or deleted (gaps); the next value is {following}"
    )
    findings.append(
        Finding(
            INFO,
            "conversion",
            message,
            f"start the target's identity or sequence at {following} or above (not at max + 1, "
            "which may be below AUTO_INCREMENT); nothing should rely on the numbers being dense",
            table=name,
            column=identity.name,
            share=profiling.share(gaps, high - low + 1),
        )
    )


# --- the profile ----------------------------------------------------------------------------------


def _sample_condition(plan: profiling.SamplePlan) -> str:
    """A row-level random sample of about plan.percent of the rows, the same rows on every run."""
    return f" where rand({SEED}) < {plan.percent / 100.0:.8f}" if plan.sampled else ""


def profile(conn, schema, table: TableAssessment, table_config, cols: list[ColumnInfo], sample_rows: int):
    """Nulls, distinct values, min and max, lengths and blanks of every column, over the whole table or
    a random sample of it; returns the sample plan."""
    plan = profiling.sample_plan(table.rows, table.bytes.get("heap", 0), sample_rows)
    source = catalog.qualified(schema, table.name) + _sample_condition(plan)
    parts = ["count(*)"]
    for col in cols:
        ident = quoted(col.name)
        parts += [f"count({ident})", f"count(distinct {ident})", f"min({ident})", f"max({ident})"]
        if col.is_text:
            parts += [
                f"min(char_length({ident}))",
                f"max(char_length({ident}))",
                f"avg(char_length({ident}))",
                f"sum(trim({ident}) = '')",
            ]
    row = _one(conn, f"select {', '.join(parts)} from {source}")
    n, values = int(row[0]), list(row[1:])
    population = max(table.rows, n)
    table.sample = {"method": plan.method, "percent": round(plan.percent, 4), "rows": n}
    for col in cols:
        non_null, distinct, low, high = values[:4]
        del values[:4]
        nulls = n - int(non_null)
        p = ColumnProfile(
            col.name,
            col.type,
            col.not_null,
            _figure(nulls, n, population),
            distinct=int(distinct),
            min=_text(low),
            max=_text(high),
            masked=table_config.masks.get(col.name),
        )
        if col.is_text:
            min_length, max_length, avg_length, blanks = values[:4]
            del values[:4]
            p.min_length = None if min_length is None else int(min_length)
            p.max_length = None if max_length is None else int(max_length)
            p.avg_length = None if avg_length is None else round(float(avg_length), 2)
            p.blanks = _figure(int(blanks or 0), n, population)
        if p.masked:
            p.min = p.max = None  # a masked column's values stay out of the report
        table.columns.append(p)
    return plan


def _figure(count: int, n: int, population: int) -> Figure:
    return Figure(
        count, round(profiling.share(count, n), 6), round(profiling.proportion_margin(count, n, population), 6)
    )


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return "0x" + value[:16].hex() + ("…" if len(value) > 16 else "")
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


# --- the conversion risks -------------------------------------------------------------------------


def _pad_space(conn: MysqlSession) -> dict[str, bool]:
    """Whether each collation pads with spaces (compares 'a' equal to 'a  ')."""
    try:
        rows = conn.execute("select collation_name, pad_attribute from information_schema.collations")
        return {name: pad == "PAD SPACE" for name, pad in rows}
    except Exception:  # MariaDB has no pad_attribute: its NO PAD collations say so in their name
        rows = conn.execute("select collation_name from information_schema.collations")
        return {name: "_nopad_" not in name for (name,) in rows}


@dataclass
class _Check:
    """One count of the risk query: the SQL of a row's condition, and the finding it makes when > 0."""

    column: ColumnInfo
    risk: str
    condition: str
    counts: list[int] = field(default_factory=list)


def _column_checks(col: ColumnInfo, table: TableAssessment, pad_space: dict[str, bool]) -> list[_Check]:
    ident, kind = quoted(col.name), col.data_type
    checks = []
    if kind in ("date", "datetime", "timestamp"):
        checks.append(_Check(col, "zero_date", f"(year({ident}) = 0 or month({ident}) = 0 or dayofmonth({ident}) = 0)"))
        checks.append(
            _Check(
                col,
                "invalid_date",
                f"(month({ident}) > 0 and dayofmonth({ident}) > 0 and dayofmonth({ident}) > "
                f"dayofmonth(last_day({ident})))",
            )
        )
    if kind == "bigint" and "unsigned" in col.type.lower():
        checks.append(_Check(col, "unsigned_beyond", f"{ident} > {UNSIGNED_BEYOND}"))
    if col.type.lower().startswith("tinyint(1)"):
        checks.append(_Check(col, "not_boolean", f"{ident} not in (0, 1)"))
    if kind == "enum":
        checks.append(_Check(col, "enum_empty", f"{ident} = ''"))
    if col.is_text and kind not in ("enum", "set"):
        if (col.charset or "").lower() == "latin1":
            checks.append(_Check(col, "utf8_in_latin1", f"hex(cast({ident} as binary)) regexp '{UTF8_IN_LATIN1}'"))
        if col.collation and pad_space.get(col.collation, False) and kind != "char":
            checks.append(_Check(col, "trailing_spaces", f"{ident} <> '' and {ident} like '% '"))
    return checks


def conversion_risks(conn, schema, table: TableAssessment, cols: list[ColumnInfo], findings: list[Finding]) -> None:
    """The MySQL-to-PostgreSQL risks of the table's columns, counted over the whole table, as findings
    and in each column profile's `risks`."""
    pad_space = _pad_space(conn)
    checks = [check for col in cols for check in _column_checks(col, table, pad_space)]
    source = catalog.qualified(schema, table.name)
    if checks:
        row = _one(conn, f"select {', '.join(f'coalesce(sum({c.condition}), 0)' for c in checks)} from {source}")
        for check, count in zip(checks, row):
            check.counts = [int(count)]
    by_name = {p.name: p for p in table.columns}
    for check in checks:
        count = check.counts[0] if check.counts else 0
        finding = _risk_finding(table, check, count)
        if finding is not None:
            findings.append(finding)
            by_name[check.column.name].risks.append(check.risk)
    for col in cols:
        for finding in _declared_risks(conn, schema, table, col):
            findings.append(finding)
            if col.name in by_name:
                by_name[col.name].risks.append(finding.message.split(":")[0])
    findings.extend(_case_findings(conn, schema, table, cols))


def _risk_finding(table: TableAssessment, check: _Check, count: int) -> Finding | None:
    col, name = check.column, f"{table.name}.{check.column.name}"
    share = profiling.share(count, table.rows)
    raw = types.RAW_PREFIX + col.name
    if check.risk == "not_boolean":
        # Reported either way: whether the target may make it a boolean is the mapping's decision.
        if count == 0:
            return Finding(
                INFO,
                "conversion",
                f"{name} is tinyint(1) holding only 0 and 1: used as a boolean",
                "map it to boolean in the app model if the application means one (landing keeps smallint)",
                table=table.name,
                column=col.name,
            )
        return Finding(
            WARNING,
            "conversion",
            f"{name} is tinyint(1) but {count:,} rows hold values other than 0 and 1: not a boolean",
            "keep it an integer in the app model, or decide in staging what those values mean",
            table=table.name,
            column=col.name,
            share=share,
        )
    if count == 0:
        return None
    messages = {
        "zero_date": (
            f"{name} holds {count:,} zero dates ('0000-00-00', a zero month or day): PostgreSQL has no such date",
            f"they land as null in {col.name} with MySQL's text in {raw}; decide in staging what they mean "
            "(unknown: null; or a placeholder date)",
        ),
        "invalid_date": (
            f"{name} holds {count:,} invalid dates (a day the month does not have, e.g. '2024-02-30'), "
            "accepted by a permissive sql_mode",
            f"they land as null in {col.name} with MySQL's text in {raw}; correct them in staging",
        ),
        "unsigned_beyond": (
            f"{name} (bigint unsigned) holds {count:,} values above 9223372036854775807, beyond PostgreSQL's bigint",
            "landing keeps numeric(20,0); the app model cannot make it a bigint: keep numeric, or remap the values",
        ),
        "enum_empty": (
            f"{name} holds {count:,} empty strings: ENUM's value for an invalid one written under a permissive "
            "sql_mode",
            "they land as ''; map them to null or a real value in staging",
        ),
        "utf8_in_latin1": (
            f"{name} is a latin1 column and {count:,} values hold UTF-8 bytes (e.g. 'Ã©' for 'é'): text written as "
            "UTF-8 through a latin1 connection",
            "repair in staging with convert_from(convert_to(value, 'LATIN1'), 'UTF8'), where the bytes are valid UTF-8",
        ),
        "trailing_spaces": (
            f"{name} holds {count:,} values ending in spaces, under a PAD SPACE collation ({col.collation}): "
            "MySQL compares 'a' and 'a ' equal, PostgreSQL does not",
            "trim them in staging where they are keys or looked up; joins on them otherwise miss in the target",
        ),
    }
    message, fix = messages[check.risk]
    severity = WARNING if check.risk != "trailing_spaces" or _in_a_key(table, col.name) else INFO
    return Finding(severity, "conversion", message, fix, table=table.name, column=col.name, share=share)


def _in_a_key(table: TableAssessment, column: str) -> bool:
    return column in table.key or any(column in k["columns"] for k in table.unique_keys)


def _declared_risks(conn, schema, table: TableAssessment, col: ColumnInfo) -> list[Finding]:
    """What the column's declaration says alone: ENUM's and SET's values, utf8mb3, a type the kit does not map."""
    name = f"{table.name}.{col.name}"
    findings = []
    if col.landing_type is None:
        findings.append(
            Finding(
                BLOCKING,
                "types",
                f"{name}: type {col.type} has no landing type in the kit",
                "leave the table out of migration.yml or cast the column in a view",
                table=table.name,
                column=col.name,
            )
        )
    if col.data_type in ("enum", "set"):
        members = col.type[col.type.index("(") + 1 : col.type.rindex(")")]
        lands = "text" if col.data_type == "enum" else "text[] (the members in the SET's order, '{}' when empty)"
        findings.append(
            Finding(
                INFO,
                "types",
                f"{name}: {col.data_type.upper()} of {members}: lands as {lands}",
                "the app model may make it a PostgreSQL enum or a check constraint over these values",
                table=table.name,
                column=col.name,
            )
        )
    if (col.charset or "").lower() in ("utf8", "utf8mb3"):
        findings.append(
            Finding(
                INFO,
                "types",
                f"{name}: character set utf8mb3 (3-byte UTF-8): it could not hold 4-byte characters (emoji); "
                "PostgreSQL's UTF8 holds them all",
                "nothing to convert; the new application may now write 4-byte characters the legacy one cannot take "
                "back in a fallback",
                table=table.name,
                column=col.name,
            )
        )
    return findings


def _case_findings(conn, schema, table: TableAssessment, cols: list[ColumnInfo]) -> list[Finding]:
    """Indexed text columns (what keys and joins use) under case- or accent-insensitive collations:
    values MySQL counts as one that PostgreSQL will count as several (lookups and joins split), and
    unique keys MySQL kept unique only by ignoring case (PostgreSQL's key would not refuse what MySQL
    refused: a collision MySQL prevented)."""
    source = catalog.qualified(schema, table.name)
    findings = []
    for col in cols:
        collation = (col.collation or "").lower()
        if not col.is_text or not (collation.endswith("_ci") or "_ci_" in collation or "_ai_" in collation):
            continue
        keyed = any(col.name in i["columns"] for i in table.indexes + table.foreign_keys)
        if not keyed:
            continue
        ident = quoted(col.name)
        folded, exact = _one(
            conn, f"select count(distinct {ident}), count(distinct cast({ident} as binary)) from {source}"
        )
        name = f"{table.name}.{col.name}"
        if int(exact) > int(folded):
            findings.append(
                Finding(
                    WARNING,
                    "conversion",
                    f"{name} ({col.collation}, case-insensitive) holds {int(exact) - int(folded):,} values that differ "
                    "from another only in case, accents or trailing spaces: MySQL matches them as one, PostgreSQL's "
                    "keys and joins will not",
                    "normalise them in staging (lower, unaccent) where they key or join, or use a "
                    "nondeterministic collation in the target",
                    table=table.name,
                    column=col.name,
                )
            )
        elif _in_a_key(table, col.name):
            findings.append(
                Finding(
                    INFO,
                    "conversion",
                    f"{name} is a key under {col.collation} (case-insensitive): MySQL refuses 'A' beside 'a', "
                    "PostgreSQL's key will accept both",
                    "add a unique index on lower(column) in the target if the application relies on it",
                    table=table.name,
                    column=col.name,
                )
            )
    return findings


def type_mapping(table: TableAssessment, cols: list[ColumnInfo]) -> list[dict]:
    """Each column's MySQL type and landing type, for the report."""
    rows = []
    for col in cols:
        note = ""
        if col.data_type in ("date", "datetime", "timestamp"):
            note = f"zero and invalid dates: null, MySQL's text in {types.RAW_PREFIX}{col.name}"
        elif col.type.lower().startswith("tinyint(1)"):
            note = "tinyint(1): smallint in landing"
        elif col.data_type == "bigint" and "unsigned" in col.type.lower():
            note = "beyond bigint"
        rows.append(
            {
                "table": table.name,
                "column": col.name,
                "mysql_type": col.type,
                "landing_type": col.landing_type or "(not mapped)",
                "note": note,
            }
        )
    return rows


# --- relationships --------------------------------------------------------------------------------


def relationships(conn, schema, tables, columns, plans, findings) -> list[Relationship]:
    return collect(
        schema,
        tables,
        columns,
        plans,
        findings,
        lambda child, column, parent, key, plan, text: _confirm(conn, schema, child, column, parent, key, plan, text),
    )


def _confirm(conn, schema, child, column, parent, key, plan, text) -> Relationship:
    c, k = quoted(column), quoted(key)
    parent_source = catalog.qualified(schema, parent)
    normalised = (
        f", sum(exists (select 1 from {parent_source} p where upper(trim(p.{k})) = upper(trim(t.{c}))))" if text else ""
    )
    # Exact comparison, as PostgreSQL will compare: binary on both sides.
    exact = f"cast(p.{k} as binary) = cast(t.{c} as binary)" if text else f"p.{k} = t.{c}"
    row = _one(
        conn,
        f"select count(*), coalesce(sum(exists (select 1 from {parent_source} p where {exact})), 0){normalised} "
        f"from (select {c} from {catalog.qualified(schema, child.name)}{_sample_condition(plan)}) t "
        f"where t.{c} is not null",
    )
    checked, matched = int(row[0]), int(row[1])
    population = max(round(checked * child.rows / max(child.sample.get("rows", 1), 1)), checked)
    rel = Relationship(
        child.name,
        column,
        parent,
        key,
        declared=False,
        checked=checked,
        matched=matched,
        match_rate=profiling.share(matched, checked),
        margin=profiling.proportion_margin(matched, checked, population),
    )
    if text:
        rel.normalised_match_rate = profiling.share(int(row[2] or 0), checked)
    rel.orphan_rate = 1.0 - max(rel.match_rate, rel.normalised_match_rate or 0.0) if checked else 0.0
    rel.likely = checked > 0 and max(rel.match_rate, rel.normalised_match_rate or 0) >= LIKELY_REFERENCE
    return rel


# --- timing ----------------------------------------------------------------------------------------


def _timed(conn: MysqlSession, query: str) -> tuple[int, float]:
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(query)
        rows = len(cur.fetchall())
    return rows, time.perf_counter() - started


def time_table(conn, schema, table: TableAssessment, cols: list[ColumnInfo]) -> None:
    """The table's timing sample read, cast to text (as staging casts) and hashed (as reconcile hashes),
    on the source; the load probe (probe_load) replaces the read with a real copy where it can."""
    plan = profiling.sample_plan(table.rows, table.bytes.get("heap", 0), TIMING_SAMPLE_ROWS)
    source = catalog.qualified(schema, table.name) + _sample_condition(plan)
    names = [quoted(c.name) for c in cols]
    copy_rows, copy_seconds = _timed(conn, f"select {', '.join(names)} from {source}")
    transform_rows, transform_seconds = _timed(
        conn, f"select {', '.join(f'trim(cast({n} as char))' for n in names)} from {source}"
    )
    hash_rows, hash_seconds = _timed(conn, f"select md5(concat_ws('|', {', '.join(names)})) from {source}")
    average = table.bytes.get("heap", 0) / max(table.rows, 1)
    table.timing = {
        "sample": {"method": plan.method, "percent": round(plan.percent, 4)},
        "as_load": False,
        "ranges": 1,
        "copy_range": None,
        "copy_rows": copy_rows,
        "copy_bytes": round(copy_rows * average),
        "copy_seconds": round(copy_seconds, 4),
        "copy_how": "the timing sample read from the source through the client (target write not timed)",
        "copy_rows_per_second": round(profiling.share(copy_rows, copy_seconds)),
        "copy_bytes_per_second": round(profiling.share(copy_rows * average, copy_seconds)),
        "key_seconds": 0.0,
        "analyze_seconds": 0.0,
        "transform_rows": transform_rows,
        "transform_seconds": round(transform_seconds, 4),
        "transform_rows_per_second": round(profiling.share(transform_rows, transform_seconds)),
        "hash_rows": hash_rows,
        "hash_seconds": round(hash_seconds, 4),
        "hash_rows_per_second": round(profiling.share(hash_rows, hash_seconds)),
        "notes": [] if table.key else ["target write not measured: the table has no key, so load would refuse it"],
    }


def probe_load(run) -> None:
    """One key range of each keyed table copied by load's own code into a scratch schema of the
    target, its workers at one consistent point of the source (the engine's snapshot): the measured
    copy throughput replaces the read-only figure of time_table."""
    from harness import load
    from harness.assess import timing
    from harness.engines.mysql.engine import MysqlEngine
    from harness.target import landing

    config, schema, engine = run.config, run.config.source_schema, MysqlEngine()
    probes = []
    with connections.connection(run.source, command="assess probe") as coordinator:
        for table in run.tables:
            if not (table.exists and table.can_select and table.key) or any(
                c.landing_type is None for c in run.columns[table.name]
            ):
                continue
            source_table = landing.SourceTable(
                table.name,
                catalog.columns(coordinator, schema, table.name),
                list(table.key),
                dict(config.table(table.name).masks),
            )
            ranges = load._plan_ranges(engine, coordinator, schema, source_table, run.range_rows)
            lower, upper = ranges[len(ranges) // 2]
            probes.append(timing.LoadProbe(source_table, len(ranges), lower, upper))
        if not probes:
            return
        coordinator.rollback()
        snapshot_id, _position = engine.open_snapshot(coordinator, workers=run.jobs)
        timing.run_probes(config, run.source, run.target, coordinator, probes, run.jobs, snapshot_id=snapshot_id)
        coordinator.rollback()
    by_name = {t.name: t for t in run.tables}
    for probe in probes:
        table = by_name[probe.table.name]
        if not probe.done:
            table.timing["notes"].append(probe.note or "target write not measured")
            continue
        table.timing.update(
            {
                "as_load": True,
                "ranges": probe.ranges,
                "copy_range": [probe.lower, probe.upper],
                "copy_rows": probe.rows,
                "copy_bytes": probe.bytes,
                "copy_seconds": round(probe.copy_seconds, 4),
                "copy_how": "one key range, as load plans them, copied by load's own code (a streaming read of the "
                "range in one consistent snapshot, as COPY text into a landing-shaped table in a scratch schema of "
                "the target), then its key and ANALYZE",
                "copy_rows_per_second": round(profiling.share(probe.rows, probe.copy_seconds)),
                "copy_bytes_per_second": round(profiling.share(probe.bytes, probe.copy_seconds)),
                "key_seconds": round(probe.key_seconds, 4),
                "analyze_seconds": round(probe.analyze_seconds, 4),
            }
        )
