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
    return _json_checked_of(conn, schema, [table]).get(table, set())


def _json_checked_of(conn: MysqlSession, schema: str, tables: list[str]) -> dict[str, set[str]]:
    """_json_checked of each of these tables, in one query."""
    try:
        rows = conn.execute(
            "select table_name, check_clause from information_schema.check_constraints "
            "where constraint_schema = %s and table_name in %s",
            (schema, tuple(tables)),
        )
    except Exception:  # MySQL before 8.0.16 has no such view: no MariaDB-style JSON there
        return {}
    names: dict[str, set[str]] = {}
    for table, clause in rows:
        text = clause.strip()
        if text.lower().startswith("json_valid(`") and text.endswith("`)"):
            names.setdefault(table, set()).add(text[len("json_valid(`") : -2].replace("``", "`"))
    return names


COLUMN_FIELDS = (
    "column_name, data_type, column_type, is_nullable, numeric_precision, numeric_scale, "
    "datetime_precision, character_maximum_length, character_set_name, collation_name"
)


def source_columns(conn: MysqlSession, schema: str, table: str) -> list[types.MysqlColumn]:
    """The table's own columns, each with its landing type."""
    rows = conn.execute(
        f"select {COLUMN_FIELDS} from information_schema.columns where table_schema = %s and table_name = %s "
        "order by ordinal_position",
        (schema, table),
    )
    return _source_columns(schema, table, rows, _json_checked(conn, schema, table))


def _source_columns(schema: str, table: str, rows: list[tuple], json_columns: set[str]) -> list[types.MysqlColumn]:
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
    return _with_companions(source_columns(conn, schema, table), schema, table)


def _with_companions(own: list[types.MysqlColumn], schema: str, table: str) -> list[types.MysqlColumn]:
    return own + [types.companion(c, schema, table) for c in own if c.kind in types.DATE_KINDS]


def columns_and_keys(
    conn: MysqlSession, schema: str, tables: list[str]
) -> dict[str, tuple[list[types.MysqlColumn], list[str]]]:
    """(columns, primary key) of each of these tables that exists, as `columns` and `primary_key`
    give them, in one query per kind however many tables: information_schema is slow on MariaDB,
    and a sync batch describes every listed table."""
    if not tables:
        return {}
    wanted = tuple(tables)
    # Names compared here, exactly: information_schema may compare them case-insensitively.
    found = {
        name
        for (name,) in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s and table_name in %s "
            "and table_type in ('BASE TABLE', 'SYSTEM VERSIONED')",
            (schema, wanted),
        )
        if name in tables
    }
    own: dict[str, list[tuple]] = {name: [] for name in found}
    for table, *row in conn.execute(
        f"select table_name, {COLUMN_FIELDS} from information_schema.columns where table_schema = %s "
        "and table_name in %s order by table_name, ordinal_position",
        (schema, wanted),
    ):
        if table in own:
            own[table].append(tuple(row))
    keys: dict[str, list[str]] = {name: [] for name in found}
    for table, name in conn.execute(
        "select table_name, column_name from information_schema.key_column_usage "
        "where table_schema = %s and table_name in %s and constraint_name = 'PRIMARY' "
        "order by table_name, ordinal_position",
        (schema, wanted),
    ):
        if table in keys:
            keys[table].append(name)
    json_columns = _json_checked_of(conn, schema, list(found)) if found else {}
    result = {}
    for table in tables:
        if table in found:
            own_columns = _source_columns(schema, table, own[table], json_columns.get(table, set()))
            result[table] = (_with_companions(own_columns, schema, table), keys[table])
    return result


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
