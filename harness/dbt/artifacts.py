"""dbt's artifacts, read as files: the target schema, the mapping metadata and build timings.

target/manifest.json (written by any dbt command, `dbt parse` included) gives the models, their
columns with declared types and `meta`, and the sources with theirs; target/catalog.json (from
`dbt docs generate`) gives the types the database really has; target/run_results.json gives how
long the last build took. Any of them may be missing: the readers say so and return what they can.

The mapping metadata follows the schema documented in models/staging/oms/_oms__sources.yml:
an app column's `meta` has `source: [TABLE.COLUMN, ...]` ([] for generated values), `rule` and an
optional `expected_sql` over the landing row (the model's `meta.source_table` names that row's
table); a legacy column's `meta` has `disposition` (mapped, decision, dropped), `targets`, `rule`
and `reason`. Written by people, so the reader also accepts the usual other spellings (`sources`,
`legacy`, "source.TABLE.COLUMN", {table: ..., columns: ...}, `expression`, `transformation` ...).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SOURCE_KEYS = (
    "source_columns",
    "source_column",
    "sources",
    "source",
    "legacy_columns",
    "legacy_column",
    "legacy",
    "from",
    "maps_from",
    "mapped_from",
    "source_fields",
    "source_field",
)
TABLE_KEYS = ("source_table", "legacy_table", "table")
RULE_KEYS = ("rule", "rules", "transformation", "transform", "logic", "mapping_rule")
EXPRESSION_KEYS = ("expression", "expected_sql", "expected_expression", "expected", "sql", "expr")
DISPOSITION_KEYS = ("disposition", "fate", "handling", "action", "migration", "status")
NESTED_KEYS = ("mapping", "migration", "lineage", "legacy_mapping")
NON_TARGET_LAYERS = {"staging", "intermediate", "quarantine", "fallback", "utilities", "base"}


@dataclass(frozen=True)
class Artifacts:
    manifest: dict | None
    catalog: dict | None
    run_results: dict | None
    notes: tuple[str, ...] = ()

    @property
    def project_name(self) -> str:
        return ((self.manifest or {}).get("metadata") or {}).get("project_name", "")


def _read_json(path: Path) -> tuple[dict | None, str | None]:
    if not path.exists():
        return None, None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, f"{path.name} could not be read ({type(exc).__name__}); run dbt again to rewrite it"
    return (data if isinstance(data, dict) else None), None


def load(project_dir: Path) -> Artifacts:
    target = project_dir / "target"
    notes = []
    manifest, problem = _read_json(target / "manifest.json")
    if problem:
        notes.append(problem)
    elif manifest is None:
        notes.append(
            "no target/manifest.json: the target schema and the mapping were not checked (run "
            "`dbt parse` or `migrate build`)"
        )
    catalog, problem = _read_json(target / "catalog.json")
    if problem:
        notes.append(problem)
    elif catalog is None and manifest is not None:
        notes.append(
            "no target/catalog.json: target types come from the models' declared data_type "
            "(`dbt docs generate` adds the real ones)"
        )
    run_results, problem = _read_json(target / "run_results.json")
    if problem:
        notes.append(problem)
    return Artifacts(manifest, catalog, run_results, tuple(notes))


# --- types ------------------------------------------------------------------------------------

TYPE_ALIASES = {
    "character varying": "varchar",
    "character": "char",
    "bpchar": "char",
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "int2": "smallint",
    "decimal": "numeric",
    "float8": "double precision",
    "float": "double precision",
    "float4": "real",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "timetz": "time with time zone",
    "time": "time without time zone",
    "bool": "boolean",
}


@dataclass(frozen=True)
class ParsedType:
    type: str
    base: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None


def parse_type(text: str) -> ParsedType | None:
    """ "character varying(200)" → varchar, length 200; "numeric(12,2)" → numeric, 12, 2; "char" → char, length 1."""
    if not text or not isinstance(text, str):
        return None
    raw = " ".join(text.strip().lower().split())
    modifiers = re.search(r"\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)", raw)
    base = " ".join(re.sub(r"\([^)]*\)", " ", raw).split())
    base = TYPE_ALIASES.get(base, base)
    first = int(modifiers.group(1)) if modifiers else None
    second = int(modifiers.group(2)) if modifiers and modifiers.group(2) else None
    if base in ("varchar", "char"):
        length = first if first is not None else (1 if base == "char" else None)
        return ParsedType(text.strip(), base, length=length)
    if base == "numeric":
        return ParsedType(text.strip(), base, precision=first, scale=(second or 0) if first is not None else None)
    return ParsedType(text.strip(), base)


# --- mapping metadata -------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRef:
    table: str | None
    column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}" if self.table else self.column


@dataclass(frozen=True)
class ColumnMapping:
    sources: tuple[SourceRef, ...] = ()
    rule: str | None = None
    expression: str | None = None


def column_meta(column: dict) -> dict:
    """A column's meta: dbt ≥ 1.10 keeps it under config.meta as well as meta; both are merged."""
    merged: dict = {}
    for meta in ((column.get("config") or {}).get("meta"), column.get("meta")):
        if isinstance(meta, dict):
            merged.update(meta)
    return merged


def _unquote(part: str) -> str:
    part = part.strip()
    if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"`'":
        return part[1:-1]
    return part


def parse_reference(text: str, default_table: str | None = None) -> list[SourceRef]:
    """'CUSTOMER.CUST_ID', 'oms.CUSTOMER.CUST_ID', '"CUSTOMER"."CUST_ID"', 'A.X, A.Y' → references."""
    refs = []
    for piece in re.split(r"[,;+]|\s+and\s+", text):
        piece = piece.strip()
        if not piece:
            continue
        parts = [_unquote(p) for p in re.findall(r'"[^"]*"|`[^`]*`|[^.]+', piece)]
        parts = [p for p in parts if p]
        if not parts or not all(re.fullmatch(r"[\w$# ]+", p) for p in parts):
            continue  # an expression, not a column reference
        if len(parts) == 1:
            refs.append(SourceRef(default_table, parts[0]))
        else:
            refs.append(SourceRef(parts[-2], parts[-1]))
    return refs


def _references(value: Any, default_table: str | None) -> list[SourceRef]:
    if value is None or value is False:
        return []
    if isinstance(value, str):
        return parse_reference(value, default_table)
    if isinstance(value, (list, tuple)):
        return [ref for item in value for ref in _references(item, default_table)]
    if isinstance(value, dict):
        table = next((value[k] for k in ("table", *TABLE_KEYS) if isinstance(value.get(k), str)), default_table)
        columns = next((value[k] for k in ("columns", "column", "name", *SOURCE_KEYS) if k in value), None)
        if columns is not None:
            return _references(columns, table)
        # {CUSTOMER: [CUST_ID, CUST_NM]}: tables as keys
        return [ref for key, cols in value.items() for ref in _references(cols, str(key))]
    return []


def _first_text(meta: dict, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = meta.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, (list, tuple)) and value:
            return "; ".join(str(v) for v in value)
    return None


def parse_mapping(meta: dict, default_table: str | None = None) -> ColumnMapping:
    """The legacy column(s), rule and expected expression of a target column, from its meta;
    `default_table` is the table of bare column names (the model's source_table)."""
    if not isinstance(meta, dict):
        return ColumnMapping()
    for key in NESTED_KEYS:
        if isinstance(meta.get(key), dict):
            nested = parse_mapping(meta[key], default_table)
            if nested.sources or nested.rule or nested.expression:
                return nested
    default_table = _first_text(meta, TABLE_KEYS) or default_table
    sources: list[SourceRef] = []
    for key in SOURCE_KEYS:
        if key in meta:
            sources = _references(meta[key], default_table)
            if sources:
                break
    return ColumnMapping(
        tuple(dict.fromkeys(sources)), _first_text(meta, RULE_KEYS), _first_text(meta, EXPRESSION_KEYS)
    )


def parse_disposition(meta: dict) -> str | None:
    if not isinstance(meta, dict):
        return None
    for key in NESTED_KEYS:
        if isinstance(meta.get(key), dict):
            found = parse_disposition(meta[key])
            if found:
                return found
    value = _first_text(meta, DISPOSITION_KEYS)
    if value is None:
        for key in DISPOSITION_KEYS:
            if isinstance(meta.get(key), dict):
                return "; ".join(f"{k}: {v}" for k, v in meta[key].items())
    return value


# --- models and sources ----------------------------------------------------------------------


@dataclass
class TargetColumn:
    name: str
    type: str | None
    type_from: str  # "catalog", "data_type" or "unknown"
    constraints: list[str]
    mapping: ColumnMapping
    description: str = ""


@dataclass
class TargetModel:
    unique_id: str
    name: str
    schema: str
    relation: str
    layer: str
    materialized: str
    contract_enforced: bool
    columns: list[TargetColumn] = field(default_factory=list)
    is_target: bool = False
    source_table: str | None = None  # the legacy table whose row expected_sql expressions read


def _layer(node: dict) -> str:
    fqn = node.get("fqn") or []
    if len(fqn) > 2:
        return str(fqn[1])
    path = str(node.get("path") or "")
    return path.split("/")[0] if "/" in path else "models"


def _catalog_columns(artifacts: Artifacts, unique_id: str) -> dict[str, str]:
    node = ((artifacts.catalog or {}).get("nodes") or {}).get(unique_id) or {}
    return {
        str(name).lower(): col.get("type") for name, col in (node.get("columns") or {}).items() if isinstance(col, dict)
    }


def models(artifacts: Artifacts) -> list[TargetModel]:
    """Every model with its columns; `is_target` marks the new platform's tables (the `app` folder,
    or every model outside staging/intermediate/quarantine/fallback when there is no such folder)."""
    nodes = (artifacts.manifest or {}).get("nodes") or {}
    result = []
    for unique_id, node in sorted(nodes.items()):
        if not isinstance(node, dict) or node.get("resource_type") != "model":
            continue
        config = node.get("config") or {}
        model_meta = {**(config.get("meta") or {}), **(node.get("meta") or {})}
        source_table = _first_text(model_meta, ("source_table", "legacy_table"))
        catalog_types = _catalog_columns(artifacts, unique_id)
        columns = []
        for name, col in (node.get("columns") or {}).items():
            if not isinstance(col, dict):
                continue
            real = catalog_types.get(str(name).lower())
            declared = col.get("data_type")
            constraints = [str(c.get("type")) for c in col.get("constraints") or [] if isinstance(c, dict)]
            columns.append(
                TargetColumn(
                    str(name),
                    real or declared,
                    "catalog" if real else ("data_type" if declared else "unknown"),
                    constraints,
                    parse_mapping(column_meta(col), source_table),
                    str(col.get("description") or ""),
                )
            )
        known = {c.name.lower() for c in columns}
        for name, type_ in catalog_types.items():
            if name not in known:  # in the database but not documented in the YAML
                columns.append(TargetColumn(name, type_, "catalog", [], ColumnMapping()))
        schema = str(node.get("schema") or "")
        alias = str(node.get("alias") or node.get("name"))
        result.append(
            TargetModel(
                unique_id,
                str(node.get("name")),
                schema,
                f"{schema}.{alias}",
                _layer(node),
                str(config.get("materialized") or ""),
                bool((config.get("contract") or {}).get("enforced")),
                columns,
                source_table=source_table,
            )
        )
    layers = {m.layer for m in result}
    for model in result:
        model.is_target = model.layer == "app" if "app" in layers else model.layer not in NON_TARGET_LAYERS
    return result


@dataclass(frozen=True)
class Disposition:
    """What happens to one legacy column (or, with column "*", a whole table)."""

    disposition: str
    targets: tuple[str, ...] = ()  # "app.customer.email"-style references
    rule: str | None = None
    reason: str | None = None


def source_dispositions(artifacts: Artifacts) -> dict[tuple[str, str], Disposition]:
    """(table, column) → its disposition, from the sources' column meta (any source name)."""
    result = {}
    for source in ((artifacts.manifest or {}).get("sources") or {}).values():
        if not isinstance(source, dict):
            continue
        table = str(source.get("identifier") or source.get("name"))
        for name, col in (source.get("columns") or {}).items():
            if not isinstance(col, dict):
                continue
            found = _disposition(column_meta(col))
            if found:
                result[(table, str(name))] = found
        # A disposition on the whole table (e.g. "archived, not migrated") covers its columns.
        found = _disposition(column_meta(source))
        if found:
            result[(table, "*")] = found
    return result


def _disposition(meta: dict) -> Disposition | None:
    text = parse_disposition(meta)
    if not text:
        return None
    targets = meta.get("targets") or meta.get("target") or []
    if isinstance(targets, str):
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    return Disposition(
        text, tuple(str(t) for t in targets if t), _first_text(meta, RULE_KEYS), _first_text(meta, ("reason", "why"))
    )


def source_tables(artifacts: Artifacts) -> list[str]:
    return sorted(
        {
            str(s.get("identifier") or s.get("name"))
            for s in ((artifacts.manifest or {}).get("sources") or {}).values()
            if isinstance(s, dict)
        }
    )


def build_timing(artifacts: Artifacts) -> dict | None:
    """How long the last `dbt build` (or `run`) took, from run_results.json; None without one."""
    results = artifacts.run_results
    if not results:
        return None
    which = str(((results.get("args") or {}).get("which")) or "")
    if which not in ("build", "run"):
        return None
    nodes = [r for r in results.get("results") or [] if isinstance(r, dict)]
    failed = [r for r in nodes if str(r.get("status")) in ("error", "fail", "runtime error")]
    return {
        "command": which,
        "seconds": float(results.get("elapsed_time") or sum(float(r.get("execution_time") or 0) for r in nodes)),
        "nodes": len(nodes),
        "failed": len(failed),
        "generated_at": ((results.get("metadata") or {}).get("generated_at")),
    }
