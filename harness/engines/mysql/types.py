"""MySQL and MariaDB types, and the PostgreSQL landing type of each: the type that holds every value
the MySQL type holds, so that landing is an exact copy.

`landing_type` chooses the type from information_schema.COLUMNS; `landing_text` turns a value as
MySQL's text protocol hands it over (a str, or bytes for binary columns) into the text the landing
type reads back to the same value. The load (copy.py) and the binlog capture (binlog.py, which first
renders each decoded value in MySQL's text form) both go through `landing_text`, so a value lands
the same whichever way it came.

A date, datetime or timestamp column can hold values PostgreSQL has no form for: the zero date
'0000-00-00', a zero month or day ('2024-00-15'), year 0, and with sql_mode ALLOW_INVALID_DATES
days a month does not have ('2024-02-30'). Such a value is never changed into another date: its
landing column is null and the original text lands in a companion text column, `RAW_PREFIX +
<column>`, that every such column has (null where the value is a real date). Assess reports these
values before the load (risks.find_invalid_dates).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

from harness.engines.postgres.catalog import Column, fitting_name

RAW_PREFIX = (
    "_mysql_raw_"  # the companion column of a date-like column: its original text where PostgreSQL has no date for it
)


@dataclass(frozen=True)
class MysqlColumn(Column):
    """A landing column of a MySQL table: `type` is the PostgreSQL landing type; `source_type` the
    column's MySQL COLUMN_TYPE; `kind` how a value is converted; `raw_of` the date-like column whose
    unrepresentable values this companion column holds (None for a column of the table itself)."""

    source_type: str = ""
    kind: str = "text"
    raw_of: str | None = None
    bits: int = 0  # BIT(n): n
    charset: str | None = None
    collation_name: str | None = None  # MySQL's collation (PostgreSQL's `collation` stays None: landing compares bytes)

    @property
    def selected(self) -> bool:
        """Whether the column is read from the source (a companion is filled from its date column)."""
        return self.raw_of is None


@dataclass(frozen=True)
class Mapping:
    """One row of the mapping table (docs/mysql.md, assess): MySQL type → landing type, and why."""

    mysql: str
    landing: str
    note: str


# The mapping, as docs/mysql.md and assess show it. `landing_type` implements it.
MAPPINGS = (
    Mapping("tinyint, tinyint unsigned, smallint", "smallint", "tinyint(1) too: values 2..127 exist (finding)"),
    Mapping("smallint unsigned, mediumint, mediumint unsigned, int", "integer", ""),
    Mapping("int unsigned, bigint", "bigint", ""),
    Mapping("bigint unsigned", "numeric(20,0)", "up to 18446744073709551615, beyond bigint"),
    Mapping("decimal(p,s) [unsigned]", "numeric(p,s)", "DECIMAL(65,30) fits"),
    Mapping("float", "real", "read as CAST(... AS DOUBLE): MySQL prints a float with 6 digits"),
    Mapping("double", "double precision", ""),
    Mapping("bit(n)", "bit varying(n)", "n digits, leading zeros kept"),
    Mapping("date", "date", "zero and invalid dates: null, original text in _mysql_raw_<column>"),
    Mapping("datetime(p)", "timestamp(p)", "zero and invalid dates as for date"),
    Mapping("timestamp(p)", "timestamptz(p)", "read in UTC (session time_zone '+00:00'); zero as for date"),
    Mapping("time(p)", "interval", "-838:59:59 .. 838:59:59: beyond PostgreSQL's time"),
    Mapping("year", "smallint", "YEAR 0000 is 0"),
    Mapping("char(n), varchar(n)", "varchar(n)", "CHAR's trailing spaces are stripped by MySQL on read"),
    Mapping("tinytext, text, mediumtext, longtext", "text", "a NUL character cannot land (refused, one line)"),
    Mapping("binary, varbinary, tinyblob .. longblob", "bytea", ""),
    Mapping("enum(...)", "text", "the empty string of an invalid ENUM value lands as ''"),
    Mapping("set(...)", "text[]", "members in the SET's order; the empty set is '{}'"),
    Mapping(
        "json (MySQL 8; MariaDB longtext CHECK json_valid)", "json", "the text kept as is: jsonb would reorder keys"
    ),
    Mapping("geometry, point, ... (spatial)", "bytea", "MySQL's internal form: SRID then WKB"),
    Mapping("uuid (MariaDB 10.7+)", "uuid", ""),
    Mapping("inet4, inet6 (MariaDB 10.10+, 10.5+)", "inet", ""),
)

DATE_KINDS = ("date", "datetime", "timestamp")
_TEXT_TYPES = {"tinytext", "text", "mediumtext", "longtext"}
_BINARY_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
_SPATIAL_TYPES = {
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
    "geomcollection",
}


class UnknownType(ValueError):
    pass


def landing_type(
    data_type: str,
    column_type: str,
    *,
    precision: int | None = None,
    scale: int | None = None,
    fsp: int | None = None,
    length: int | None = None,
    json_checked: bool = False,
) -> tuple[str, str]:
    """(the PostgreSQL landing type, the conversion kind) of a MySQL column, from information_schema.COLUMNS
    (DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, CHARACTER_MAXIMUM_LENGTH)."""
    data_type = data_type.lower()
    unsigned = "unsigned" in column_type.lower()
    if data_type == "tinyint":
        return "smallint", "integer"
    if data_type == "smallint":
        return ("integer" if unsigned else "smallint"), "integer"
    if data_type in ("mediumint", "int", "integer"):
        return ("bigint" if unsigned and data_type != "mediumint" else "integer"), "integer"
    if data_type == "bigint":
        return ("numeric(20,0)" if unsigned else "bigint"), "integer"
    if data_type in ("decimal", "numeric"):
        return f"numeric({precision},{scale or 0})", "decimal"
    if data_type == "float":
        return "real", "float"
    if data_type in ("double", "real", "double precision"):
        return "double precision", "double"
    if data_type == "bit":
        return f"bit varying({precision or 1})", "bit"
    if data_type == "date":
        return "date", "date"
    if data_type == "datetime":
        return f"timestamp({fsp or 0}) without time zone", "datetime"
    if data_type == "timestamp":
        return f"timestamp({fsp or 0}) with time zone", "timestamp"
    if data_type == "time":
        return "interval", "time"
    if data_type == "year":
        return "smallint", "integer"
    if data_type in ("char", "varchar"):
        return f"character varying({length})", "text"
    if data_type in _TEXT_TYPES:
        return ("json", "text") if json_checked else ("text", "text")
    if data_type == "json":
        return "json", "text"
    if data_type in _BINARY_TYPES or data_type in _SPATIAL_TYPES:
        return "bytea", "bytes"
    if data_type == "enum":
        return "text", "text"
    if data_type == "set":
        return "text[]", "set"
    if data_type == "uuid":
        return "uuid", "text"
    if data_type in ("inet4", "inet6"):
        return "inet", "text"
    raise UnknownType(data_type)


def companion(column: MysqlColumn, schema: str, table: str) -> MysqlColumn:
    """The text column beside a date-like column that holds its values PostgreSQL has no date for."""
    name = fitting_name(RAW_PREFIX + column.name, schema, table, column.name)
    return MysqlColumn(name, "text", False, source_type="", kind="raw", raw_of=column.name)


# --- values ------------------------------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?)?$")


def valid_date(text: str) -> bool:
    """Whether PostgreSQL has this MySQL date or datetime text: a real day of year 1 or later."""
    match = _DATE.match(text)
    if not match:
        return False
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    return year >= 1 and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


class NotRepresentable(ValueError):
    """A value the landing column cannot hold (a NUL character in text)."""


def landing_text(column: MysqlColumn, value: str | bytes | None) -> tuple[str | None, str | None]:
    """(the landing column's text, the companion's text) of one value as MySQL's text protocol
    hands it over; None for NULL. The companion's text is set only for a date PostgreSQL lacks."""
    if value is None:
        return None, None
    kind = column.kind
    if kind in ("integer", "decimal", "float", "double", "time"):
        return _str(value), None
    if kind in DATE_KINDS:
        text = _str(value)
        if not valid_date(text):
            return None, text
        return (text + "+00" if kind == "timestamp" else text), None
    if kind == "bit":
        raw = value if isinstance(value, bytes) else value.encode()
        return format(int.from_bytes(raw, "big"), f"0{column.bits}b")[-column.bits :], None
    if kind == "bytes":
        raw = value if isinstance(value, bytes) else value.encode()
        return "\\x" + raw.hex(), None
    if kind == "set":
        text = _str(value)
        members = text.split(",") if text else []
        return "{" + ",".join('"' + m.replace("\\", "\\\\").replace('"', '\\"') + '"' for m in members) + "}", None
    text = _str(value)
    if "\x00" in text:
        raise NotRepresentable(f"column {column.name} holds a NUL character, which PostgreSQL text cannot hold")
    return text, None


def _str(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def copy_field(text: str | None) -> str:
    """A value as COPY's text format writes it: \\N for null, backslash escapes."""
    return "\\N" if text is None else text.translate(_COPY_ESCAPES)


def members(column_type: str) -> list[str]:
    """The members of enum(...) or set('a','b''c','d\\\\e') in their order: COLUMN_TYPE doubles quotes and
    backslashes."""
    inside = column_type[column_type.index("(") + 1 : column_type.rindex(")")]
    found = re.findall(r"'((?:[^'\\]|''|\\.)*)'", inside)
    return [re.sub(r"''|\\(.)", lambda m: m[1] if m[1] is not None else "'", member) for member in found]
