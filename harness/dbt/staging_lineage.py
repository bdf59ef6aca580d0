"""What each column of a staging model is, read from the model's own SQL: its select list, the
legacy columns each expression reads (through `source()`), and what the expression does to them.

Staging models carry no mapping metadata: they only rename, cast and cleanse the legacy columns
their sources describe. So a staging column's lineage is found in its model's raw code (as the
manifest keeps it): the last select list of the model (through `select * from <cte>` to that
CTE's), each item's alias, the quoted or qualified column names it reads from an alias bound to a
`source()` or a `ref()`, and the macros it calls. Nothing here connects to a database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Jinja functions that are not cleansing rules.
NOT_RULES = {"source", "ref", "var", "env_var", "config", "this", "adapter", "return"}
# The loader's own columns in landing (harness.target.landing), in words.
LOADER_COLUMNS = {
    "_migrate_synced_at": "when load or sync last wrote the landing row",
    "_migrate_deleted": "the tombstone: the row was deleted at the source",
}
SHOWN_EXPRESSION = 160  # characters of an expression quoted in a description


@dataclass(frozen=True)
class StagingColumn:
    name: str
    expression: str
    legacy: list[tuple[str, str]] = field(default_factory=list)  # (legacy table, column)
    whole_rows: list[str] = field(default_factory=list)  # legacy tables whose whole row it keeps (alias.*)
    loader: list[str] = field(default_factory=list)  # the loader's columns it reads
    lookups: list[str] = field(default_factory=list)  # models or seeds (ref) it reads
    macros: list[str] = field(default_factory=list)

    @property
    def conversion(self) -> str:
        """What the expression does to what it reads, in words."""
        single = _column_reference(self.expression)
        if single:
            return "copied as is"
        cast = re.fullmatch(r"(.+?)\s*::\s*([\w ]+(?:\([\d, ]+\))?)", self.expression, re.S)
        if cast and _column_reference(cast.group(1)):
            return f"cast to `{cast.group(2).strip()}`"
        if self.macros:
            return "through macro " + ", ".join(f"`{m}`" for m in self.macros)
        text = " ".join(self.expression.split())
        if len(text) > SHOWN_EXPRESSION:
            text = text[: SHOWN_EXPRESSION - 1] + "…"
        return f"computed as `{text}`"


def _column_reference(expression: str) -> bool:
    return bool(re.fullmatch(r'(?:\w+\.)?(?:"[^"]+"|\w+)', expression.strip()))


def _scan(sql: str):
    """(index, character, depth) of each character outside quotes and comments; depth counts
    parentheses and Jinja braces."""
    depth, i = 0, 0
    while i < len(sql):
        ch = sql[i]
        if sql.startswith("--", i):
            i = sql.find("\n", i) if "\n" in sql[i:] else len(sql)
            continue
        if sql.startswith("{#", i):
            end = sql.find("#}", i)
            i = len(sql) if end < 0 else end + 2
            continue
        if ch in "'\"":
            end = sql.find(ch, i + 1)
            end = len(sql) - 1 if end < 0 else end
            for j in range(i, end + 1):
                yield j, sql[j], depth + 1  # inside quotes: never at the top level
            i = end + 1
            continue
        if ch in "({":
            depth += 1
        yield i, ch, depth if ch not in ")}" else depth - 1
        if ch in ")}":
            depth -= 1
        i += 1


def _top_level(sql: str) -> str:
    """`sql` with everything not at depth 0 (and comments) blanked, offsets kept."""
    out = [" "] * len(sql)
    for i, ch, depth in _scan(sql):
        if depth == 0:
            out[i] = ch
    return "".join(out)


def _split(text: str) -> list[str]:
    """Comma-separated items at depth 0."""
    top = _top_level(text)
    items, start = [], 0
    for i, ch in enumerate(top):
        if ch == ",":
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [_strip_comments(item).strip() for item in items if _strip_comments(item).strip()]


def _strip_comments(text: str) -> str:
    return re.sub(r"--[^\n]*|\{#.*?#\}", "", text, flags=re.S)


def _select_list(sql: str) -> list[str] | None:
    """The items of the last select list at the top level of `sql`; through `select * from <cte>`,
    that CTE's."""
    top = _top_level(sql)
    selects = [m for m in re.finditer(r"\bselect\b", top, re.I)]
    if not selects:
        return None
    start = selects[-1].end()
    found = re.compile(r"\bfrom\b", re.I).search(top, start)
    items = _split(sql[start : found.start() if found else len(sql)])
    items = [re.sub(r"^distinct\s+", "", items[0], flags=re.I), *items[1:]] if items else items
    if items == ["*"] and found:
        source = re.match(r"\s*(\w+)", sql[found.end() :])
        body = _cte_body(sql, source.group(1)) if source else None
        return _select_list(body) if body else None
    return items


def _cte_body(sql: str, name: str) -> str | None:
    match = re.search(rf"\b{re.escape(name)}\s+as\s*\(", sql, re.I)
    if not match:
        return None
    depth, start = 0, match.end() - 1
    for i, ch, _ in _scan(sql):
        if i < start:
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return sql[start + 1 : i]
    return None


def _alias(item: str) -> tuple[str, str] | None:
    """(column name, expression) of one select item; None when it names no column."""
    named = re.match(r'(?is)(.*\S)\s+as\s+("?)(\w+)\2\s*$', item)
    if named:
        return named.group(3), named.group(1).strip()
    bare = re.fullmatch(r'(?:\w+\.)?"?(\w+)"?', item.strip())
    return (bare.group(1), item.strip()) if bare else None


def _add(found: list, item: object) -> None:
    if item not in found:
        found.append(item)


def _without_literals(expression: str) -> str:
    """The expression with its SQL string literals blanked (not those inside Jinja, which hold SQL)."""
    parts = re.split(r"(\{\{.*?\}\})", expression, flags=re.S)
    return "".join(part if i % 2 else re.sub(r"'[^']*'", "''", part) for i, part in enumerate(parts))


def staging_columns(raw_code: str, source_columns: dict[str, set[str]]) -> list[StagingColumn]:
    """Each column of a model's select list and what it reads; `source_columns` is each legacy
    table's columns (the `source()` tables the model reads), by table name."""
    sources = {
        m.group(3): m.group(2)
        for m in re.finditer(
            r"\{\{\s*source\(\s*['\"]([^'\"]+)['\"]\s*,\s*['\"]([^'\"]+)['\"]\s*\)\s*\}\}\s+(?:as\s+)?(\w+)",
            raw_code,
            re.I,
        )
    }
    refs = {
        m.group(2): m.group(1)
        for m in re.finditer(
            r"\{\{\s*ref\(\s*['\"]([^'\"]+)['\"]\s*\)\s*\}\}\s+(?:as\s+)?(\w+)",
            raw_code,
            re.I,
        )
    }
    only = next(iter(source_columns)) if len(source_columns) == 1 else None
    items = _select_list(raw_code) or []
    result = []
    for item in items:
        found = _alias(item)
        if not found:
            continue
        name, expression = found
        column = StagingColumn(name, expression)
        references = re.findall(r'(?:\b(\w+)\.)?(?:"([^"]+)"|\b(\w+)\b)', _without_literals(expression))
        for alias, quoted, bare in references:
            referenced = quoted or bare
            table = sources.get(alias) if alias else only
            if alias in refs:
                _add(column.lookups, refs[alias])
            if referenced in LOADER_COLUMNS and (alias in sources or not alias):
                _add(column.loader, referenced)
            elif table and referenced in source_columns.get(table, set()) and (quoted or alias):
                _add(column.legacy, (table, referenced))
        for alias in re.findall(r"\b(\w+)\.\*", expression):
            if alias in sources:
                _add(column.whole_rows, sources[alias])
        for macro in re.findall(r"\b(\w+)\s*\(", " ".join(re.findall(r"\{\{(.*?)\}\}", expression, re.S))):
            if macro not in NOT_RULES:
                _add(column.macros, macro)
        result.append(column)
    return result
