"""The data-quality profile, computed inside the database over each table or a random sample of
it: per column nulls, blanks, distinct values, ranges, pattern classes, trial casts to the mapped
target type and top values; per table duplicates on its keys, growth per month, and the mapping's
expected_sql expressions tried on the legacy rows."""

from __future__ import annotations

import re

from harness import profiling
from harness.assess import names
from harness.assess.model import (
    BLOCKING,
    WARNING,
    ColumnProfile,
    Figure,
    Finding,
    TableAssessment,
)
from harness.core.config import Config, TableConfig
from harness.dbt import artifacts as dbt_artifacts
from harness.engines.postgres import assess as pg

DEFAULT_SAMPLE_ROWS = 100_000  # per table; a proportion's 95% margin is then at most ±0.31 points
SEED = 20090101  # the same sample on every run, so two assessments of unchanged data agree
COLUMNS_PER_QUERY = 40  # wide tables are profiled in groups, so no query exceeds the server's output columns
TOP_VALUES = 5
TOP_VALUES_MAX_DISTINCT = 5_000  # a column with more distinct values has no useful "top values"
READS_OTHER_RELATIONS = re.compile(r"\b(from|join)\b", re.IGNORECASE)


def figure(count: int | None, sample: int, population: int) -> Figure:
    count = int(count or 0)
    return Figure(count, profiling.share(count, sample), profiling.proportion_margin(count, sample, population))


def profile(
    conn: pg.Connection,
    config: Config,
    server: pg.ServerInfo,
    table: TableAssessment,
    table_config: TableConfig,
    cols: list[pg.ColumnInfo],
    targets: dict,
    sample_rows: int,
    findings: list[Finding],
) -> profiling.SamplePlan:
    """Fill in the table's sample and column profiles, top values, duplicates and growth; returns
    the sample plan, which the relationships read the same rows by."""
    schema = config.source_schema
    plan = profiling.sample_plan(table.rows, table.bytes.get("heap", 0), sample_rows)
    checks = [_checks(col, table, table_config, targets) for col in cols]
    n, figures = _figures(conn, schema, server, table, plan, checks)
    table.sample = {
        "method": plan.method,
        "percent": round(plan.percent, 4),
        "rows": n,
        "of_rows": table.rows,
        "exact_rows": table.rows_exact,
    }
    population = max(table.rows, n)
    for check, fig in zip(checks, figures):
        table.columns.append(
            _column_profile(check, fig, n, population, targets.get((table.name, check.column.name)), table_config)
        )

    _top_values(conn, schema, table, plan, cols)
    _duplicates(conn, schema, table, cols, findings)
    _growth(conn, schema, table, plan, cols)
    return plan


def _checks(col: pg.ColumnInfo, table: TableAssessment, table_config: TableConfig, targets: dict) -> pg.ColumnChecks:
    """What to measure of a column: its mask, and the target type it is mapped to (for trial casts)."""
    target = targets.get((table.name, col.name))
    parsed = dbt_artifacts.parse_type(target["type"]) if target else None
    target_type = (
        pg.TargetType(
            parsed.type,
            parsed.base,
            parsed.length,
            parsed.precision,
            parsed.scale,
            trial_cast=not target["expected_sql"],
        )
        if parsed
        else None
    )
    return pg.ColumnChecks(col, masked=col.name in table_config.masks, target=target_type)


def _figures(
    conn: pg.Connection,
    schema: str,
    server: pg.ServerInfo,
    table: TableAssessment,
    plan: profiling.SamplePlan,
    checks: list[pg.ColumnChecks],
) -> tuple[int, list[dict]]:
    """The rows profiled, and each column's raw figures: one scan per group of columns, then one
    pass that classifies the text columns' values."""
    n = 0
    figures: list[dict] = []
    for start in range(0, len(checks), COLUMNS_PER_QUERY):
        group = checks[start : start + COLUMNS_PER_QUERY]
        n, group_figures = pg.run_profile(
            conn, pg.profile_query(schema, table.name, plan, SEED, group, server), len(group)
        )
        figures.extend(group_figures)
    texts = [i for i, check in enumerate(checks) if check.column.is_text]
    if texts:
        query = pg.text_pattern_query(schema, table.name, plan, SEED, [checks[i].column for i in texts])
        for i, patterns in zip(texts, pg.run_text_patterns(conn, query, len(texts))):
            figures[i].update(patterns)
    return n, figures


def _column_profile(
    check: pg.ColumnChecks, fig: dict, n: int, population: int, target: dict | None, table_config: TableConfig
) -> ColumnProfile:
    col = check.column
    profile = ColumnProfile(col.name, col.type, col.not_null, figure(fig.get("nulls"), n, population))
    profile.distinct = fig.get("distinct")
    profile.masked = table_config.masks.get(col.name)
    if "min" in fig:
        profile.min = safe_text(fig["min"])
        profile.max = safe_text(fig["max"])
    if col.category == "B":
        profile.true_count = fig.get("true")
    if col.is_text:
        _text_profile(profile, fig, n, population)
    if col.is_float:
        profile.near_cents, profile.float_noise, profile.non_finite = (
            fig.get("near_cents"),
            fig.get("float_noise"),
            fig.get("non_finite"),
        )
    if col.base_type == "numeric":
        profile.max_scale = fig.get("max_scale")
    if target:
        profile.target = {k: v for k, v in target.items() if k not in ("plain", "expected_sql")}
        for key in ("too_long", "too_precise", "too_large", "cast_failures"):
            if key in fig:
                profile.target_checks[key] = figure(fig[key], n, population)
    if profile.sensitive or profile.masked:
        profile.min = profile.max = None
    return profile


def _text_profile(profile: ColumnProfile, fig: dict, n: int, population: int) -> None:
    """Blanks, lengths, pattern classes and dates of a text column; card numbers make it sensitive."""
    profile.blanks = figure(fig.get(f"class_{profiling.BLANK}"), n, population)
    profile.min_length, profile.max_length, profile.avg_length = (
        fig.get("min_length"),
        fig.get("max_length"),
        fig.get("avg_length"),
    )
    non_null = n - profile.nulls.count
    for key in [p.key for p in profiling.PATTERN_CLASSES] + [profiling.OTHER]:
        count = int(fig.get(f"class_{key}") or 0)
        if count:
            profile.classes[key] = Figure(
                count,
                profiling.share(count, non_null),
                profiling.proportion_margin(count, non_null, max(non_null, round(non_null * population / max(n, 1)))),
            )
    profile.invalid_dates = fig.get("invalid_dates")
    profile.ambiguous_dates = fig.get("ambiguous_dates")
    cards = profile.classes.get("card_number")
    # Random 13-19 digit identifiers pass Luhn one time in ten; real card numbers always do.
    profile.sensitive = bool(cards and cards.count >= 0.5 * int(fig.get("long_digits") or 0))


def try_expressions(
    conn: pg.Connection,
    config: Config,
    server: pg.ServerInfo,
    table: TableAssessment,
    plan: profiling.SamplePlan,
    items: list[dict],
    findings: list[Finding],
) -> None:
    """Evaluate each app column's expected_sql over the legacy rows: an error or a value its target
    type refuses shows up now, not in the middle of the cutover's build."""
    n = table.sample.get("rows", 0)
    for item in items:
        if READS_OTHER_RELATIONS.search(item["expression"]):
            # A lookup into target tables (app.product ...) cannot run on the source.
            table.expected_sql.append(
                {k: item[k] for k in ("model", "column", "type", "expression")}
                | {
                    "rows": 0,
                    "non_null": 0,
                    "cast_failures": None,
                    "error": None,
                    "skipped": "reads other relations, which the source does not have",
                }
            )
            continue
        result = pg.try_expression(
            conn, config.source_schema, table.name, item["alias"], plan, SEED, item["expression"], item["type"], server
        )
        entry = {k: item[k] for k in ("model", "column", "type", "expression")} | result
        table.expected_sql.append(entry)
        where = f"{item['model']}.{item['column']}"
        if result.get("error"):
            findings.append(
                Finding(
                    WARNING,
                    "mapping",
                    f"the expected_sql of {where} fails on the legacy rows of {table.name}: {result['error']}",
                    'fix the expression in the model YAML (it reads the landing row as "' + item["alias"] + '")',
                    table=table.name,
                )
            )
        elif result.get("cast_failures"):
            share = profiling.share(result["cast_failures"], n)
            findings.append(
                Finding(
                    WARNING,
                    "conversion",
                    f"{where}: {result['cast_failures']:,} of {n:,} profiled {table.name} rows give a value "
                    f"that {item['type']} refuses (by its expected_sql)",
                    "handle these values in the model or widen the target type",
                    table=table.name,
                    share=share,
                )
            )


def safe_text(value: object) -> str | None:
    """Values shown in a report: card numbers masked, long texts cut."""
    if value is None:
        return None
    text = profiling.mask_card_numbers(str(value))
    return text if len(text) <= 80 else text[:77] + "..."


def _top_values(
    conn: pg.Connection, schema: str, table: TableAssessment, plan: profiling.SamplePlan, cols: list[pg.ColumnInfo]
) -> None:
    by_name = {p.name: p for p in table.columns}
    n = table.sample.get("rows", 0)

    def repeats(p: ColumnProfile) -> bool:
        """Top values say something only when values repeat: at most one distinct value per two rows."""
        return p.distinct is not None and 0 < p.distinct <= min(TOP_VALUES_MAX_DISTINCT, (n - p.nulls.count) / 2)

    wanted = [
        c
        for c in cols
        if c.sortable and not by_name[c.name].sensitive and not by_name[c.name].masked and repeats(by_name[c.name])
    ]
    for name, values in pg.top_values(conn, schema, table.name, plan, SEED, wanted, TOP_VALUES).items():
        by_name[name].top_values = [
            {"value": safe_text(v), "count": c, "share": profiling.share(c, n)} for v, c in values
        ]


def _duplicate_checks(
    table: TableAssessment, cols: list[pg.ColumnInfo]
) -> list[tuple[list[str], bool, str, str | None]]:
    """(columns, ignoring case and blanks, why, pattern the values must match): the declared key
    (unless an index guarantees it) and the likely natural keys."""
    by_name = {c.name: c for c in cols}
    guaranteed = any(set(k["columns"]) == set(table.key) for k in table.unique_keys)
    email_pattern = next(p.regex for p in profiling.PATTERN_CLASSES if p.key == "email")
    checks: list[tuple[list[str], bool, str, str | None]] = []
    if table.key and not guaranteed:
        checks.append((table.key, False, f"declared key ({table.key_from})", None))
    if len(table.key) == 1 and by_name[table.key[0]].is_text:
        checks.append((table.key, True, "key ignoring case and blanks", None))
    profiles = {p.name: p for p in table.columns}
    for col in cols:
        p = profiles[col.name]
        if not col.is_text or p.sensitive or p.masked or [col.name] == table.key:
            continue
        non_blank = (table.sample.get("rows", 0) - p.nulls.count - (p.blanks.count if p.blanks else 0)) or 0
        emails = p.classes.get("email")
        email_like = emails is not None and emails.count >= 0.5 * max(non_blank, 1)
        distinct_ratio = profiling.share(p.distinct or 0, table.sample.get("rows", 0) - p.nulls.count)
        if email_like:
            checks.append(
                ([col.name], True, "likely natural key: valid e-mails ignoring case and blanks", email_pattern)
            )
        elif names.is_natural_key_name(col.name) and distinct_ratio >= 0.9:
            checks.append(([col.name], True, "likely natural key, ignoring case and blanks", None))
    return checks


def _duplicates(
    conn: pg.Connection, schema: str, table: TableAssessment, cols: list[pg.ColumnInfo], findings: list[Finding]
) -> None:
    """Duplicates on the declared key and on likely natural keys, counted over the whole table."""
    for columns, normalise, why, pattern in _duplicate_checks(table, cols):
        found = pg.duplicates(conn, schema, table.name, columns, normalise, pattern)
        share = profiling.share(found["extra_rows"], table.rows)
        table.duplicates.append(
            {"columns": columns, "normalised": normalise, "why": why, **found, "extra_share": share}
        )
        label = ", ".join(columns)
        if why.startswith("declared"):
            if found["groups"]:
                findings.append(
                    Finding(
                        BLOCKING,
                        "keys",
                        f"{table.name}: {found['extra_rows']:,} rows repeat a value of its key ({label})",
                        "choose a key that identifies one row, or clean the duplicates at the source",
                        table=table.name,
                        share=share,
                    )
                )
            if found["rows_with_null_key"]:
                findings.append(
                    Finding(
                        BLOCKING,
                        "keys",
                        f"{table.name}: {found['rows_with_null_key']:,} rows have a NULL in the key ({label})",
                        "choose key columns that are never NULL",
                        table=table.name,
                        share=profiling.share(found["rows_with_null_key"], table.rows),
                    )
                )
        elif found["groups"]:
            findings.append(
                Finding(
                    WARNING,
                    "quality",
                    f"{table.name}.{label}: {found['extra_rows']:,} rows ({share:.1%}) duplicate another row's value "
                    f"ignoring case and blanks ({found['groups']:,} groups)",
                    "decide in the mapping which row survives and record the merges",
                    table=table.name,
                    column=label,
                    share=share,
                )
            )


def _growth(
    conn: pg.Connection, schema: str, table: TableAssessment, plan: profiling.SamplePlan, cols: list[pg.ColumnInfo]
) -> None:
    """Rows per month from the column that best tells when a row arrived, scaled from the sample."""
    profiles = {p.name: p for p in table.columns}
    candidates = []
    for col in cols:
        typed = col.is_date_like
        texty = col.is_text and _date_share(profiles[col.name]) >= 0.5
        if not (typed or texty):
            continue
        rank = names.creation_date_rank(col.name, typed)
        if rank is not None:
            candidates.append((rank, col.position, col))
    if not candidates:
        return
    _, _, col = min(candidates, key=lambda c: (c[0], c[1]))
    months = pg.monthly_counts(conn, schema, table.name, plan, SEED, col)
    if not months:
        return
    n = table.sample.get("rows", 0) or 1
    scale = table.rows / n if n else 1.0
    scaled = [{"month": m, "rows": round(c * scale)} for m, c in months]
    last12 = scaled[-12:]
    per_month = sum(m["rows"] for m in last12) / len(last12)
    bytes_per_row = table.bytes.get("total", 0) / table.rows if table.rows else 0
    table.growth = {
        "column": col.name,
        "first_month": scaled[0]["month"],
        "last_month": scaled[-1]["month"],
        "months": scaled,
        "rows_per_month_last_12": round(per_month),
        "bytes_per_month": round(per_month * bytes_per_row),
        "how": f"rows per calendar month of {col.name}"
        + (f", counted in the sample and scaled ×{scale:,.1f}" if plan.sampled else ""),
    }


def _date_share(profile: ColumnProfile) -> float:
    dates = sum(f.count for k, f in profile.classes.items() if profiling.CLASS_KINDS.get(k) == "date")
    non_blank = sum(f.count for f in profile.classes.values())
    return profiling.share(dates, non_blank)
