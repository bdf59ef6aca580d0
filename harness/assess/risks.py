"""Conversion risks and sensitive data, column by column, from the profile: card numbers, text
holding dates or numbers, float money, values the mapped target type refuses, types the target
may not have, and timestamps without a time zone."""

from __future__ import annotations

from harness import profiling
from harness.assess import names
from harness.assess.mapping import plain_rule
from harness.assess.model import (
    BLOCKING,
    INFO,
    WARNING,
    ColumnProfile,
    Finding,
    TableAssessment,
)
from harness.engines.postgres import assess as pg

TARGET_CHECKS = (
    ("too_long", "longer than"),
    ("too_precise", "more decimals than"),
    ("too_large", "too large for"),
    ("cast_failures", "failing a trial cast to"),
)


def column_findings(table: TableAssessment, cols: list[pg.ColumnInfo], findings: list[Finding]) -> None:
    """Each profiled column's risks (in p.risks) and the findings they call for."""
    n = table.sample.get("rows", 0)
    by_name = {c.name: c for c in cols}
    for p in table.columns:
        col = by_name[p.name]
        if p.sensitive:
            _card_numbers(table, p, findings)
        non_blank = sum(f.count for f in p.classes.values())
        if col.is_text and non_blank:
            dates = _text_dates(table, p, n, non_blank, findings)
            _text_numbers(table, p, n, non_blank, dates, findings)
        if col.is_float and p.near_cents is not None:
            _float_money(table, p, n, findings)
        if col.is_timestamp_without_zone:
            p.risks.append("timestamp without time zone")
        if p.target and p.target_checks:
            _target_refusals(table, p, findings)
        if col.is_user_defined_type or col.is_system_type:
            _unsupported_type(table, p, col, findings)


def _card_numbers(table: TableAssessment, p: ColumnProfile, findings: list[Finding]) -> None:
    where = f"{table.name}.{p.name}"
    cards = p.classes["card_number"]
    if p.masked:
        findings.append(
            Finding(
                INFO,
                "sensitive",
                f"{where} holds full card numbers ({cards.share:.1%} of values); migration.yml masks it ({p.masked})",
                table=table.name,
                column=p.name,
                share=cards.share,
            )
        )
    else:
        findings.append(
            Finding(
                BLOCKING,
                "sensitive",
                f"{where} holds full card numbers ({cards.count:,} Luhn-valid values in the profiled rows) and "
                "migration.yml does not mask it",
                f"add masks: {{{p.name}: last4}} under tables.{table.name} in migration.yml",
                table=table.name,
                column=p.name,
                share=cards.share,
            )
        )
    p.risks.append("sensitive: card numbers")


def _text_dates(table: TableAssessment, p: ColumnProfile, n: int, non_blank: int, findings: list[Finding]) -> int:
    """A finding when most values are dates; returns how many values are dates."""
    date_classes = {k: f for k, f in p.classes.items() if profiling.CLASS_KINDS.get(k) == "date"}
    dates = sum(f.count for f in date_classes.values())
    if dates < 0.5 * non_blank:
        return dates
    formats = ", ".join(
        f"{profiling.CLASS_LABELS[k]} {f.share:.1%}"
        for k, f in sorted(date_classes.items(), key=lambda kv: -kv[1].count)
    )
    other = non_blank - dates
    extra = []
    if p.invalid_dates:
        extra.append(f"{p.invalid_dates:,} impossible dates")
    if p.ambiguous_dates:
        extra.append(f"{p.ambiguous_dates:,} could be day-first or month-first")
    if other:
        extra.append(f"{other:,} not dates at all")
    bad = (p.invalid_dates or 0) + other
    p.risks.append("text holding dates")
    findings.append(
        Finding(
            WARNING,
            "conversion",
            f"{table.name}.{p.name} is text holding dates in {len(date_classes)} format(s): {formats}"
            + (f"; {', '.join(extra)} in {n:,} profiled rows" if extra else ""),
            "parse each format explicitly in staging; send the unparseable to quarantine or a finding",
            table=table.name,
            column=p.name,
            share=profiling.share(bad, n),
        )
    )
    return dates


def _text_numbers(
    table: TableAssessment, p: ColumnProfile, n: int, non_blank: int, dates: int, findings: list[Finding]
) -> None:
    numbers = p.classes.get("number")
    formatted = p.classes.get("formatted_number")
    numeric_count = (numbers.count if numbers else 0) + (formatted.count if formatted else 0)
    if numeric_count < 0.5 * non_blank or dates >= 0.5 * non_blank or p.sensitive:
        return
    p.risks.append("text holding numbers")
    detail = f"; {formatted.count:,} formatted (currency signs, separators, comma decimals)" if formatted else ""
    findings.append(
        Finding(
            WARNING if formatted else INFO,
            "conversion",
            f"{table.name}.{p.name} is text holding numbers "
            f"({profiling.share(numeric_count, non_blank):.1%} of values){detail}",
            "parse it in staging with an explicit rule for each format",
            table=table.name,
            column=p.name,
            share=profiling.share(formatted.count if formatted else 0, n),
        )
    )


def _float_money(table: TableAssessment, p: ColumnProfile, n: int, findings: list[Finding]) -> None:
    values = n - p.nulls.count - (p.non_finite or 0)
    money = names.is_money_name(p.name) or (values >= 10 and p.near_cents >= 0.9 * values)
    if not (money and values):
        return
    p.risks.append("float money")
    noise = (
        f"; {p.float_noise:,} of {n:,} profiled values carry float noise (not exactly a cent value)"
        if p.float_noise
        else ""
    )
    findings.append(
        Finding(
            WARNING,
            "conversion",
            f"{table.name}.{p.name} is float money ({p.type}){noise}",
            "convert to integer cents (or numeric) with explicit rounding, half away from zero",
            table=table.name,
            column=p.name,
            share=profiling.share(p.float_noise or 0, n),
        )
    )


def _target_refusals(table: TableAssessment, p: ColumnProfile, findings: list[Finding]) -> None:
    """Values the mapped target column refuses; only a note when a rule transforms them first."""
    plain = plain_rule(p.target.get("rule"))
    for key, text in TARGET_CHECKS:
        figure = p.target_checks.get(key)
        if figure and figure.count:
            p.risks.append(key.replace("_", " "))
            target = f"{p.target['model']}.{p.target['column']} {p.target['type']}"
            rule = "" if plain else f" (before its rule: {p.target['rule']})"
            findings.append(
                Finding(
                    WARNING if plain else INFO,
                    "conversion",
                    f"{table.name}.{p.name}: {figure.count:,} values ({figure.share:.1%}) {text} {target}{rule}",
                    "widen the target type or handle these values in the mapping",
                    table=table.name,
                    column=p.name,
                    share=figure.share,
                )
            )


def _unsupported_type(table: TableAssessment, p: ColumnProfile, col: pg.ColumnInfo, findings: list[Finding]) -> None:
    p.risks.append("unsupported type")
    what = (
        "money depends on the server's locale"
        if col.is_money
        else (
            f"type {col.type} must exist in the target before load"
            if col.is_user_defined_type
            else f"system type {col.type}"
        )
    )
    findings.append(
        Finding(
            WARNING,
            "types",
            f"{table.name}.{p.name}: {what}",
            "create the type in the target or cast it to a standard type in the copy",
            table=table.name,
            column=p.name,
        )
    )


def local_time_finding(server: pg.ServerInfo, tables: list[TableAssessment], findings: list[Finding]) -> None:
    """One finding for every timestamp without time zone: the decision (which zone) is one too."""
    local = [f"{t.name}.{p.name}" for t in tables for p in t.columns if "timestamp without time zone" in p.risks]
    if local:
        zone = server.settings.get("TimeZone", "?")
        findings.append(
            Finding(
                WARNING,
                "conversion",
                f"{len(local)} timestamp column(s) without time zone: {', '.join(local)}; the zone they were "
                "written in is not stored",
                f"name the zone in the mapping (the source server's TimeZone is {zone}) and decide the "
                "DST gap and repeated hour",
            )
        )
