"""reconciliation.{json,md,html} in the run's report folder: the reconciliation report, rendered from its JSON alone.

The content is laid out once, as blocks (headings, paragraphs, bullets, tables), from the JSON
dict; Markdown and a self-contained HTML page are two renderings of the same blocks, so they
cannot disagree. The status of every level comes first, the details after.
"""
from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from harness import reports
from harness.profiling import mask_card_numbers

ICON = {"passed": "✅", "failed": "❌", "skipped": "➖", "not available": "➖"}
SHOWN_DIFFERENCES = 50  # rows per table listed in the report; the JSON has all that were found


@dataclass(frozen=True)
class Block:
    kind: str  # heading, paragraph, bullets, table
    content: Any
    level: int = 2
    headers: tuple[str, ...] = ()
    align: str | None = None


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
    yield Block("heading", f"Reconciliation: {data['migration']}", level=1)
    point = data.get("point") or {}
    facts = [f"{data['started_at']}", f"reconcile run {data['reconcile_id']}", f"took {data['seconds']:,.1f} s"]
    if point.get("snapshot"):
        facts.append(f"source snapshot `{point['snapshot']}`")
    yield Block("paragraph", " · ".join(facts))
    verdict = data["verdict"]
    yield Block("paragraph", f"{ICON.get(verdict, '')} **{'Every selected level passed' if verdict == 'passed' else 'Some level failed'}.**")
    yield Block(
        "table",
        [[f"{ICON.get(level['verdict'], '')} {level['level']}", level["verdict"], level["passed"], level["failed"], level["not_available"],
          f"{level['seconds']:,.1f}"] for level in data["levels"]],
        headers=("level", "verdict", "checks passed", "failed", "not available", "seconds"),
        align="llrrrr",
    )
    how = []
    if point.get("synced"):
        how.append(f"Landing was brought to exactly the source snapshot ({point.get('changes_applied', 0):,} captured changes applied) "
                   "with sync paused, so both sides describe the same moment.")
    if point.get("built"):
        how.append("The app models were brought up to landing with `dbt run` first.")
    how += point.get("notes") or []
    if how:
        yield Block("bullets", how)
    for level in data["levels"]:
        yield from _level(level)


def _level(level: dict) -> Iterator[Block]:
    yield Block("heading", f"{ICON.get(level['verdict'], '')} {level['level']}: {level['verdict']}")
    if level["notes"]:
        yield Block("bullets", level["notes"])
    if not level["checks"]:
        return
    yield Block(
        "table",
        [[c["name"], f"{ICON.get(c['verdict'], '')} {c['verdict']}", _value(c["source"]), _value(c["target"]), c["detail"]] for c in level["checks"]],
        headers=("check", "verdict", "source", "target", "detail"),
        align="lllll",
    )
    for check in level["checks"]:
        data = check.get("data") or {}
        if data.get("differences"):
            rows = [[d["kind"], ", ".join(f"{k}={v}" for k, v in d["key"].items()), ", ".join(d["columns"]), _values(d.get("values") or {})]
                    for d in data["differences"][:SHOWN_DIFFERENCES]]
            yield Block("heading", f"{check['name']}: differing rows", level=3)
            more = len(data["differences"]) - len(rows)
            if more > 0 or data.get("truncated"):
                yield Block("paragraph", f"The first {len(rows):,} are listed; reconciliation.json has {len(data['differences']):,}"
                            + (", and more rows differ than were located" if data.get("truncated") else "") + ".")
            yield Block("table", rows, headers=("kind", "key", "differing columns", "source → landing"), align="llll")
        if data.get("groups") and check["verdict"] == "failed":
            yield Block("heading", f"{check['name']}: figures", level=3)
            yield Block("table", [[" / ".join(g["group"]) or "(all)", _value(g["source"]), _value(g["target"]), _value(g["difference"])]
                                  for g in data["groups"]], headers=("group", "source", "target", "difference"), align="lrrr")
        if data.get("report"):
            yield Block("paragraph", f"{check['name']}: datacompy report `{data['report']}`"
                        + (f"; not compared (no expected_sql): {', '.join(data['not_compared'])}" if data.get("not_compared") else ""))


# --- Markdown -------------------------------------------------------------------------------------

def markdown(data: dict) -> str:
    doc = reports.Document()
    for block in blocks(data):
        if block.kind == "heading":
            doc.heading(block.level, block.content)
        elif block.kind == "paragraph":
            doc.paragraph(block.content)
        elif block.kind == "bullets":
            doc.bullets(reports.escape(item) for item in block.content)
        else:
            doc.table(block.headers, block.content, block.align)
    return doc.render()


# --- HTML -----------------------------------------------------------------------------------------

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 80em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: .8em 0 1.4em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.r { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f4f4f4; padding: 0 .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
"""


def _inline(text: str) -> str:
    """Escaped text with `code` and **bold** kept; card numbers masked whatever the caller did."""
    out = html.escape(mask_card_numbers(str(text)))
    for mark, tag in (("**", "strong"), ("`", "code")):
        parts = out.split(mark)
        out = "".join(part if i % 2 == 0 else f"<{tag}>{part}</{tag}>" for i, part in enumerate(parts)) if len(parts) % 2 else out
    return out


def html_page(data: dict) -> str:
    body = []
    for block in blocks(data):
        if block.kind == "heading":
            body.append(f"<h{block.level}>{_inline(block.content)}</h{block.level}>")
        elif block.kind == "paragraph":
            body.append(f"<p>{_inline(block.content)}</p>")
        elif block.kind == "bullets":
            body.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block.content) + "</ul>")
        else:
            align = block.align or "l" * len(block.headers)
            head = "".join(f"<th>{_inline(h)}</th>" for h in block.headers)
            rows = "".join(
                "<tr>" + "".join(f"<td{' class=r' if a == 'r' else ''}>{_inline(c)}</td>"
                                 for a, c in zip(align, row)) + "</tr>"
                for row in block.content
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows or '<tr><td>(none)</td></tr>'}</tbody></table>")
    title = html.escape(f"Reconciliation: {data['migration']}")
    return (f"<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>{title}</title><style>{STYLE}</style></head>\n"
            f"<body>\n" + "\n".join(body) + "\n</body></html>\n")


# --- writing --------------------------------------------------------------------------------------

def write(folder: Path, name: str, data: dict) -> dict[str, Path]:
    """<name>.json and .md in the run's folder (through harness.reports) and the self-contained .html beside them."""
    written = reports.write_in(folder, name, data, markdown)
    page = written.json.with_suffix(".html")
    temporary = page.with_name(f".{page.name}.tmp")
    temporary.write_text(html_page(json.loads(written.json.read_text())))
    os.replace(temporary, page)
    return {"json": written.json, "markdown": written.markdown, "html": page}
