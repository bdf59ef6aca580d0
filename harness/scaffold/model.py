"""The project `migrate init` writes, as data: the source's catalog turned into the names, types,
conversions, keys, constraints, masks and strategy of a migration (no file is written here)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from harness import profiling
from harness.assess.names import name_tokens
from harness.engines.base import CatalogTable

MAX_NAME_BYTES = 63  # PostgreSQL's identifiers, and so dbt's relation names
# Columns the generated models add beside the source's: a source column of that name is renamed.
RESERVED = {
    "source_row",
    "synced_at",
    "is_deleted",
    "disposition",
    "quarantine_rule",
    "quarantine_reason",
    "batch_watermark",
}

# Source types (as PostgreSQL prints them) the target holds differently, and how: target type and
# the conversion over the source value `{v}`. Every other type is kept as it is.
CONVERSIONS = (
    (re.compile(r"^money$"), "numeric(19,2)", "{v}::numeric(19,2)", "money is the server locale's: numeric(19,2)"),
    (re.compile(r'^"char"$'), "text", "{v}::text", '"char" is an internal one-byte type: text'),
    (re.compile(r"^json$"), "jsonb", "{v}::jsonb", "json kept as jsonb (indexable, compared by value)"),
    (re.compile(r"^(oid|xid|cid|tid)$"), "bigint", "{v}::text::bigint", "a system type: its number as bigint"),
)

# What a converted column's target type holds that the source type cannot take back in a fallback,
# and the app column's check (over its name `{c}`) that keeps the new application from writing it:
# (source type, check name suffix, condition).
TAKEN_BACK = (
    # money is a 64-bit count of cents, no NaN (NaN is above every number, so between refuses it)
    (re.compile(r"^money$"), "fits_money", "{c} between -92233720368547758.08 and 92233720368547758.07"),
    (re.compile(r'^"char"$'), "fits_char", "octet_length({c}) <= 1"),  # "char" keeps the first byte
    (re.compile(r"^(oid|xid|cid)$"), "fits_32_bits", "{c} between 0 and 4294967295"),
)

# Column names that say the values are personal or secret, and the mask proposed (config.MASKS).
SENSITIVE_NAMES = (
    ({"card", "cc", "ccnum", "pan", "creditcard"}, "last4", "its name says card number"),
    (
        {"ssn", "nin", "sin", "passport", "nationalid", "taxid", "tin", "nino", "iban"},
        "hash",
        "its name says national id",
    ),
    ({"email", "mail"}, "hash", "its name says e-mail"),
    ({"phone", "mobile", "tel", "telephone", "fax"}, "hash", "its name says phone number"),
)
_SSN = re.compile(r"^[0-9]{3}-?[0-9]{2}-?[0-9]{4}$")
_PHONE = re.compile(r"^\+?[0-9 ().-]{7,20}$")
HASH_BYTES = 32  # md5 as hex: what the hash mask writes, so the column must hold it


def fit(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """`name` within `limit` bytes: cut, with a hash of the whole name so that two cut names differ."""
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    cut = name.encode()[: limit - 9].decode(errors="ignore").rstrip("_")
    return f"{cut}_{digest}"


def snake(name: str) -> str:
    """A name as a lower-case, unquoted SQL identifier: CustomerID → customer_id, "Order Items" → order_items."""
    words = name_tokens(name) or [re.sub(r"\W", "", name.lower())]
    text = "_".join(w for w in words if w) or "x"
    text = re.sub(r"[^a-z0-9_]", "_", text.lower())
    return "_" + text if text[0].isdigit() else text


def unique_names(names: list[str], taken: set[str] | None = None, limit: int = MAX_NAME_BYTES) -> list[str]:
    taken = set(taken or ())
    result = []
    for name in names:
        candidate, n = fit(name, limit), 1
        while candidate in taken:
            n += 1
            candidate = fit(f"{name}_{n}", limit)
        taken.add(candidate)
        result.append(candidate)
    return result


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class ColumnModel:
    source: str  # the source column's name, as the source spells it
    name: str  # the staging / app column's name
    source_type: str  # as the source declares it
    target_type: str
    conversion: str  # SQL over alias `source`
    not_null: bool
    note: str = ""  # why the type changes
    expected: str = ""  # the conversion over the landing row, referenced as "<TABLE>" (reconcile's sample level)
    mask: str | None = None
    mask_reason: str = ""
    landing_type: str = ""  # the PostgreSQL type landing holds it as ("": source_type, a PostgreSQL source)

    def __post_init__(self):
        self.landing_type = self.landing_type or self.source_type

    @property
    def rule(self) -> str:
        said = f"converted: {self.note}" if self.note else "copied as is"
        return said + (f" (masked at the source: {self.mask})" if self.mask else "")


@dataclass
class ForeignKeyModel:
    columns: list[str]  # app column names
    parent: TableModel
    parent_columns: list[str]
    source_columns: list[str]
    name: str


@dataclass
class TableModel:
    source: str
    name: str  # the app table's name
    staging: str
    decisions: str
    fallback: str | None  # the reverse model (fallback.legacy_<table>), None when it cannot be named
    columns: list[ColumnModel]
    key: list[str]  # source key columns
    key_origin: str  # "primary key" or "unique index on NOT NULL columns"
    unique_keys: list[list[str]] = field(default_factory=list)  # app column names
    checks: list[tuple[str, str]] = field(default_factory=list)  # (name, expression over app column names)
    foreign_keys: list[ForeignKeyModel] = field(default_factory=list)
    self_foreign_keys: list[ForeignKeyModel] = field(default_factory=list)  # to this table (post-hook)
    comments: list[str] = field(default_factory=list)  # said in the models' YAML: what init did not map
    proposals: list[str] = field(default_factory=list)  # undeclared relationships found in the data
    estimated_rows: int = -1
    total_bytes: int = 0
    writes_per_second: float | None = None

    def column(self, source_name: str) -> ColumnModel:
        return next(c for c in self.columns if c.source == source_name)

    @property
    def model(self) -> str:
        """The app model's dbt name: the table's, unless that is the source table's too (reconcile's
        sample level joins the two under their names), then a distinct name with the table as alias."""
        return self.name if self.name != self.source else fit(f"{self.name}_app")

    @property
    def fallback_model(self) -> str:
        return fit(f"fallback_{self.name}")

    @property
    def fallback_quoted(self) -> bool:
        """Whether the reverse model's relation name must be quoted (it keeps the source table's spelling)."""
        return self.fallback is not None and re.fullmatch(r"[a-z_][a-z0-9_]*", self.fallback) is None

    @property
    def source_join(self) -> str:
        """How an app row finds its landing row, over the app table's name and the quoted source table."""
        return " and ".join(f"{self.model}.{c.name} = {c.expected}" for c in self.key_columns)

    @property
    def app_key(self) -> list[str]:
        return [self.column(k).name for k in self.key]

    def self_fk_name(self, fk: ForeignKeyModel) -> str:
        return fit(f"{self.name}_{'_'.join(fk.columns)}_fkey")

    def rule_name(self, fk: ForeignKeyModel) -> str:
        """The quarantine rule of a row whose foreign key names no migrated (self: no live) parent row."""
        shared = fk.parent is self or sum(other.parent is fk.parent for other in self.foreign_keys) > 1
        return fit(f"{self.name}_{'_'.join(fk.columns) if shared else fk.parent.name}_missing", 60)

    @property
    def key_columns(self) -> list[ColumnModel]:
        return [self.column(k) for k in self.key]


@dataclass
class Project:
    name: str
    engine: str
    source_schema: str
    source_url: str | None
    target_url: str | None
    kit_dir: str
    tables: list[TableModel]
    left_out: list[tuple[str, str]]  # (table, why)
    strategy: str
    strategy_reason: str
    source_name: str = "legacy"
    findings: list[str] = field(default_factory=list)

    def delete_order(self) -> list[TableModel]:
        """The tables children first: every table after the tables whose foreign keys point at it."""
        return self.children_first(self.tables)

    @staticmethod
    def parents_first(tables: list[TableModel]) -> list[TableModel]:
        return list(reversed(Project.children_first(list(reversed(tables)))))

    @staticmethod
    def children_first(tables: list[TableModel]) -> list[TableModel]:
        ordered: list[TableModel] = []
        remaining = list(tables)
        while remaining:
            for table in remaining:
                children = [t for t in remaining if t is not table and any(fk.parent is table for fk in t.foreign_keys)]
                if not children:
                    ordered.append(table)
                    remaining.remove(table)
                    break
            else:  # a cycle of foreign keys: the rest in any order
                ordered.extend(remaining)
                break
        return ordered


def choose_key(table: CatalogTable) -> tuple[list[str], str] | None:
    if table.primary_key:
        return list(table.primary_key), "primary key"
    not_null = {c.name for c in table.columns if c.not_null}
    for columns in table.unique_keys:
        if set(columns) <= not_null:
            return list(columns), "unique index on NOT NULL columns"
    return None


def convert(type_: str) -> tuple[str, str, str]:
    for pattern, target, expression, note in CONVERSIONS:
        if pattern.match(type_):
            return target, expression, note
    return type_, "{v}", ""


def taken_back(type_: str, column: str) -> tuple[str, str] | None:
    """The check (name, condition) an app column converted from this source type needs, if any."""
    for pattern, suffix, condition in TAKEN_BACK:
        if pattern.match(type_):
            return fit(f"{column}_{suffix}"), condition.format(c=quote(column))
    return None


def mask_by_name(column: str) -> tuple[str, str] | None:
    tokens = set(name_tokens(column)) | {re.sub(r"[^a-z0-9]", "", column.lower())}
    for words, mask, reason in SENSITIVE_NAMES:
        if tokens & words:
            return mask, reason
    return None


def mask_by_values(values: list[str]) -> tuple[str, str] | None:
    """A mask when most sampled values look like card numbers (Luhn), national ids, e-mails or phones."""
    values = [v for v in values if v.strip()]
    if len(values) < 3:
        return None
    share = {
        "card": sum(profiling.is_card_number(v) for v in values) / len(values),
        "email": sum(profiling.classify(v) == "email" for v in values) / len(values),
        "ssn": sum(bool(_SSN.match(v.strip())) for v in values) / len(values),
        "phone": sum(bool(_PHONE.match(v.strip())) and sum(ch.isdigit() for ch in v) >= 7 for v in values)
        / len(values),
    }
    if share["card"] >= 0.5:
        return "last4", f"{share['card']:.0%} of {len(values)} sampled values are Luhn-valid card numbers"
    if share["ssn"] >= 0.5:
        return "hash", f"{share['ssn']:.0%} of {len(values)} sampled values look like national ids (NNN-NN-NNNN)"
    if share["email"] >= 0.5:
        return "hash", f"{share['email']:.0%} of {len(values)} sampled values are e-mail addresses"
    if share["phone"] >= 0.8:
        return "hash", f"{share['phone']:.0%} of {len(values)} sampled values look like phone numbers"
    return None


def mask_fits(mask: str, column) -> bool:
    """Whether the masked value fits the column: last4 needs 4 characters, hash 32."""
    if not column.is_text:
        return False
    need = 4 if mask == "last4" else HASH_BYTES
    return column.text_length is None or column.text_length >= need


def rewrite_check(expression: str, columns: list[ColumnModel]) -> str | None:
    """A check condition over the source's names restated over the app's; None when it names something else."""
    result = expression
    for column in sorted(columns, key=lambda c: len(c.source), reverse=True):
        result = result.replace(quote(column.source), column.name)
        if re.fullmatch(r"[a-z_][a-z0-9_$]*", column.source):
            result = re.sub(rf"(?<![\w\"]){re.escape(column.source)}(?![\w\"])", column.name, result)
    return None if '"' in result else result


def suggest_strategy(tables: list[TableModel]) -> tuple[str, str]:
    size = sum(t.total_bytes for t in tables)
    rates = [t.writes_per_second for t in tables if t.writes_per_second is not None]
    writes = sum(rates) if rates else None
    gib = size / 2**30
    rate = "not measured" if writes is None else f"{writes:.1f} writes/s since statistics began"
    if gib < 1 and (writes is None or writes < 1):
        return "big_bang", f"{gib:.2f} GiB and {rate}: one short freeze copies it all"
    return "parallel_run", f"{gib:.2f} GiB and {rate}: load, keep in sync, then switch with a short freeze"
