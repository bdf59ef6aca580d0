"""Content as blocks: what a report or document says, laid out once, before any format.

A block is a heading, a paragraph, a bulleted or numbered list, a table, key-value pairs, or a
chart (harness.render.charts: its SVG and the figures it draws).
harness.render.markdown and harness.render.html render the same blocks, so the formats cannot
disagree; `as_json` gives them as plain data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

KINDS = ("heading", "paragraph", "bullets", "numbered", "table", "key_value", "chart")


@dataclass(frozen=True)
class Block:
    kind: str  # one of KINDS
    content: Any  # the text, the list items, or the table rows
    level: int = 2  # a heading's
    headers: tuple[str, ...] = ()  # a table's
    align: str | None = None  # a table's: one letter per column, l or r


def heading(text: str, level: int = 2) -> Block:
    return Block("heading", text, level=level)


def paragraph(text: str) -> Block:
    return Block("paragraph", text)


def bullets(items: Iterable[str]) -> Block:
    return Block("bullets", list(items))


def numbered(items: Iterable[str]) -> Block:
    return Block("numbered", list(items))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None) -> Block:
    """A table; `align` is one letter per column (l or r), by default the first left and the rest
    right (numbers)."""
    headers = tuple(headers)
    return Block("table", [list(row) for row in rows], headers=headers, align=align or "l" + "r" * (len(headers) - 1))


def key_value(pairs: Iterable[tuple[str, object]], headers: tuple[str, str] = ("what", "value")) -> Block:
    """Named facts, one a row: a two-column table in Markdown and HTML, an object in JSON."""
    return Block("key_value", [[key, value] for key, value in pairs], headers=headers, align="ll")


def as_json(blocks: Iterable[Block]) -> list[dict[str, Any]]:
    """The blocks as plain data (a rendering of its own: what a page shows, for a program)."""
    result: list[dict[str, Any]] = []
    for block in blocks:
        if block.kind == "heading":
            result.append({"kind": "heading", "level": block.level, "text": block.content})
        elif block.kind == "paragraph":
            result.append({"kind": "paragraph", "text": block.content})
        elif block.kind in ("bullets", "numbered"):
            result.append({"kind": block.kind, "items": list(block.content)})
        elif block.kind == "chart":
            chart = block.content
            result.append(
                {
                    "kind": "chart",
                    "name": chart.name,
                    "title": chart.title,
                    "headers": list(chart.headers),
                    "rows": chart.rows,
                }
            )
        elif block.kind == "key_value":
            result.append({"kind": "key_value", "values": {str(key): value for key, value in block.content}})
        else:
            result.append(
                {"kind": "table", "headers": list(block.headers), "rows": [list(row) for row in block.content]}
            )
    return result
