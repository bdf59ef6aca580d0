"""Blocks rendered to one self-contained HTML page: no script, no link, no outside resource."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

from harness.profiling import mask_card_numbers
from harness.render.blocks import Block

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 80em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: .8em 0 1.4em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.r { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f4f4f4; padding: 0 .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
figure.chart { margin: 1em 0 1.6em; } figure.chart svg { display: block; max-width: 100%; height: auto; }
figure.chart figcaption { color: #555; } figure.chart details { margin-top: .3em; }
.verdict { color: #fff; border-radius: 3px; padding: 0 .35em; font-weight: 600; font-size: 90%; }
.verdict.passed { background: #2e7d32; } .verdict.failed { background: #c62828; }
.verdict.warning { background: #ef6c00; } .verdict.skipped { background: #757575; }
"""
# A verdict's symbol in a block's text becomes its colour and its word: the page never relies on an
# emoji font (without one, the symbols render as empty boxes).
VERDICT_MARKS = {"✅": "passed", "❌": "failed", "⚠️": "warning", "⚠": "warning", "➖": "skipped"}
NAV_STYLE = "nav { margin-bottom: 1.5em; } nav a { margin-right: 1em; } ol li, ul li { margin: .2em 0; }"


def inline(text: object) -> str:
    """Escaped text with `code`, **bold** and [links](href) kept; card numbers masked."""
    out = html.escape(mask_card_numbers(str(text)), quote=False)
    for mark, word in VERDICT_MARKS.items():  # "✅ passed" and a lone "✅" alike: the word once
        out = re.sub(f"{mark}(?: {word})?", f'<span class="verdict {word}">{word}</span>', out)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    # Bold holds no star: a masked card number (************1111) stays as it is.
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", lambda m: f'<a href="{html.escape(m.group(2))}">{m.group(1)}</a>', out)


def html_page(blocks: Iterable[Block], title: str, nav: Sequence[tuple[str, str]] = ()) -> str:
    """The page: `nav` is (title, href) of the pages beside it, shown on top."""
    body = (
        ["<nav>" + "".join(f'<a href="{html.escape(href)}">{html.escape(name)}</a>' for name, href in nav) + "</nav>"]
        if nav
        else []
    )
    body += [_element(block) for block in blocks]
    style = STYLE + (NAV_STYLE if nav else "")
    return (
        "<!doctype html>\n"
        f"<html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title><style>{style}</style></head>\n"
        "<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _element(block: Block) -> str:
    if block.kind == "heading":
        return f"<h{block.level}>{inline(block.content)}</h{block.level}>"
    if block.kind == "paragraph":
        return f"<p>{inline(block.content)}</p>"
    if block.kind in ("bullets", "numbered"):
        tag = "ul" if block.kind == "bullets" else "ol"
        return f"<{tag}>" + "".join(f"<li>{inline(item)}</li>" for item in block.content) + f"</{tag}>"
    if block.kind == "chart":
        return _chart(block)
    return _table(block.headers, block.content, block.align)


def _chart(block: Block) -> str:
    """The chart's SVG inline, its title, and the figures it draws in a table that opens on a click."""
    chart = block.content
    return (
        f'<figure class=chart data-chart="{html.escape(chart.name)}" data-width="{chart.width_px}" '
        f'data-height="{chart.height_px}">{chart.svg}<figcaption>{inline(chart.title)}</figcaption>'
        f"<details><summary>the figures</summary>{_table(block.headers, chart.rows, block.align)}</details></figure>"
    )


def _table(headers: Sequence[str], content: Sequence[Sequence[object]], align: str | None) -> str:
    align = align or "l" * len(headers)
    head = "".join(f"<th>{inline(h)}</th>" for h in headers)
    rows = "".join(
        "<tr>" + "".join(f"<td{' class=r' if a == 'r' else ''}>{inline(c)}</td>" for a, c in zip(align, row)) + "</tr>"
        for row in content
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows or '<tr><td>(none)</td></tr>'}</tbody></table>"
