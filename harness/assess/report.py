"""reports/assessment/<run>/assessment.md: one screen for a project manager, then the detail,
laid out as blocks from the assessment's JSON alone and rendered by harness.render."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness import profiling, reports
from harness.assess.estimates import STRATEGY_LABELS, format_duration
from harness.assess.model import REPORT_NAME
from harness.render import Block, Document, charts, html_page, write_atomic
from harness.reports import format_bytes, format_count, format_rate, format_share

VERDICT_ICON = {"blocked": "🔴", "ready_with_risks": "🟠", "ready": "🟢"}
SEVERITY = {"blocking": "blocking", "warning": "warning", "info": "info"}
PHASES = (
    ("initial_load", "initial load"),
    ("build", "build (dbt)"),
    ("validation", "validation"),
    ("final_sync", "final sync"),
    ("freeze", "freeze and switch"),
)


@dataclass(frozen=True)
class Written(reports.Written):
    html: Path


def write_report(reports_root, result) -> Written:
    """The assessment as assessment.json and its Markdown in a new run folder (see reports.write), and
    the self-contained assessment.html beside them, with its charts, rendered from the same JSON."""
    written = reports.write(reports_root, REPORT_NAME, result.to_dict(), assessment_markdown)
    page = write_atomic(written.json.with_suffix(".html"), assessment_html(json.loads(written.json.read_text())))
    return Written(written.json, written.markdown, page)


def assessment_markdown(data: dict) -> str:
    """reports/assessment.md: one screen for a project manager, then the detail."""
    return document(data).render()


def assessment_html(data: dict) -> str:
    """reports/assessment.html: the same blocks as one page, its charts drawn (harness.render)."""
    return html_page(document(data).blocks, f"Assessment: {data['migration']}")


def document(data: dict) -> Document:
    """The assessment laid out as blocks, from its JSON alone."""
    doc = Document()
    doc.heading(1, f"Assessment: {data['migration']}")
    doc.paragraph(
        f"{data['assessed_at']} · source {data['source']['database']} schema `{data['source']['schema']}` "
        f"({data['source'].get('engine', 'PostgreSQL')} {data['source']['server_version']}) · target {data['target']['database']} · took {format_duration(data['seconds'])}"
    )
    _summary(doc, data)
    doc.heading(2, "Detail")
    _findings(doc, data)
    _tables(doc, data)
    _relationships(doc, data)
    _profiles(doc, data)
    _mapping(doc, data)
    _type_mapping(doc, data)
    _target_schema(doc, data)
    _time(doc, data)
    _constraints(doc, data)
    _method(doc, data)
    return doc


def _summary(doc: Document, data: dict) -> None:
    verdict = data["verdict"]
    doc.paragraph(f"{VERDICT_ICON.get(verdict['status'], '')} **{verdict['headline']}.**")
    rec = data["recommendation"]
    limit = data.get("downtime_limit_minutes")
    if rec.get("strategy"):
        doc.paragraph(
            f"**Recommended strategy: {STRATEGY_LABELS[rec['strategy']]}** (migration.yml: {STRATEGY_LABELS.get(data['configured_strategy'], data['configured_strategy'])})."
        )
    doc.bullets(rec.get("reasons") or [])
    rows = []
    for s in data["strategies"]:
        fits = "–" if s["within_limit"] is None else ("yes" if s["within_limit"] else "**no**")
        possible = "yes" if s["possible"] else "no: " + "; ".join(s["missing"])
        rows.append(
            [
                STRATEGY_LABELS[s["name"]],
                format_duration(s["downtime_seconds"]),
                format_duration(s["total_seconds"]),
                fits,
                possible,
            ]
        )
    limit_text = f"limit {format_duration(limit * 60)}" if limit else "no limit set"
    doc.table(["strategy", "downtime", "total duration", f"fits ({limit_text})", "possible"], rows, "lrrll")
    est = data["estimates"]
    doc.table(
        ["phase", "estimate", "from"],
        [[label, format_duration(est[key]["seconds"]), _basis(est[key])] for key, label in PHASES],
        "lrl",
    )
    measured = data.get("measured")
    if measured and measured.get("load_run"):
        run = measured["load_run"]
        if measured.get("estimate"):
            e = measured["estimate"]
            doc.paragraph(
                f"**Estimate against the real load:** on {e['assessed_at']} the initial load was estimated at "
                f"{format_duration(e['seconds'])}; the load that finished {run.get('finished_at') or ''} took "
                f"{format_duration(run['seconds'])} (error {measured['error']:+.0%})."
            )
        else:
            doc.paragraph(f"**Measured load:** {format_duration(run['seconds'])}; {measured.get('note', '')}.")
    top = [f for f in data["findings"] if f["severity"] in ("blocking", "warning")][:7]
    if top:
        doc.paragraph("**Top risks**")
        doc.bullets(
            f"**{SEVERITY[f['severity']]}** ({f['area']}): {f['message']}" + (f" → {f['fix']}" if f.get("fix") else "")
            for f in top
        )
    totals = _totals(data)
    doc.paragraph(
        f"Volume: {totals['tables']} tables, {format_count(totals['rows'])} rows, {format_bytes(totals['bytes'])} "
        f"(heap + TOAST + indexes). Findings: {verdict['blocking']} blocking, {verdict['warnings']} warnings, {verdict['info']} notes."
    )


def _totals(data: dict) -> dict:
    tables = [t for t in data["tables"] if t["exists"]]
    return {
        "tables": len(tables),
        "rows": sum(t["rows"] for t in tables),
        "bytes": sum(t["bytes"].get("total", 0) for t in tables),
    }


def _findings(doc: Document, data: dict) -> None:
    doc.heading(3, "All findings")
    doc.table(
        ["severity", "area", "finding", "fix"],
        [[f["severity"], f["area"], f["message"], f.get("fix") or ""] for f in data["findings"]],
        "llll",
    )


def _tables(doc: Document, data: dict) -> None:
    doc.heading(3, "Tables and volume")
    rows = []
    for t in data["tables"]:
        if not t["exists"]:
            rows.append([t["name"], "does not exist", "", "", "", "", "", "", ""])
            continue
        count = format_count(t["rows"]) + ("" if t["rows_exact"] else " (estimate, pg_class)")
        growth = t.get("growth")
        rows.append(
            [
                t["name"],
                count,
                format_bytes(t["bytes"].get("heap")),
                format_bytes(t["bytes"].get("toast")),
                format_bytes(t["bytes"].get("indexes")),
                ", ".join(t["key"]) + (f" ({t['key_from']})" if t["key_from"] else "") or "**none**",
                len(t["indexes"]),
                len([tr for tr in t["triggers"]]),
                f"{format_count(growth['rows_per_month_last_12'])} rows, {format_bytes(growth['bytes_per_month'])} ({growth['column']})"
                if growth
                else "–",
            ]
        )
    doc.table(
        ["table", "rows", "heap", "TOAST", "index bytes", "key", "indexes", "triggers", "growth per month (last 12)"],
        rows,
        "lrrrrlrrl",
    )
    doc.paragraph(
        "Rows are exact counts unless marked as pg_class estimates. Growth is counted per calendar month of the "
        "column named, over the profiled rows and scaled to the table."
    )
    existing = [t for t in data["tables"] if t["exists"]]
    if existing:
        doc.add(
            charts.stacked_bars(
                "assessment-volumes",
                "Rows per legacy table at the assessment",
                [t["name"] for t in existing],
                {"rows": [t["rows"] for t in existing]},
            )
        )


def _relationships(doc: Document, data: dict) -> None:
    doc.heading(3, "Relationships")
    rows = []
    for r in data["relationships"]:
        if r["declared"]:
            rows.append(
                [
                    f"{r['child_table']}.{r['child_column']}",
                    f"{r['parent_table']}.{r['parent_column']}",
                    "declared",
                    "100%",
                    "–",
                    "0%",
                ]
            )
            continue
        rows.append(
            [
                f"{r['child_table']}.{r['child_column']}",
                f"{r['parent_table']}.{r['parent_column']}",
                "likely" if r["likely"] else "not related",
                format_share(r["match_rate"], r["margin"]),
                format_share(r["normalised_match_rate"]) if r["normalised_match_rate"] is not None else "–",
                format_share(r["orphan_rate"]),
            ]
        )
    doc.table(["column", "references", "status", "values found", "ignoring case/blanks", "orphans"], rows, "llllrr")
    doc.paragraph(
        "Undeclared relationships are proposed from column names and confirmed by values: the share of the "
        "column's non-null (sampled) values found in the parent's key."
    )


def _column_row(c: dict) -> list:
    classes = ", ".join(
        f"{profiling.CLASS_LABELS.get(k, k)} {format_share(f['share'], f['margin'])}"
        for k, f in sorted(c["classes"].items(), key=lambda kv: -kv[1]["count"])
    )
    top = ", ".join(f"{v['value']!s} ({format_share(v['share'])})" for v in c["top_values"][:3])
    extra = []
    if c.get("invalid_dates"):
        extra.append(f"{c['invalid_dates']:,} impossible dates")
    if c.get("ambiguous_dates"):
        extra.append(f"{c['ambiguous_dates']:,} day/month ambiguous")
    if c.get("float_noise"):
        extra.append(f"{c['float_noise']:,} with float noise")
    for key, figure in (c.get("target_checks") or {}).items():
        if figure["count"]:
            extra.append(f"{key.replace('_', ' ')}: {figure['count']:,}")
    if c.get("sensitive"):
        extra.append(f"masked: {c['masked']}" if c.get("masked") else "NOT masked in migration.yml")
    elif c.get("masked"):
        extra.append(f"masked: {c['masked']}")
    range_text = f"{c['min']} … {c['max']}" if c.get("min") is not None else ""
    return [
        c["name"],
        c["type"],
        format_share(c["nulls"]["share"], c["nulls"]["margin"]),
        format_share(c["blanks"]["share"], c["blanks"]["margin"]) if c.get("blanks") else "–",
        format_count(c.get("distinct")),
        range_text,
        classes or "–",
        top or "–",
        "; ".join([*c.get("risks", []), *extra]) or "",
    ]


def _profiles(doc: Document, data: dict) -> None:
    doc.heading(3, "Data-quality profile")
    doc.paragraph(
        "Shares with ± are from a random sample; ± is the 95% margin in percentage points for the whole table. "
        "Distinct counts are within the profiled rows. Card numbers are never shown."
    )
    for t in data["tables"]:
        if not t["exists"] or not t["columns"]:
            continue
        sample = t["sample"]
        how = (
            "every row"
            if sample["method"] == "full"
            else f"{sample['method'].upper()} sample of {sample['rows']:,} rows ({sample['percent']:.2f}%) of {t['rows']:,}"
        )
        doc.heading(4, f"{t['name']} ({how})")
        doc.table(
            ["column", "type", "null", "blank", "distinct", "min … max", "patterns", "top values", "risks and notes"],
            [_column_row(c) for c in t["columns"]],
            "llrrrllll",
        )
        if t["duplicates"]:
            doc.table(
                ["duplicates on", "how", "groups", "extra rows", "share", "rows with a NULL key"],
                [
                    [
                        ", ".join(d["columns"]),
                        d["why"],
                        format_count(d["groups"]),
                        format_count(d["extra_rows"]),
                        format_share(d["extra_share"]),
                        format_count(d["rows_with_null_key"]),
                    ]
                    for d in t["duplicates"]
                ],
                "llrrrr",
            )
        if t.get("expected_sql"):
            doc.table(
                ["app column", "expected_sql", "rows tried", "refused by the type", "error or note"],
                [
                    [
                        f"{e['model']}.{e['column']} ({e['type']})",
                        f"`{e['expression']}`",
                        format_count(e["rows"]),
                        format_count(e["cast_failures"]),
                        e["error"] or (f"not tried: {e['skipped']}" if e.get("skipped") else ""),
                    ]
                    for e in t["expected_sql"]
                ],
                "llrrl",
            )


def _mapping(doc: Document, data: dict) -> None:
    doc.heading(3, "Mapping coverage")
    mapping = data["mapping"]
    if not mapping["checked"]:
        doc.paragraph(f"Not checked: {mapping.get('reason')}. Run `dbt parse` (or `migrate build`) and assess again.")
        return
    doc.paragraph(
        f"{len(mapping['mapped'])} target columns documented, {len(mapping['dispositions'])} legacy columns with a disposition."
    )
    doc.paragraph("**Legacy columns with no mapping and no disposition**")
    doc.table(["table", "column"], [[u["table"], u["column"]] for u in mapping["unmapped_source_columns"]], "ll")
    doc.paragraph("**Target columns with no legacy source**")
    doc.table(
        ["model", "column", "rule"],
        [[u["model"], u["column"], u["rule"] or "**none**"] for u in mapping["unsourced_target_columns"]],
        "lll",
    )


def _type_mapping(doc: Document, data: dict) -> None:
    """A source on another engine than PostgreSQL: each column's type there and its landing type."""
    rows = data.get("type_mapping") or []
    if not rows:
        return
    doc.heading(3, f"Landing types ({data['source'].get('engine', 'source')} → PostgreSQL)")
    doc.table(
        ["table", "column", "source type", "landing type", "note"],
        [[r["table"], r["column"], r["mysql_type"], r["landing_type"], r["note"]] for r in rows],
        "lllll",
    )
    doc.paragraph(
        "Each landing type holds every value of its source type, so that landing is an exact copy (docs/mysql.md)."
    )


def _target_schema(doc: Document, data: dict) -> None:
    doc.heading(3, "Target schema (dbt)")
    schema = data["target_schema"]
    if not schema["manifest"]:
        doc.paragraph("No target/manifest.json yet: the target schema was not read.")
        return
    targets = [m for m in schema["models"] if m["target"]]
    doc.paragraph(
        f"Project `{schema['project']}`: {len(schema['models'])} models, {len(targets)} of them target tables; "
        + (
            "types from target/catalog.json."
            if schema["catalog"]
            else "types as declared in the YAML (no catalog.json)."
        )
    )
    doc.table(
        ["model", "relation", "materialized", "contract", "columns"],
        [
            [
                m["name"],
                m["relation"],
                m["materialized"],
                "enforced" if m["contract_enforced"] else "–",
                ", ".join(f"{c['name']} {c['type'] or '?'}" for c in m["columns"]),
            ]
            for m in targets
        ],
        "lllll",
    )


def _time(doc: Document, data: dict) -> None:
    doc.heading(3, "Time and downtime")
    est = data["estimates"]
    doc.table(
        ["phase", "estimate", "from", "how it was obtained"],
        [[label, format_duration(est[key]["seconds"]), _basis(est[key]), est[key]["how"]] for key, label in PHASES],
        "lrll",
    )
    rows = []
    for t in data["tables"]:
        timing = t.get("timing") or {}
        if not timing:
            continue
        rows.append(
            [
                t["name"],
                format_count(timing["copy_rows"]),
                format_rate(timing["copy_rows_per_second"], "rows"),
                format_bytes(timing["copy_bytes_per_second"]) + "/s",
                format_rate(timing["transform_rows_per_second"], "rows"),
                format_rate(timing["hash_rows_per_second"], "rows"),
                f"{t['changes_per_second']:,.2f}",
            ]
        )
    doc.table(
        ["table", "rows timed", "copy", "copy bytes", "cleanse and cast", "md5 hashing", "changes/s now"],
        rows,
        "lrrrrrr",
    )
    per_table = data.get("per_table_estimates") or []
    doc.table(
        ["table", "load", "build share", "validation"],
        [
            [p["name"], format_duration(p["load"]), format_duration(p["build"]), format_duration(p["validation"])]
            for p in per_table
        ],
        "lrrr",
    )
    if data["strategies"]:
        doc.add(_strategy_chart(data["strategies"]))
    for s in data["strategies"]:
        doc.paragraph(
            f"**{STRATEGY_LABELS[s['name']]}**: {format_duration(s['downtime_seconds'])} of downtime; {s['how']}."
        )
        if s.get("waves") and len(s["waves"]) > 1:
            doc.table(
                ["wave", "tables", "rows", "freeze", "copy", "build", "validation", "window"],
                wave_rows(s["waves"]),
                "rlrrrrrr",
            )
    history = data.get("history") or []
    if len(history) > 1:
        doc.paragraph("**Earlier estimates** (reports/assessment.json keeps them)")
        doc.table(
            ["assessed at", "rows", "initial load", "build", "validation"],
            [
                [
                    h["assessed_at"],
                    format_count(h.get("source_rows")),
                    format_duration((h.get("estimates") or {}).get("initial_load")),
                    format_duration((h.get("estimates") or {}).get("build")),
                    format_duration((h.get("estimates") or {}).get("validation")),
                ]
                for h in history[-10:]
            ],
            "lrrrr",
        )


# A chart's unit: the largest that keeps the longest figure at least 2 of it.
UNITS = (("hours", 3600.0), ("minutes", 60.0), ("seconds", 1.0))


def _strategy_chart(strategies: list[dict]) -> Block:
    """Each strategy's estimated downtime beside its total duration, in one unit."""
    longest = max(max(s["downtime_seconds"], s["total_seconds"]) for s in strategies)
    unit, size = next((u for u in UNITS if longest >= 2 * u[1]), UNITS[-1])
    return charts.bars(
        "assessment-strategies",
        f"Estimated downtime and total duration per strategy ({unit})",
        [STRATEGY_LABELS[s["name"]] for s in strategies],
        {
            label: [round(s[key] / size, 2) for s in strategies]
            for label, key in (("downtime", "downtime_seconds"), ("total duration", "total_seconds"))
        },
        unit,
    )


def _basis(estimate: dict) -> str:
    """measured (in which run), estimated or assumed: where a figure comes from."""
    basis = estimate.get("basis") or "estimated"
    return f"{basis} in {estimate['measured_in']}" if estimate.get("measured_in") else basis


def wave_rows(waves: list[dict]) -> list[list]:
    """A phased migration's waves, one row each: its tables, rows and the parts of its window."""
    return [
        [
            w["wave"],
            ", ".join(w["tables"]),
            format_count(w.get("rows")),
            *(
                format_duration(w.get(part))
                for part in ("freeze_seconds", "copy_seconds", "build_seconds", "validation_seconds")
            ),
            format_duration(w["downtime_seconds"]),
        ]
        for w in waves
    ]


def _constraints(doc: Document, data: dict) -> None:
    doc.heading(3, "Constraints: privileges, settings, triggers")
    p, src = data["privileges"], data["source"]
    doc.key_value(
        [
            [
                "user",
                f"{src['user']}"
                + (" (superuser)" if src["superuser"] else "")
                + (" (replication)" if src["replication"] else ""),
            ],
            ["USAGE / CREATE on the schema", f"{_yes(p['schema_usage'])} / {_yes(p['schema_create'])}"],
            ["CREATE on the database", _yes(p["database_create"])],
            [
                "trigger capture possible",
                _yes(p["capture_trigger"])
                + ("" if p["capture_trigger"] else ": needs " + "; ".join(p["capture_trigger_missing"])),
            ],
            [
                "timestamp capture possible",
                _yes(p["capture_timestamp"])
                + ("" if p["capture_timestamp"] else ": needs " + "; ".join(p["capture_timestamp_missing"])),
            ],
            ["capture method in migration.yml", p["capture_method"]],
            ["logical decoding available", _yes(p["logical_decoding"])],
            *sorted(src["settings"].items()),
            ["server version: source / target", f"{src['server_version']} / {data['target'].get('server_version')}"],
            ["database encoding and locale: source", _locale(src.get("locale"))],
            ["database encoding and locale: target", _locale(data["target"].get("locale"))],
        ],
        headers=("check", "result"),
    )
    triggers = [
        [t["name"], tr["name"], tr["enabled"], tr["definition"]]
        for t in data["tables"]
        if t["exists"]
        for tr in t["triggers"]
    ]
    rules = [[t["name"], r["name"], "", r["definition"]] for t in data["tables"] if t["exists"] for r in t["rules"]]
    doc.table(["table", "trigger / rule", "state", "definition"], triggers + rules, "llll")
    indexes = [
        [t["name"], i["name"], format_bytes(i["bytes"]), i["definition"]]
        for t in data["tables"]
        if t["exists"]
        for i in t["indexes"]
    ]
    doc.table(["table", "index", "size", "definition"], indexes, "llrl")


def _locale(options: dict | None) -> str:
    return ", ".join(f"{name} {value}" for name, value in (options or {}).items() if value is not None) or "?"


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _method(doc: Document, data: dict) -> None:
    doc.heading(3, "How the figures were obtained")
    sampling = data["sampling"]
    doc.bullets(
        [
            f"Profiles run inside the database: one scan per table (per 40 columns) for the figures and one grouped pass "
            f"that classifies each distinct text value once, over every row up to "
            f"{int(sampling['target_rows'] * 1.5):,} rows, else a random sample of about {sampling['target_rows']:,} rows "
            f"(TABLESAMPLE BERNOULLI, SYSTEM above 2 GB, REPEATABLE seed {sampling['seed']}).",
            f"Margins: {sampling['margin']}, at {sampling['confidence']:.0%} confidence.",
            "Duplicates on keys are counted over the whole table; orphans over the sample of the referencing table against the whole parent.",
            "Throughput: one key range of each table is copied, keyed and analysed by load's own code into a scratch schema of the "
            "target (dropped afterwards); each table's timing sample is cast and cleansed with a representative SELECT, and hashed with md5.",
            *[f"Assumption: {name.replace('_', ' ')} = {value}" for name, value in data["assumptions"].items()],
            *data.get("notes", []),
        ]
    )
