"""Terminal output: one console, progress bars, summaries. Nothing here decides anything.

Everything a command says through these functions is also kept in `record`, from which `--json`
makes the one JSON document a command prints (harness/cli/__init__.py). What a command says about
its result is composed in harness/cli/views.py as a list of parts (`Step`, `Table`, `Note`,
`Summary`, `Result`) that `show` prints in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.errors import MarkupError
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table as RichTable
from rich.text import Text

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class Record:
    """What the command said: its summary lines, steps and tables, and the result it handed over."""

    summary: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


record = Record()


def result(**data: Any) -> None:
    """Hand a command's result (facts a machine reads) to the JSON document."""
    record.result.update(data)


class Bar:
    """What `progress` yields: call it (or `advance`) with the units done; `total` once it is known."""

    def __init__(self, progress: Progress, task: TaskID):
        self._progress, self._task = progress, task

    def __call__(self, done: int = 1) -> None:
        self._progress.update(self._task, advance=done)

    advance = __call__

    def total(self, total: int) -> None:
        self._progress.update(self._task, total=total)


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Bar]:
    """A progress bar. Quiet when output is not a terminal."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )
    with bar:
        yield Bar(bar, bar.add_task(description, total=total))


@contextmanager
def live_line(text: str) -> Iterator[Callable[[str], None]]:
    """One line that a long run keeps rewriting (its latest event), gone when it ends: what it
    reported is printed once afterwards. Nothing when output is not a terminal."""
    if not console.is_terminal:
        yield lambda _text: None
        return
    with console.status(text) as shown:
        yield shown.update


def _numeric(value: object) -> bool:
    return isinstance(value, (int, float)) or (
        isinstance(value, str) and value.replace(",", "").replace(".", "", 1).strip().isdigit()
    )


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Figures right-aligned, words left-aligned; the table fits the terminal's width, its prose
    wrapped between words (a word wider than its column is folded, never cut with an ellipsis)."""
    cells = [[f"{v:,}" if isinstance(v, int) else str(v) for v in row] for row in rows]
    layout = _fit([[header, *(row[i] for row in cells)] for i, header in enumerate(headers)])
    out = RichTable(title=title, title_justify="left", padding=(0, layout.padding))
    for i, header in enumerate(headers):
        figures = i > 0 and all(_numeric(row[i]) for row in rows if row[i] not in (None, ""))
        out.add_column(
            header,
            justify="right" if figures else "left",
            overflow="fold",
            width=layout.widths[i] if layout.widths else None,
        )
    for row in cells:
        out.add_row(*row)
    console.print(out)
    record.tables.append({"title": title, "headers": list(headers), "rows": [list(row) for row in rows]})


@dataclass(frozen=True)
class _Layout:
    padding: int = 1  # blanks each side of a cell
    widths: list[int] | None = None  # None: rich's own, the columns' natural widths fit


def _fit(columns: list[list[str]]) -> _Layout:
    """How a table's columns fit the console. rich's own fitting narrows the widest columns to
    equal widths and cuts what no longer fits ("verificati…"); here each column gets at least its
    longest word where the width allows, and what is left is shared in proportion to what each
    still lacks. When the words themselves do not fit, the cells lose their padding and the
    longest words (commands, paths) are folded, the shorter ones kept whole."""
    measured = [[Measurement.get(console, console.options, _text(cell)) for cell in column] for column in columns]
    longest = [max(m.maximum for m in column) for column in measured]
    words = [max(m.minimum for m in column) for column in measured]
    for padding in (1, 0):
        available = (
            console.width - (2 * padding + 1) * len(columns) - 1
        )  # each cell's padding and rule, and the last rule
        if padding == 1 and sum(longest) <= available:
            return _Layout()
        if sum(words) <= available or padding == 0:
            break
    least = _capped(words, available)
    spare = max(0, available - sum(least))
    lacking = [most - fewest for most, fewest in zip(longest, least)]
    total = sum(lacking) or 1
    return _Layout(padding, [fewest + spare * lack // total for fewest, lack in zip(least, lacking)])


def _capped(words: list[int], available: int) -> list[int]:
    """Each column's longest word, the longest ones cut down to one cap so that all fit when they can."""
    cap = max(words, default=1)
    while cap > 1 and sum(min(w, cap) for w in words) > available:
        cap -= 1
    return [min(w, cap) for w in words]


def _text(cell: str) -> Text:
    """The cell as rich will show it: its markup applied, or as written when it is not markup."""
    try:
        return Text.from_markup(cell)
    except MarkupError:
        return Text(cell)


def summary(line: str) -> None:
    console.print(f"[bold green]✔[/] {line}")
    record.summary.append(line)


def step(line: str) -> None:
    console.print(f"[bold]→[/] {line}")
    record.steps.append(line)


# --- the parts of a view (harness/cli/views.py), printed in order by `show` ---------------------


@dataclass(frozen=True)
class Step:
    text: str


@dataclass(frozen=True)
class Table:
    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[object]]


@dataclass(frozen=True)
class Note:
    """A line on stderr (a warning, a note, a failed check), its markup included."""

    text: str


@dataclass(frozen=True)
class Summary:
    text: str


@dataclass(frozen=True)
class Result:
    """Facts for the JSON document only."""

    data: dict[str, Any]


Part = Step | Table | Note | Summary | Result


def show(parts: Sequence[Part]) -> None:
    for part in parts:
        if isinstance(part, Step):
            step(part.text)
        elif isinstance(part, Table):
            table(part.title, part.headers, part.rows)
        elif isinstance(part, Note):
            errors.print(part.text)
        elif isinstance(part, Summary):
            summary(part.text)
        else:
            result(**part.data)
