"""A document built top to bottom, one block a call, for code that writes its report in order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from harness.render import blocks as b
from harness.render.markdown import markdown


@dataclass
class Document:
    blocks: list[b.Block] = field(default_factory=list)

    def add(self, *blocks: b.Block) -> Document:
        self.blocks += blocks
        return self

    def heading(self, level: int, text: str) -> Document:
        return self.add(b.heading(text, level))

    def paragraph(self, text: str) -> Document:
        return self.add(b.paragraph(text))

    def bullets(self, items: Iterable[str]) -> Document:
        return self.add(b.bullets(items))

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None) -> Document:
        return self.add(b.table(headers, rows, align))

    def key_value(self, pairs: Iterable[tuple[str, object]], headers: tuple[str, str] = ("what", "value")) -> Document:
        return self.add(b.key_value(pairs, headers))

    def render(self) -> str:
        """The document in Markdown."""
        return markdown(self.blocks)
