"""Charts as blocks: matplotlib draws each one to a static SVG, kept beside the figures it draws.

A chart block carries its SVG, its title and its figures as a table. The HTML page embeds the
SVG inline (text stays text: `svg.fonttype` is 'none', so the browser draws the labels with its
own fonts and nothing is fetched when the page opens), followed by the figures in a table; Markdown
shows the title and the figures; JSON the figures. Nothing here draws SVG by hand.

Verdicts carry a colour and a word: every chart that shows one names it in its legend or label.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import pickle
import re
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit: only files are written

from matplotlib import dates as mdates  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from harness.render.blocks import Block  # noqa: E402

# One colour per verdict, the same in every chart and page; the word is always shown beside it.
VERDICT_COLOURS = {
    "passed": "#2e7d32",
    "failed": "#c62828",
    "warning": "#ef6c00",
    "skipped": "#9e9e9e",
    "not available": "#9e9e9e",
    "running": "#1565c0",
}
# Each kind of bar in the cutover Gantt chart.
GANTT_COLOURS = {"planned": "#90caf9", "rehearsed": "#ffb74d", "real": "#1565c0"}
PALETTE = ("#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#5d4037", "#9e9d24")
DPI = 96  # CSS pixels per inch: a chart of w × h inches is w·96 × h·96 pixels on the page
WIDTH = 8.0  # inches

STYLE = {
    "svg.fonttype": "none",  # labels as <text>: no font embedded, none fetched
    "svg.hashsalt": "migrate",  # the same chart gives the same SVG
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e0e0e0",
    "axes.axisbelow": True,
    "legend.frameon": False,
    "legend.fontsize": 8,
}

OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.0, 1.0)}  # legends right of the plot, never over it


@dataclass(frozen=True)
class Chart:
    """A drawn chart: `svg` is the <svg> element itself, `rows` the figures it shows."""

    name: str  # a stable identifier: the chart's id on the page
    title: str
    svg: str
    headers: tuple[str, ...]
    rows: list[list[object]] = field(default_factory=list)
    width_px: int = 0
    height_px: int = 0


def chart_block(chart: Chart) -> Block:
    return Block("chart", chart, headers=chart.headers, align="l" + "r" * (len(chart.headers) - 1))


def _svg(figure: Figure) -> str:
    """The figure as an <svg> element to inline in HTML (no XML declaration, no DOCTYPE)."""
    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches=None)
    text = buffer.getvalue()
    # The RDF metadata block names outside vocabularies (never fetched, but nothing a reader needs).
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text[text.index("<svg") :], flags=re.S).strip()


def _figure(height: float) -> Figure:
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    return figure


def _chart(name: str, title: str, figure: Figure, headers: Sequence[str], rows: list[list[object]]) -> Block:
    width, height = figure.get_size_inches()
    svg = _svg(figure)
    svg = re.sub(r"<svg ", f'<svg id="chart-{name}" role="img" aria-label="{_attribute(title)}" ', svg, count=1)
    return chart_block(Chart(name, title, svg, tuple(headers), rows, round(width * DPI), round(height * DPI)))


@dataclass
class _Kept:
    folder: Path
    asked: set[str] = field(default_factory=set)


_kept: ContextVar[_Kept | None] = ContextVar("charts_kept", default=None)


@contextlib.contextmanager
def kept_in(folder: Path) -> Iterator[None]:
    """Charts asked for inside the block are kept in `folder` under what they show: one asked for
    again with the same figures (the dashboard's next refresh, most of whose charts a command leaves
    as they were) is read back instead of drawn again, drawing being most of a refresh's time. At
    the block's end the charts it did not ask for are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    kept = _Kept(folder)
    token = _kept.set(kept)
    try:
        yield
    finally:
        _kept.reset(token)
        for path in folder.glob("*.pickle"):
            if path.stem not in kept.asked:
                path.unlink(missing_ok=True)


def _keepable(draw: Callable[..., Block]) -> Callable[..., Block]:
    @functools.wraps(draw)
    def chart(*args, **kwargs) -> Block:
        kept = _kept.get()
        if kept is None:
            return draw(*args, **kwargs)
        shown = repr((draw.__name__, args, sorted(kwargs.items()), STYLE, matplotlib.__version__))
        key = hashlib.sha256(shown.encode()).hexdigest()[:32]
        kept.asked.add(key)
        path = kept.folder / f"{key}.pickle"
        with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError):
            return pickle.loads(path.read_bytes())  # written by this function, in the project's own folder
        block = draw(*args, **kwargs)
        partial = path.with_name(f"{key}.{os.getpid()}.partial")
        with contextlib.suppress(OSError):  # not kept (a full disk, a read-only folder): drawn again next time
            partial.write_bytes(pickle.dumps(block))
            os.replace(partial, path)
        return block

    return chart


def _gid(container, gid: str) -> None:
    """Name a bar container's bars in the SVG (<g id=...>), so a test or a reader can find them."""
    for i, patch in enumerate(container):
        patch.set_gid(f"{gid}-{i}" if len(container) > 1 else gid)


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


@_keepable
def stacked_bars(
    name: str, title: str, categories: Sequence[str], series: dict[str, Sequence[float]], colours: Sequence[str] = ()
) -> Block:
    """One horizontal bar per category, stacked by series (the dispositions of each legacy table)."""
    colours = list(colours) or list(PALETTE)
    with matplotlib.rc_context(STYLE):
        figure = _figure(max(1.6, 0.42 * len(categories) + 1.0))
        axes = figure.add_subplot()
        left = [0.0] * len(categories)
        for (label, values), colour in zip(series.items(), colours):
            _gid(axes.barh(list(categories), list(values), left=left, label=label, color=colour), f"{name}-{label}")
            left = [a + b for a, b in zip(left, values)]
        axes.invert_yaxis()
        axes.set_xlabel("rows")
        axes.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        axes.legend(**OUTSIDE)
    rows = [[c, *(series[s][i] for s in series)] for i, c in enumerate(categories)]
    return _chart(name, title, figure, ("", *series), rows)


@_keepable
def lines(
    name: str,
    title: str,
    series: dict[str, Sequence[tuple[datetime, float]]],
    ylabel: str,
    *,
    step: bool = False,
) -> Block:
    """One line per series over time (throughput of each table, lag of landing and app)."""
    with matplotlib.rc_context(STYLE):
        figure = _figure(3.0)
        axes = figure.add_subplot()
        for (label, points), colour in zip(series.items(), PALETTE * 4):
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            drawn = (
                axes.step(xs, ys, where="post", label=label, color=colour)
                if step
                else axes.plot(xs, ys, label=label, color=colour, marker="." if len(points) < 40 else None)
            )
            drawn[0].set_gid(f"{name}-{label}")
        axes.set_ylabel(ylabel)
        axes.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 10 else f"{v:g}"))
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        axes.set_ylim(bottom=0)
        if series:
            axes.legend(**OUTSIDE)
    rows = [[label, f"{x:%Y-%m-%d %H:%M:%S}", y] for label, points in series.items() for x, y in points]
    return _chart(name, title, figure, ("series", "at", ylabel), rows)


@dataclass(frozen=True)
class Bar:
    """One bar of the Gantt chart: a step as planned, rehearsed or really run."""

    step: str
    kind: str  # planned, rehearsed or real
    start: float  # seconds after the first step of its run started
    seconds: float
    status: str = "succeeded"


@_keepable
def gantt(
    name: str,
    title: str,
    steps: Sequence[str],
    bars: Sequence[Bar],
    windows: Sequence[tuple[float, float]] = (),
    xlabel: str = "seconds after the first step started",
) -> Block:
    """The steps top to bottom, each with its planned, rehearsed and real bar side by side; each of
    `windows` (start, end in seconds) is shaded: a time writes were unavailable."""
    kinds = [k for k in GANTT_COLOURS if any(b.kind == k for b in bars)]
    with matplotlib.rc_context(STYLE):
        figure = _figure(max(2.0, 0.36 * len(steps) * max(1, len(kinds)) ** 0.5 + 1.2))
        axes = figure.add_subplot()
        height = 0.8 / max(1, len(kinds))
        for bar in bars:
            row = steps.index(bar.step)
            offset = -0.4 + height * (kinds.index(bar.kind) + 0.5)
            drawn = axes.barh(
                row + offset,
                max(bar.seconds, 0.0),
                left=bar.start,
                height=height * 0.9,
                color=GANTT_COLOURS[bar.kind],
                edgecolor=VERDICT_COLOURS["failed"] if bar.status == "failed" else "none",
                linewidth=1.5,
            )
            _gid(drawn, f"{name}-{bar.kind}-{bar.step}")
        handles = [Patch(color=GANTT_COLOURS[k], label=k) for k in kinds]
        for i, (start, end) in enumerate(windows):
            axes.axvspan(start, end, color="#c62828", alpha=0.10, gid=f"{name}-write-window-{i}")
        if windows:
            spans = ", ".join(f"{end - start:,.1f} s" for start, end in windows)
            handles.append(Patch(color="#c62828", alpha=0.2, label=f"writes unavailable ({spans})"))
        axes.set_yticks(range(len(steps)), list(steps))
        axes.set_ylim(len(steps) - 0.5, -0.5)
        axes.set_xlabel(xlabel)
        axes.grid(axis="y", visible=False)
        axes.legend(handles=handles, **OUTSIDE)
    rows = [[b.step, b.kind, round(b.start, 3), round(b.seconds, 3), b.status] for b in bars]
    return _chart(name, title, figure, ("step", "kind", "start (s)", "seconds", "status"), rows)


@_keepable
def verdict_grid(name: str, title: str, levels: Sequence[str], runs: Sequence[tuple[str, dict[str, str]]]) -> Block:
    """One row per level, one column per run (label, {level: verdict}): each cell coloured by its
    verdict and labelled with its word."""
    with matplotlib.rc_context(STYLE):
        figure = _figure(max(1.6, 0.4 * len(levels) + 1.2))
        axes = figure.add_subplot()
        for column, (_, verdicts) in enumerate(runs):
            for row, level in enumerate(levels):
                verdict = verdicts.get(level)
                if verdict is None:
                    continue
                colour = VERDICT_COLOURS.get(verdict, "#9e9e9e")
                _gid(axes.barh(row, 0.94, left=column + 0.03, height=0.86, color=colour), f"{name}-{column}-{level}")
                axes.text(column + 0.5, row, verdict, ha="center", va="center", color="white", fontsize=7)
        axes.set_yticks(range(len(levels)), list(levels))
        axes.set_xticks([c + 0.5 for c in range(len(runs))], [label for label, _ in runs], fontsize=7)
        axes.set_xlim(0, max(1, len(runs)))
        axes.set_ylim(len(levels) - 0.5, -0.5)
        axes.grid(visible=False)
        axes.set_xlabel("reconcile run")
        seen = sorted({v for _, verdicts in runs for v in verdicts.values()})
        axes.legend(
            handles=[Patch(color=VERDICT_COLOURS.get(v, "#9e9e9e"), label=v) for v in seen],
            **OUTSIDE,
        )
    rows = [[label, *(verdicts.get(level, "") for level in levels)] for label, verdicts in runs]
    return _chart(name, title, figure, ("run", *levels), rows)


@_keepable
def bars(
    name: str, title: str, categories: Sequence[str], series: dict[str, Sequence[float | None]], unit: str
) -> Block:
    """Grouped vertical bars: each category with one bar per series (an estimate per strategy)."""
    with matplotlib.rc_context(STYLE):
        figure = _figure(3.0)
        axes = figure.add_subplot()
        width = 0.8 / max(1, len(series))
        for i, ((label, values), colour) in enumerate(zip(series.items(), PALETTE)):
            xs = [c + (i - (len(series) - 1) / 2) * width for c in range(len(categories))]
            drawn = axes.bar(xs, [v or 0 for v in values], width=width * 0.95, label=label, color=colour)
            _gid(drawn, f"{name}-{label}")
        axes.set_xticks(range(len(categories)), list(categories))
        axes.set_ylabel(unit)
        axes.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 10 else f"{v:g}"))
        axes.legend(**OUTSIDE)
    rows = [[c, *(series[s][i] for s in series)] for i, c in enumerate(categories)]
    return _chart(name, title, figure, ("", *series), rows)
