"""The one rendering layer: content as blocks (harness.render.blocks), rendered to Markdown,
HTML and JSON, and the one atomic file write. Reports and documents build blocks; only this
package knows a format's syntax."""

import importlib
import threading

from harness.render.blocks import Block, as_json, bullets, heading, key_value, numbered, paragraph, table
from harness.render.document import Document
from harness.render.files import write_atomic
from harness.render.html import NAV_STYLE, STYLE, html_page, inline
from harness.render.markdown import escape, markdown

# What harness.render.charts imports of matplotlib (about half a second of CPU, most of a command's start-up).
CHART_MODULES = ("matplotlib", "matplotlib.figure", "matplotlib.patches", "matplotlib.ticker", "matplotlib.dates")


def load_charts_in_background() -> threading.Thread:
    """Import matplotlib's modules the charts use in a thread of their own, so a command that ends
    in a chart loads them while its databases work instead of afterwards (the reconciliation's
    hashing leaves this process idle). Only matplotlib's modules: no module of the harness is
    imported there, so no import can wait on the other thread in a cycle; an import that fails is
    left to the main thread, which reports it where it imports charts."""

    def load() -> None:
        try:
            for name in CHART_MODULES:
                importlib.import_module(name)
        except Exception:  # noqa: BLE001, S110  reported by the main thread's own import
            pass

    thread = threading.Thread(target=load, name="load-charts", daemon=True)
    thread.start()
    return thread


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
    "load_charts_in_background",
    "key_value",
    "markdown",
    "numbered",
    "paragraph",
    "table",
    "write_atomic",
]
