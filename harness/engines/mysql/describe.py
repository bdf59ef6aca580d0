"""A MySQL or MariaDB schema described from information_schema (SourceEngine.describe_tables): each
table's columns in MySQL's own words (COLUMN_TYPE; MariaDB's JSON, a longtext checked by json_valid,
as `json`), its keys, declared foreign keys and checks, size; and sampled text values (`migrate init`).
The generic traffic (harness/demo/generic_traffic.py) writes a MySQL source from it, and `migrate
init` scaffolds a project from it.

Since landing is PostgreSQL, each column also carries the type it lands as (types.py) in
`landing_type`, which the scaffold's staging view reads, and in `landing_note` how the one becomes
the other, said on the view's line."""

from __future__ import annotations

import re

from harness.engines.base import CatalogColumn, CatalogForeignKey, CatalogTable
from harness.engines.mysql import catalog, types
from harness.engines.mysql.session import MysqlSession

# Hold any characters (what sampled values say something about, and what a mask can write): not
# ENUM and SET, whose values are their members.
TEXT_TYPES = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext")

# A check condition PostgreSQL reads as MySQL wrote it (names in double quotes): names, numbers,
# strings, comparisons, and/or/not, is [not] null, in (...), between. One calling a function is left
# out of what init scaffolds.
_PORTABLE_CHECK = re.compile(r"^[\w\s\"'().,<>=!+\-*/%]*$")
_FUNCTION_CALL = re.compile(r"\b(?!in\b|and\b|or\b|not\b)\w+\s*\(", re.IGNORECASE)


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _int(value) -> int:
    return int(_text(value)) if value is not None else -1


def _size(value) -> int | None:
    return int(_text(value)) if value is not None else None


def schema_exists(conn: MysqlSession, schema: str) -> bool:
    return bool(conn.execute("select 1 from information_schema.schemata where schema_name = %s", (schema,)))


def _checks(conn: MysqlSession, schema: str) -> list[tuple]:
    """(table, name, condition) of every check constraint: MariaDB names the table in
    check_constraints, MySQL 8 only in table_constraints."""
    if catalog.is_mariadb(conn):
        return conn.execute(
            "select table_name, constraint_name, check_clause from information_schema.check_constraints "
            "where constraint_schema = %s order by table_name, constraint_name",
            (schema,),
        )
    return conn.execute(
        "select t.table_name, t.constraint_name, c.check_clause from information_schema.table_constraints t "
        "join information_schema.check_constraints c "
        "on c.constraint_schema = t.constraint_schema and c.constraint_name = t.constraint_name "
        "where t.table_schema = %s and t.constraint_type = 'CHECK' order by t.table_name, t.constraint_name",
        (schema,),
    )


def portable_check(clause: str) -> str | None:
    """A MySQL check condition as PostgreSQL reads it (backquoted names double-quoted), or None where
    it is not plain enough to be read so (a function call, MariaDB's json_valid)."""
    text = clause.strip().replace("`", '"')
    if _PORTABLE_CHECK.match(text) and not _FUNCTION_CALL.search(text):
        return text
    return None


def describe_tables(conn: MysqlSession, schema: str) -> list[CatalogTable]:
    """Every base table of the schema, in name order."""
    tables = conn.execute(
        "select table_name, table_rows, data_length + index_length from information_schema.tables "
        "where table_schema = %s and table_type in ('BASE TABLE', 'SYSTEM VERSIONED') order by table_name",
        (schema,),
    )
    checks: dict[str, list[tuple[str, str]]] = {}
    for table, name, clause in _checks(conn, schema):
        checks.setdefault(_text(table), []).append((_text(name), _text(clause)))
    json_columns = {
        table: {_json_valid_of(clause) for _, clause in table_checks} for table, table_checks in checks.items()
    }
    columns: dict[str, list[CatalogColumn]] = {}
    dates: dict[str, list[str]] = {}  # NOT NULL date-like columns
    domains: dict[str, list[tuple[str, str]]] = {}  # the members an ENUM or SET column holds, as checks
    for table, name, data_type, column_type, nullable, length, precision, scale, fsp in conn.execute(
        "select table_name, column_name, data_type, column_type, is_nullable, character_maximum_length, "
        "numeric_precision, numeric_scale, datetime_precision "
        "from information_schema.columns where table_schema = %s order by table_name, ordinal_position",
        (schema,),
    ):
        table, name, data_type, column_type = _text(table), _text(name), _text(data_type), _text(column_type)
        is_json = name in json_columns.get(table, set())
        try:
            landing, kind = types.landing_type(
                data_type,
                column_type,
                precision=_size(precision),
                scale=_size(scale),
                fsp=_size(fsp),
                length=_size(length),
                json_checked=is_json,
            )
        except types.UnknownType:
            landing, kind = None, ""
        is_text = data_type.lower() in TEXT_TYPES and not is_json
        if kind in types.DATE_KINDS and _text(nullable) == "NO":
            dates.setdefault(table, []).append(name)
        if data_type.lower() in ("enum", "set"):
            domains.setdefault(table, []).append(_domain_check(name, data_type.lower(), column_type))
        elif landing and (ranged := _range_check(name, data_type.lower(), column_type, landing)):
            domains.setdefault(table, []).append(ranged)
        columns.setdefault(table, []).append(
            CatalogColumn(
                name,
                "json" if is_json else column_type,
                _text(nullable) == "NO",
                is_text,
                _int(length) if is_text and length is not None else None,
                landing_type=landing,
                landing_note=landing_note(data_type, column_type, landing) if landing else "",
                unmapped="" if landing else f"its type {column_type} has no landing type in the kit yet",
            )
        )
    keys: dict[str, dict[str, list[str]]] = {}
    prefixed: set[tuple[str, str]] = set()  # (table, index) of an index on a column's prefix: no key
    for table, constraint, column, sub_part in conn.execute(
        "select s.table_name, s.index_name, s.column_name, s.sub_part from information_schema.statistics s "
        "where s.table_schema = %s and s.non_unique = 0 order by s.table_name, s.index_name, s.seq_in_index",
        (schema,),
    ):
        keys.setdefault(_text(table), {}).setdefault(_text(constraint), []).append(_text(column))
        if sub_part is not None:
            prefixed.add((_text(table), _text(constraint)))
    references: dict[str, dict[str, tuple[str, list[str], list[str]]]] = {}
    for table, constraint, column, parent, parent_column in conn.execute(
        "select table_name, constraint_name, column_name, referenced_table_name, referenced_column_name "
        "from information_schema.key_column_usage where table_schema = %s and referenced_table_schema = %s "
        "order by table_name, constraint_name, ordinal_position",
        (schema, schema),
    ):
        _, child_columns, parent_columns = references.setdefault(_text(table), {}).setdefault(
            _text(constraint), (_text(parent), [], [])
        )
        child_columns.append(_text(column))
        parent_columns.append(_text(parent_column))
    result = []
    for table, rows, size in tables:
        table = _text(table)
        unique = {name: cols for name, cols in keys.get(table, {}).items() if (table, name) not in prefixed}
        # A NOT NULL date column lands null where MySQL holds a zero or invalid date: such a row is
        # quarantined by this check, rather than failing the app table's NOT NULL.
        has_date = [(f"{column}_is_a_date", f"{_double_quoted(column)} is not null") for column in dates.get(table, [])]
        plain_checks = [(name, clause, portable_check(clause)) for name, clause in checks.get(table, [])]
        result.append(
            CatalogTable(
                table,
                tuple(columns.get(table, [])),
                tuple(unique.get("PRIMARY", [])),
                tuple(tuple(cols) for name, cols in unique.items() if name != "PRIMARY"),
                tuple(
                    CatalogForeignKey(tuple(cols), parent, tuple(parent_cols), name)
                    for name, (parent, cols, parent_cols) in references.get(table, {}).items()
                ),
                tuple([(name, read) for name, _, read in plain_checks if read] + has_date + domains.get(table, [])),
                _int(rows),
                max(_int(size), 0),
                None,  # MySQL keeps no per-table count of writes since a known time
                # MariaDB's JSON check is the json type's, not a rule to report.
                tuple((name, clause) for name, clause, read in plain_checks if not read and not _json_valid_of(clause)),
            )
        )
    return result


def _domain_check(column: str, data_type: str, column_type: str) -> tuple[str, str]:
    """An ENUM's or SET's members as a check over the landed text or text[] (with the invalid ENUM value
    '', which MySQL holds): the app keeps the legacy domain, so whatever the new application writes
    can be carried back by a fallback."""
    literals = ", ".join("'" + m.replace("'", "''") + "'" for m in types.members(column_type))
    if data_type == "enum":
        return f"{column}_is_a_member", f"{_double_quoted(column)} in ('', {literals})"
    return f"{column}_are_members", f"{_double_quoted(column)} <@ array[{literals}]::text[]"


# Signed and unsigned ranges of MySQL's integers, and of the PostgreSQL integers they land as.
_INTEGER_RANGES = {
    "tinyint": ((-(2**7), 2**7 - 1), (0, 2**8 - 1)),
    "smallint": ((-(2**15), 2**15 - 1), (0, 2**16 - 1)),
    "mediumint": ((-(2**23), 2**23 - 1), (0, 2**24 - 1)),
    "int": ((-(2**31), 2**31 - 1), (0, 2**32 - 1)),
    "bigint": ((-(2**63), 2**63 - 1), (0, 2**64 - 1)),
}
_LANDING_RANGES = {"smallint": _INTEGER_RANGES["smallint"][0], "integer": _INTEGER_RANGES["int"][0]}
_LANDING_RANGES["bigint"] = _INTEGER_RANGES["bigint"][0]


def _range_check(column: str, data_type: str, column_type: str, landing: str) -> tuple[str, str] | None:
    """Where the landing type holds more than the MySQL column (a tinyint as smallint, an unsigned
    int as bigint, YEAR as smallint, an unsigned decimal as numeric, NaN and infinities, dates out of
    MySQL's ranges), the MySQL range as a check:
    the app keeps it, so a fallback can carry back whatever the new application writes."""
    name, quoted = f"{column}_in_range", _double_quoted(column)
    unsigned = "unsigned" in column_type.lower()
    if data_type == "integer":
        data_type = "int"
    if data_type in _INTEGER_RANGES:
        low, high = _INTEGER_RANGES[data_type][unsigned]
        if _LANDING_RANGES.get(landing.split("(")[0]) == (low, high):
            return None
        return name, f"{quoted} between {low} and {high}"
    if data_type == "year":
        return name, f"({quoted} = 0 or {quoted} between 1901 and 2155)"
    if data_type in ("decimal", "float", "double", "real"):
        # PostgreSQL's numeric has NaN, its floats infinities too: MySQL has neither.
        finite = f"{quoted} <> 'NaN'" if data_type == "decimal" else f"{quoted} not in ('NaN', 'Infinity', '-Infinity')"
        return name, f"{finite} and {quoted} >= 0" if unsigned else finite
    if data_type in _DATE_RANGES:  # beyond them (and infinity, and BC) MySQL has no such date
        low, high = _DATE_RANGES[data_type]
        return name, f"{quoted} between '{low}' and '{high}'"
    return None


_DATE_RANGES = {
    "date": ("0001-01-01", "9999-12-31"),
    "datetime": ("0001-01-01", "9999-12-31 23:59:59.999999"),
    "timestamp": ("1970-01-01 00:00:01+00", "2038-01-19 03:14:07.999999+00"),
}


def _double_quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _json_valid_of(clause: str) -> str | None:
    """The column of MariaDB's JSON check, `json_valid(`column`)`: MariaDB declares JSON so (a longtext)."""
    text = clause.strip()
    if text.lower().startswith("json_valid(`") and text.endswith("`)"):
        return text[len("json_valid(`") : -2].replace("``", "`")
    return None


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


def sample_text(conn: MysqlSession, schema: str, table: str, columns: list[str], rows: int) -> dict[str, list]:
    """Up to `rows` rows read at random, each column's non-null values as text."""
    if not columns:
        return {}
    selected = ", ".join(f"cast({catalog.quoted(c)} as char)" for c in columns)
    values: dict[str, list] = {c: [] for c in columns}
    query = f"select {selected} from {catalog.qualified(schema, table)} order by rand() limit {int(rows)}"
    for row in conn.execute(query):
        for column, value in zip(columns, row):
            if value is not None:
                values[column].append(_text(value))
    return values


def reference_share(
    conn: MysqlSession, schema: str, child: str, column: str, parent: str, key: str, rows: int
) -> tuple[int, int]:
    """Of up to `rows` non-null values of child.column read at random, how many parent.key holds:
    (checked, found), compared as binary text (no collation between them)."""
    ((checked, found),) = conn.execute(
        f"select count(*), coalesce(sum(exists (select 1 from {catalog.qualified(schema, parent)} p "
        f"where cast(cast(p.{catalog.quoted(key)} as char) as binary) = cast(v.value as binary))), 0) "
        f"from (select cast({catalog.quoted(column)} as char) as value from {catalog.qualified(schema, child)} "
        f"where {catalog.quoted(column)} is not null order by rand() limit {int(rows)}) v"
    )
    return int(checked), int(found)


def filled_by_server(conn: MysqlSession, schema: str, table: str) -> tuple[set[str], set[str]]:
    """The columns the server fills itself: (its AUTO_INCREMENT column, its generated columns)."""
    numbered, computed = set(), set()
    for name, extra in conn.execute(
        "select column_name, extra from information_schema.columns where table_schema = %s and table_name = %s",
        (schema, table),
    ):
        extra = (_text(extra) or "").lower()
        if "auto_increment" in extra:
            numbered.add(_text(name))
        elif any(word in extra for word in ("generated", "virtual", "stored", "persistent")):
            computed.add(_text(name))
    return numbered, computed
