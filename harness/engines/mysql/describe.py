"""A MySQL or MariaDB database described for `migrate init` (information_schema): every table with
its columns, keys, declared constraints and size (base.CatalogTable), and sampled text values.

A column's `type` is its MySQL COLUMN_TYPE (what the sources YAML says it comes from); since
landing is PostgreSQL, `landing_type` is the type it lands as (types.py), which the staging view
reads, and `landing_note` says in that view how the one became the other."""

from __future__ import annotations

import re

from harness.core.errors import ConfigError
from harness.engines.base import CatalogColumn, CatalogForeignKey, CatalogTable
from harness.engines.mysql import types
from harness.engines.mysql.catalog import _json_checked, qualified, quoted
from harness.engines.mysql.session import MysqlSession

_TABLES = (
    "select table_name, coalesce(table_rows, -1), coalesce(data_length, 0) + coalesce(index_length, 0) "
    "from information_schema.tables where table_schema = %s and table_type in ('BASE TABLE', 'SYSTEM VERSIONED') "
    "order by table_name"
)

_COLUMNS = (
    "select table_name, column_name, data_type, column_type, is_nullable, numeric_precision, numeric_scale, "
    "datetime_precision, character_maximum_length from information_schema.columns where table_schema = %s "
    "order by table_name, ordinal_position"
)

# Unique indexes (the primary key among them), on whole columns: a prefix index (sub_part) does not
# make the column unique.
_UNIQUE_INDEXES = (
    "select table_name, index_name, column_name, sub_part from information_schema.statistics "
    "where table_schema = %s and non_unique = 0 order by table_name, index_name, seq_in_index"
)

_FOREIGN_KEYS = (
    "select table_name, constraint_name, column_name, referenced_table_name, referenced_column_name "
    "from information_schema.key_column_usage where table_schema = %s and referenced_table_schema = %s "
    "and referenced_table_name is not null order by table_name, constraint_name, ordinal_position"
)

_TEXT_TYPES = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext"}

# A check condition PostgreSQL reads as MySQL wrote it: names, numbers, strings, comparisons, and/or/not,
# is [not] null, in (...), between; anything else (a function call) is left to the reader.
_PORTABLE_CHECK = re.compile(r"^[\w\s\"'().,<>=!+\-*/%]*$")
_FUNCTION_CALL = re.compile(r"\b(?!in\b|and\b|or\b|not\b)\w+\s*\(", re.IGNORECASE)


def schema_exists(conn: MysqlSession, schema: str) -> bool:
    return bool(conn.execute("select 1 from information_schema.schemata where schema_name = %s", (schema,)))


def landing_note(data_type: str, column_type: str, landing: str) -> str:
    """How a MySQL value becomes its landing type, said in the staging view; "" where nothing changes."""
    data_type, column_type = data_type.lower(), column_type.lower()
    unsigned = "unsigned" in column_type
    if data_type == "tinyint" and column_type.startswith("tinyint(1)"):
        return (
            "MySQL's boolean, but it holds -128..127: landed as smallint and kept so "
            "(for a boolean, write `<> 0` after it here and data_type boolean in the app model)"
        )
    if data_type == "year":
        return "landed as smallint, the year as a number (YEAR 0000 is 0)"
    if data_type == "bigint" and unsigned:
        return "landed as numeric(20,0): bigint unsigned goes up to 18446744073709551615, beyond bigint"
    if data_type in ("tinyint", "smallint", "mediumint", "int", "integer"):
        # PostgreSQL has no one- or three-byte integer, nor unsigned ones: the next that holds every value.
        wider = unsigned or data_type in ("tinyint", "mediumint")
        return f"landed as {landing}, the PostgreSQL integer that holds every value" if wider else ""
    if data_type == "float":
        return "landed as real"
    if data_type == "bit":
        return f"landed as {landing}: the bits as digits, leading zeros kept"
    if data_type in types.DATE_KINDS:
        zero = f"a zero or invalid date lands as null, its text in {types.RAW_PREFIX}<column>"
        if data_type == "timestamp":
            return f"landed as {landing}, read in UTC; {zero}"
        return f"landed as {landing}; {zero}"
    if data_type == "time":
        return "landed as interval: MySQL's time spans -838:59:59..838:59:59, beyond PostgreSQL's time"
    if data_type == "char":
        return f"landed as {landing}: MySQL strips CHAR's trailing spaces on read"
    if data_type == "enum":
        return "landed as text, the member's label ('' for an invalid value)"
    if data_type == "set":
        return "landed as text[], the members in the SET's order ('{}' for the empty set)"
    if landing == "bytea":
        spatial = data_type not in ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob")
        return "landed as bytea, MySQL's internal form (SRID, then WKB)" if spatial else "landed as bytea"
    if landing == "json" and data_type != "json":
        return "MariaDB's JSON (longtext checked by json_valid): landed as json"
    return ""


def _checks(conn: MysqlSession, schema: str, table: str) -> list[tuple[str, str]]:
    """The table's CHECK conditions PostgreSQL reads as they are, names in double quotes."""
    try:
        rows = conn.execute(
            "select constraint_name, check_clause from information_schema.check_constraints "
            "where constraint_schema = %s and table_name = %s order by constraint_name",
            (schema, table),
        )
    except Exception:  # MySQL's view has no table_name (and before 8.0.16 no view): no checks read
        return []
    found = []
    for name, clause in rows:
        text = clause.strip().replace("`", '"')
        if text.lower().startswith("json_valid("):
            continue  # MariaDB's JSON: the landing type json holds it
        if _PORTABLE_CHECK.match(text) and not _FUNCTION_CALL.search(text):
            found.append((name, text))
    return found


def describe_tables(conn: MysqlSession, schema: str) -> list[CatalogTable]:
    columns: dict[str, list[CatalogColumn]] = {}
    json_columns: dict[str, set[str]] = {}
    dates: dict[str, list[str]] = {}
    for table, name, data_type, column_type, nullable, precision, scale, fsp, length in conn.execute(
        _COLUMNS, (schema,)
    ):
        if table not in json_columns:
            json_columns[table] = _json_checked(conn, schema, table)
        try:
            landing, kind = types.landing_type(
                data_type,
                column_type,
                precision=_int(precision),
                scale=_int(scale),
                fsp=_int(fsp),
                length=_int(length),
                json_checked=name in json_columns[table],
            )
        except types.UnknownType:
            raise ConfigError(
                f"column {name} of {schema}.{table} has type {column_type}, which the kit does not map yet: "
                "leave the table out with --tables, or cast the column in a view"
            ) from None
        is_text = data_type.lower() in _TEXT_TYPES and landing != "json"
        if kind in types.DATE_KINDS and nullable == "NO":
            dates.setdefault(table, []).append(name)
        columns.setdefault(table, []).append(
            CatalogColumn(
                name,
                column_type,
                nullable == "NO",
                is_text,
                _int(length) if is_text else None,
                landing_type=landing,
                landing_note=landing_note(data_type, column_type, landing),
            )
        )
    keys: dict[str, tuple[str, ...]] = {}
    uniques: dict[str, list[tuple[str, ...]]] = {}
    indexes: dict[tuple[str, str], list[str | None]] = {}
    for table, index, column, prefix in conn.execute(_UNIQUE_INDEXES, (schema,)):
        indexes.setdefault((table, index), []).append(None if prefix is not None else column)
    for (table, index), cols in indexes.items():
        if None in cols:
            continue
        if index == "PRIMARY":
            keys[table] = tuple(cols)
        elif tuple(cols) not in uniques.get(table, []):
            uniques.setdefault(table, []).append(tuple(cols))
    foreign: dict[tuple[str, str], tuple[list[str], str, list[str]]] = {}
    for table, name, column, parent, parent_column in conn.execute(_FOREIGN_KEYS, (schema, schema)):
        child_cols, _, parent_cols = foreign.setdefault((table, name), ([], parent, []))
        child_cols.append(column)
        parent_cols.append(parent_column)
    foreign_keys: dict[str, list[CatalogForeignKey]] = {}
    for (table, name), (cols, parent, parent_cols) in foreign.items():
        foreign_keys.setdefault(table, []).append(CatalogForeignKey(tuple(cols), parent, tuple(parent_cols), name))
    tables = []
    for name, rows, size in conn.execute(_TABLES, (schema,)):
        # A NOT NULL date column lands null where MySQL holds a zero or invalid date: such a row is
        # quarantined by this check, rather than failing the app table's NOT NULL.
        has_date = [(f"{column}_is_a_date", f"{quoted_pg(column)} is not null") for column in dates.get(name, [])]
        tables.append(
            CatalogTable(
                name,
                tuple(columns.get(name, [])),
                keys.get(name, ()),
                tuple(uniques.get(name, [])),
                tuple(foreign_keys.get(name, [])),
                tuple(_checks(conn, schema, name) + has_date),
                int(rows),
                int(size),
                None,  # MySQL keeps no per-table count of writes since a known time
            )
        )
    return tables


def quoted_pg(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _int(value) -> int | None:
    return None if value is None else int(value)


def sample_text(conn: MysqlSession, schema: str, table: str, columns: list[str], rows: int) -> dict[str, list]:
    """Up to `rows` rows read at random, each column's non-null values as text."""
    if not columns:
        return {}
    selected = ", ".join(f"cast({quoted(c)} as char)" for c in columns)
    values: dict[str, list] = {c: [] for c in columns}
    for row in conn.execute(f"select {selected} from {qualified(schema, table)} order by rand() limit {int(rows)}"):
        for column, value in zip(columns, row):
            if value is not None:
                values[column].append(value.decode() if isinstance(value, bytes) else value)
    return values


def reference_share(
    conn: MysqlSession, schema: str, child: str, column: str, parent: str, key: str, rows: int
) -> tuple[int, int]:
    """Of up to `rows` non-null values of child.column read at random, how many parent.key holds:
    (checked, found), compared as binary text (no collation between them)."""
    ((checked, found),) = conn.execute(
        f"select count(*), coalesce(sum(exists (select 1 from {qualified(schema, parent)} p "
        f"where cast(cast(p.{quoted(key)} as char) as binary) = cast(v.value as binary))), 0) "
        f"from (select cast({quoted(column)} as char) as value from {qualified(schema, child)} "
        f"where {quoted(column)} is not null order by rand() limit {int(rows)}) v"
    )
    return int(checked), int(found)
