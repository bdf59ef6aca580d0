"""Terminal output: one console, progress bars, summaries. Nothing here decides anything.

Everything a command says through these functions is also kept in `record`, from which `--json`
makes the one JSON document a command prints (harness/cli.py).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

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
    return isinstance(value, (int, float)) or (isinstance(value, str) and value.replace(",", "").replace(".", "", 1).strip().isdigit())


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Figures right-aligned, words left-aligned (prose wraps readably at any width)."""
    out = Table(title=title, title_justify="left")
    for i, header in enumerate(headers):
        figures = i > 0 and all(_numeric(row[i]) for row in rows if row[i] not in (None, ""))
        out.add_column(header, justify="right" if figures else "left")
    for row in rows:
        out.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    console.print(out)
    record.tables.append({"title": title, "headers": list(headers), "rows": [list(row) for row in rows]})


def summary(line: str) -> None:
    console.print(f"[bold green]✔[/] {line}")
    record.summary.append(line)


def step(line: str) -> None:
    console.print(f"[bold]→[/] {line}")
    record.steps.append(line)
