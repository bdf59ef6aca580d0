"""reconciliation.{json,md,html} in the run's report folder: the reconciliation report, rendered from its JSON alone.

The content is laid out once, as blocks (headings, paragraphs, bullets, tables), from the JSON
dict; Markdown and a self-contained HTML page are two renderings of the same blocks
(harness.render), so they cannot disagree. The status of every level comes first, the details after.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness import render, reports
from harness.render import Block, bullets, charts, heading, paragraph, table

ICON = {"passed": "✅", "failed": "❌", "skipped": "➖", "not available": "➖"}
SHOWN_DIFFERENCES = 50  # rows per table listed in the report; the JSON has all that were found


def _values(values: dict[str, dict[str, str | None]]) -> str:
    """Each differing column's value on both sides, as the checksums compared them (NULL as NULL)."""
    shown = lambda v: "NULL" if v is None else repr(v)  # noqa: E731  repr: blanks and control characters visible
    return "; ".join(f"{column}: {shown(v['source'])} → {shown(v['landing'])}" for column, v in values.items())


def _value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value == int(value) else f"{value:,.15g}"
    return str(value)


def blocks(data: dict) -> Iterator[Block]:
    yield heading(f"Reconciliation: {data['migration']}", 1)
    point = data.get("point") or {}
    facts = [f"{data['started_at']}", f"reconcile run {data['reconcile_id']}", f"took {data['seconds']:,.1f} s"]
    if point.get("snapshot"):
        facts.append(f"source snapshot `{point['snapshot']}`")
    yield paragraph(" · ".join(facts))
    verdict = data["verdict"]
    yield paragraph(
        f"{ICON.get(verdict, '')} **{'Every selected level passed' if verdict == 'passed' else 'Some level failed'}.**"
    )
    yield table(
        ("level", "verdict", "checks passed", "failed", "not available", "seconds"),
        [
            [
                f"{ICON.get(level['verdict'], '')} {level['level']}",
                level["verdict"],
                level["passed"],
                level["failed"],
                level["not_available"],
                f"{level['seconds']:,.1f}",
            ]
            for level in data["levels"]
        ],
        "llrrrr",
    )
    yield charts.stacked_bars(
        "levels",
        "Checks per level: passed, failed, not available",
        [level["level"] for level in data["levels"]],
        {
            "passed": [level["passed"] for level in data["levels"]],
            "failed": [level["failed"] for level in data["levels"]],
            "not available": [level["not_available"] for level in data["levels"]],
        },
        [charts.VERDICT_COLOURS[v] for v in ("passed", "failed", "not available")],
    )
    how = []
    if point.get("synced"):
        how.append(
            f"Landing was brought to exactly the source snapshot ({point.get('changes_applied', 0):,} captured changes "
            "applied) with sync paused, so both sides describe the same moment."
        )
    if point.get("built"):
        how.append("The app models were brought up to landing with `dbt run` first.")
    how += point.get("notes") or []
    if how:
        yield bullets(how)
    for level in data["levels"]:
        yield from _level(level)


def _level(level: dict) -> Iterator[Block]:
    yield heading(f"{ICON.get(level['verdict'], '')} {level['level']}: {level['verdict']}")
    if level["notes"]:
        yield bullets(level["notes"])
    if not level["checks"]:
        return
    yield table(
        ("check", "verdict", "source", "target", "detail"),
        [
            [
                c["name"],
                f"{ICON.get(c['verdict'], '')} {c['verdict']}",
                _value(c["source"]),
                _value(c["target"]),
                c["detail"],
            ]
            for c in level["checks"]
        ],
        "lllll",
    )
    for check in level["checks"]:
        data = check.get("data") or {}
        if data.get("differences"):
            rows = [
                [
                    d["kind"],
                    ", ".join(f"{k}={v}" for k, v in d["key"].items()),
                    ", ".join(d["columns"]),
                    _values(d.get("values") or {}),
                ]
                for d in data["differences"][:SHOWN_DIFFERENCES]
            ]
            yield heading(f"{check['name']}: differing rows", 3)
            more = len(data["differences"]) - len(rows)
            if more > 0 or data.get("truncated"):
                yield paragraph(
                    f"The first {len(rows):,} are listed; reconciliation.json has {len(data['differences']):,}"
                    + (", and more rows differ than were located" if data.get("truncated") else "")
                    + "."
                )
            yield table(("kind", "key", "differing columns", "source → landing"), rows, "llll")
        if data.get("groups") and check["verdict"] == "failed":
            yield heading(f"{check['name']}: figures", 3)
            yield table(
                ("group", "source", "target", "difference"),
                [
                    [
                        " / ".join(g["group"]) or "(all)",
                        _value(g["source"]),
                        _value(g["target"]),
                        _value(g["difference"]),
                    ]
                    for g in data["groups"]
                ],
                "lrrr",
            )
        if data.get("report"):
            yield paragraph(
                f"{check['name']}: datacompy report `{data['report']}`"
                + (
                    f"; not compared (no expected_sql): {', '.join(data['not_compared'])}"
                    if data.get("not_compared")
                    else ""
                )
            )


# --- the renderings -----------------------------------------------------------------------------


def markdown(data: dict) -> str:
    return render.markdown(blocks(data))


def html_page(data: dict) -> str:
    return render.html_page(blocks(data), f"Reconciliation: {data['migration']}")


def write(folder: Path, name: str, data: dict) -> dict[str, Path]:
    """<name>.json and .md in the run's folder (through harness.reports) and the self-contained .html beside them.
    The blocks are laid out once, from the JSON as saved, and rendered twice: the chart is drawn once."""
    laid_out: list[Block] = []

    def rendered(saved: dict) -> str:
        laid_out.extend(blocks(saved))
        return render.markdown(laid_out)

    written = reports.write_in(folder, name, data, rendered)
    page = render.write_atomic(
        written.json.with_suffix(".html"), render.html_page(laid_out, f"Reconciliation: {data['migration']}")
    )
    return {"json": written.json, "markdown": written.markdown, "html": page}
