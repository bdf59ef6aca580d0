"""What the harness asks of a MySQL or MariaDB catalog (information_schema), identifiers always
quoted with backticks. A MySQL database is what migration.yml calls the source schema."""

from __future__ import annotations

from collections.abc import Collection

from harness.core.errors import ConfigError
from harness.engines.mysql import types
from harness.engines.mysql.session import MysqlSession
from harness.engines.postgres.catalog import DatabaseOptions

SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")


def quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def qualified(schema: str, table: str) -> str:
    return f"{quoted(schema)}.{quoted(table)}"


def table_exists(conn: MysqlSession, schema: str, table: str) -> bool:
    rows = conn.execute(
        "select 1 from information_schema.tables where table_schema = %s and table_name = %s "
        "and table_type in ('BASE TABLE', 'SYSTEM VERSIONED')",
        (schema, table),
    )
    return bool(rows)


def _json_checked(conn: MysqlSession, schema: str, table: str) -> set[str]:
    """MariaDB's JSON columns: longtext with CHECK (json_valid(`column`)), as MariaDB declares JSON."""
    try:
        rows = conn.execute(
            "select check_clause from information_schema.check_constraints "
            "where constraint_schema = %s and table_name = %s",
            (schema, table),
        )
    except Exception:  # MySQL before 8.0.16 has no such view: no MariaDB-style JSON there
        return set()
    names = set()
    for (clause,) in rows:
        text = clause.strip()
        if text.lower().startswith("json_valid(`") and text.endswith("`)"):
            names.add(text[len("json_valid(`") : -2].replace("``", "`"))
    return names


def source_columns(conn: MysqlSession, schema: str, table: str) -> list[types.MysqlColumn]:
    """The table's own columns, each with its landing type."""
    rows = conn.execute(
        "select column_name, data_type, column_type, is_nullable, numeric_precision, numeric_scale, "
        "datetime_precision, character_maximum_length, character_set_name, collation_name "
        "from information_schema.columns where table_schema = %s and table_name = %s order by ordinal_position",
        (schema, table),
    )
    json_columns = _json_checked(conn, schema, table)
    result = []
    for name, data_type, column_type, nullable, precision, scale, fsp, length, charset, collation in rows:
        try:
            pg_type, kind = types.landing_type(
                data_type,
                column_type,
                precision=_int(precision),
                scale=_int(scale),
                fsp=_int(fsp),
                length=_int(length),
                json_checked=name in json_columns,
            )
        except types.UnknownType:
            raise ConfigError(
                f"column {name} of {schema}.{table} has type {column_type}, which the kit does not map yet: "
                "leave the table out of migration.yml or cast the column in a view"
            ) from None
        # A date-like column is nullable in landing: a value PostgreSQL has no date for lands as null
        # beside its text in the companion column.
        not_null = nullable == "NO" and kind not in types.DATE_KINDS
        result.append(
            types.MysqlColumn(
                name,
                pg_type,
                not_null,
                source_type=column_type,
                kind=kind,
                bits=_int(precision) or 0 if kind == "bit" else 0,
                charset=charset,
                collation_name=collation,
            )
        )
    return result


def columns(conn: MysqlSession, schema: str, table: str) -> list[types.MysqlColumn]:
    """The landing columns of the table: its own, then a companion text column per date-like column."""
    own = source_columns(conn, schema, table)
    return own + [types.companion(c, schema, table) for c in own if c.kind in types.DATE_KINDS]


def _int(value) -> int | None:
    return None if value is None else int(value)


def primary_key(conn: MysqlSession, schema: str, table: str) -> list[str]:
    rows = conn.execute(
        "select column_name from information_schema.key_column_usage "
        "where table_schema = %s and table_name = %s and constraint_name = 'PRIMARY' order by ordinal_position",
        (schema, table),
    )
    return [name for (name,) in rows]


def estimated_rows(conn: MysqlSession, schema: str, table: str) -> int:
    rows = conn.execute(
        "select table_rows from information_schema.tables where table_schema = %s and table_name = %s",
        (schema, table),
    )
    return int(rows[0][0]) if rows and rows[0][0] is not None else -1


def storage_engine(conn: MysqlSession, schema: str, table: str) -> str:
    rows = conn.execute(
        "select engine from information_schema.tables where table_schema = %s and table_name = %s", (schema, table)
    )
    return rows[0][0] if rows and rows[0][0] else ""


def column_fills(conn: MysqlSession, schema: str, table: str) -> dict:
    """MySQL's ALTER TABLE ADD COLUMN fills old rows in place: nothing kept apart, as PostgreSQL's missing values."""
    return {}


def dependent_views(conn: MysqlSession, schema: str, table: str) -> list[str]:
    rows = conn.execute(
        "select table_name from information_schema.views where table_schema = %s and view_definition like %s",
        (schema, f"%{quoted(table)}%"),
    )
    return [name for (name,) in rows]


def database_options(conn: MysqlSession) -> DatabaseOptions:
    """Every value travels as UTF-8 (utf8mb4) whatever its column's character set: the target is created UTF8."""
    return DatabaseOptions(encoding="UTF8")


def user_schemas(conn: MysqlSession, excluded: Collection[str]) -> list[str]:
    rows = conn.execute("select schema_name from information_schema.schemata order by 1")
    return [name for (name,) in rows if name not in SYSTEM_SCHEMAS and name not in excluded]


def server_variables(conn: MysqlSession, *names: str) -> dict[str, str]:
    """@@global values of server variables, by name (missing ones left out)."""
    rows = conn.execute("show global variables where variable_name in (" + ", ".join(["%s"] * len(names)) + ")", names)
    return {name.lower(): value for name, value in rows}


def is_mariadb(conn: MysqlSession) -> bool:
    return "mariadb" in conn.get_server_info().lower()
