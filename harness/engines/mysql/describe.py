"""A MySQL or MariaDB schema described from information_schema (SourceEngine.describe_tables): each
table's columns in MySQL's own words (COLUMN_TYPE; MariaDB's JSON, a longtext checked by json_valid,
as `json`), its keys, declared foreign keys and checks,
size. The generic traffic (harness/demo/generic_traffic.py) writes a MySQL source from it."""

from __future__ import annotations

from dataclasses import replace

from harness.engines.base import CatalogColumn, CatalogForeignKey, CatalogTable
from harness.engines.mysql import catalog
from harness.engines.mysql.session import MysqlSession

TEXT_TYPES = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set")


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _int(value) -> int:
    return int(_text(value)) if value is not None else -1


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


def describe_tables(conn: MysqlSession, schema: str) -> list[CatalogTable]:
    """Every base table of the schema, in name order."""
    tables = conn.execute(
        "select table_name, table_rows, data_length + index_length from information_schema.tables "
        "where table_schema = %s and table_type = 'BASE TABLE' order by table_name",
        (schema,),
    )
    columns: dict[str, list[CatalogColumn]] = {}
    for table, name, data_type, column_type, nullable, length in conn.execute(
        "select table_name, column_name, data_type, column_type, is_nullable, character_maximum_length "
        "from information_schema.columns where table_schema = %s order by table_name, ordinal_position",
        (schema,),
    ):
        is_text = _text(data_type).lower() in TEXT_TYPES
        columns.setdefault(_text(table), []).append(
            CatalogColumn(
                _text(name),
                _text(column_type),
                _text(nullable) == "NO",
                is_text,
                _int(length) if is_text and length is not None else None,
            )
        )
    keys: dict[str, dict[str, list[str]]] = {}
    for table, constraint, column in conn.execute(
        "select s.table_name, s.index_name, s.column_name from information_schema.statistics s "
        "where s.table_schema = %s and s.non_unique = 0 order by s.table_name, s.index_name, s.seq_in_index",
        (schema,),
    ):
        keys.setdefault(_text(table), {}).setdefault(_text(constraint), []).append(_text(column))
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
    checks: dict[str, list[tuple[str, str]]] = {}
    for table, name, clause in _checks(conn, schema):
        checks.setdefault(_text(table), []).append((_text(name), _text(clause)))
    result = []
    for table, rows, size in tables:
        table = _text(table)
        unique = keys.get(table, {})
        json_columns = {_json_valid_of(clause) for _, clause in checks.get(table, [])}
        result.append(
            CatalogTable(
                table,
                tuple(replace(c, type="json") if c.name in json_columns else c for c in columns.get(table, [])),
                tuple(unique.get("PRIMARY", [])),
                tuple(tuple(cols) for name, cols in unique.items() if name != "PRIMARY"),
                tuple(
                    CatalogForeignKey(tuple(cols), parent, tuple(parent_cols), name)
                    for name, (parent, cols, parent_cols) in references.get(table, {}).items()
                ),
                tuple(checks.get(table, [])),
                _int(rows),
                max(_int(size), 0),
                None,
            )
        )
    return result


def _json_valid_of(clause: str) -> str | None:
    """The column of MariaDB's JSON check, `json_valid(`column`)`: MariaDB declares JSON so (a longtext)."""
    text = clause.strip()
    if text.lower().startswith("json_valid(`") and text.endswith("`)"):
        return text[len("json_valid(`") : -2].replace("``", "`")
    return None


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
