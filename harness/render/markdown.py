"""Blocks rendered to Markdown. Every table cell and list item is escaped, and card numbers are
masked in all text, whatever the caller did."""

from __future__ import annotations

from collections.abc import Iterable

from harness.profiling import mask_card_numbers
from harness.render.blocks import Block


def escape(text: object) -> str:
    """A value safe inside a Markdown table cell; card numbers masked whatever the caller did."""
    value = mask_card_numbers(str(text))
    return value.replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def markdown(blocks: Iterable[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        lines += _lines(block)
    return "\n".join(lines).rstrip() + "\n"


def _lines(block: Block) -> list[str]:
    """A block's lines, each block followed by one blank line (an empty list gives none)."""
    if block.kind == "heading":
        return ["#" * block.level + " " + mask_card_numbers(block.content), ""]
    if block.kind == "paragraph":
        return [mask_card_numbers(block.content), ""]
    if block.kind in ("bullets", "numbered"):
        items = list(block.content)
        marks = ["-"] * len(items) if block.kind == "bullets" else [f"{i}." for i in range(1, len(items) + 1)]
        return [f"{mark} {escape(item)}" for mark, item in zip(marks, items)] + ([""] if items else [])
    if block.kind == "chart":
        # Markdown has no inline SVG that every viewer shows: the chart's figures, under its title.
        chart = block.content
        return [f"**{chart.title}** (chart in the HTML page; its figures:)", "", *_table(block)]
    return _table(block)


def _table(block: Block) -> list[str]:
    content = block.content.rows if block.kind == "chart" else block.content
    if not content:
        return ["(none)", ""]
    align = block.align or "l" * len(block.headers)
    lines = [
        "| " + " | ".join(escape(h) for h in block.headers) + " |",
        "|" + "|".join("---:" if a == "r" else ":---" for a in align) + "|",
    ]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in content]
    return lines + [""]
