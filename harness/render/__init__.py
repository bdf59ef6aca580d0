"""The one rendering layer: content as blocks (harness.render.blocks), rendered to Markdown,
HTML and JSON, and the one atomic file write. Reports and documents build blocks; only this
package knows a format's syntax."""

from harness.render.blocks import Block, as_json, bullets, heading, key_value, numbered, paragraph, table
from harness.render.document import Document
from harness.render.files import write_atomic
from harness.render.html import NAV_STYLE, STYLE, html_page, inline
from harness.render.markdown import escape, markdown

__all__ = [
    "NAV_STYLE",
    "STYLE",
    "Block",
    "Document",
    "as_json",
    "bullets",
    "escape",
    "heading",
    "html_page",
    "inline",
    "key_value",
    "markdown",
    "numbered",
    "paragraph",
    "table",
    "write_atomic",
]
