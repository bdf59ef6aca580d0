"""What an assessment holds: findings, figures, column profiles, tables, relationships, and the
`Assessment` itself, whose `to_dict` is the report's JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from harness.core.errors import EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE

REPORT_NAME = "assessment"

BLOCKING, WARNING, INFO = "blocking", "warning", "info"
# The order findings are listed in, within a severity: what stops the migration comes first.
AREAS = (
    "configuration",
    "privileges",
    "keys",
    "sensitive",
    "downtime",
    "conversion",
    "quality",
    "relationships",
    "mapping",
    "triggers",
    "types",
    "settings",
    "volume",
)


@dataclass
class Finding:
    severity: str  # blocking, warning or info
    area: str
    message: str
    fix: str = ""
    table: str | None = None
    column: str | None = None
    share: float | None = None  # fraction of the table's rows affected, when known


def finding_order(f: Finding) -> tuple:
    severity = {BLOCKING: 0, WARNING: 1, INFO: 2}[f.severity]
    area = AREAS.index(f.area) if f.area in AREAS else len(AREAS)
    return (severity, area, -(f.share or 0.0), f.table or "", f.column or "")


@dataclass
class Figure:
    """A count in the profiled rows, its share, and the 95% margin of that share for the whole table."""

    count: int
    share: float
    margin: float


@dataclass
class ColumnProfile:
    name: str
    type: str
    not_null: bool
    nulls: Figure
    distinct: int | None = None  # in the profiled rows
    blanks: Figure | None = None
    min: str | None = None
    max: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    avg_length: float | None = None
    classes: dict[str, Figure] = field(default_factory=dict)  # pattern class → share of non-null values
    invalid_dates: int | None = None
    ambiguous_dates: int | None = None
    near_cents: int | None = None
    float_noise: int | None = None
    non_finite: int | None = None
    max_scale: int | None = None
    true_count: int | None = None
    top_values: list[dict] = field(default_factory=list)
    sensitive: bool = False
    masked: str | None = None  # the mask migration.yml applies
    target: dict | None = None  # the mapped target column: model, column, type, rule
    target_checks: dict[str, Figure] = field(default_factory=dict)  # too_long, too_precise, too_large, cast_failures
    risks: list[str] = field(default_factory=list)


@dataclass
class TableAssessment:
    name: str
    exists: bool
    kind: str = "table"
    key: list[str] = field(default_factory=list)
    key_from: str | None = None  # "primary key", "migration.yml" or None when there is none
    unique_keys: list[dict] = field(default_factory=list)
    foreign_keys: list[dict] = field(default_factory=list)
    indexes: list[dict] = field(default_factory=list)
    triggers: list[dict] = field(default_factory=list)
    rules: list[dict] = field(default_factory=list)
    replica_identity: str | None = None
    can_select: bool = False
    can_trigger: bool = False
    rows: int = 0
    rows_exact: bool = False
    estimated_rows: int = 0
    bytes: dict[str, int] = field(default_factory=dict)
    sample: dict = field(default_factory=dict)
    columns: list[ColumnProfile] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    growth: dict | None = None
    expected_sql: list[dict] = field(default_factory=list)  # the mapping's expected expressions, tried on the sample
    timing: dict = field(default_factory=dict)
    changes_per_second: float = 0.0


@dataclass
class Relationship:
    child_table: str
    child_column: str
    parent_table: str
    parent_column: str
    declared: bool
    checked: int = 0  # non-null child values looked up
    matched: int = 0
    match_rate: float = 0.0
    margin: float = 0.0
    normalised_match_rate: float | None = None  # ignoring case and blanks, for text
    orphan_rate: float = 0.0  # values found in the parent under neither comparison
    likely: bool = False


@dataclass
class Assessment:
    assessed_at: str
    seconds: float
    migration: str
    configured_strategy: str
    downtime_limit_minutes: float | None
    source: dict
    target: dict
    privileges: dict
    sampling: dict
    tables: list[TableAssessment]
    relationships: list[Relationship]
    target_schema: dict
    mapping: dict
    estimates: dict
    per_table_estimates: list[dict]
    strategies: list[dict]
    recommendation: dict
    findings: list[Finding]
    verdict: dict
    history: list[dict]
    measured: dict | None
    assumptions: dict
    notes: list[str]
    type_mapping: list[dict] = field(default_factory=list)  # a non-PostgreSQL source: each column's landing type

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == BLOCKING]

    @property
    def exit_code(self) -> int:
        """2 when migration.yml itself is wrong, 1 when the source blocks the migration, else 0."""
        if any(f.area == "configuration" for f in self.blocking):
            return EXIT_USAGE
        return EXIT_CHECK_FAILED if self.blocking else EXIT_OK

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["report"] = REPORT_NAME
        data["version"] = 1
        data["exit_code"] = self.exit_code
        return data
