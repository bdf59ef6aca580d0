"""Reports: JSON first, then Markdown rendered from that same JSON, one folder per run.

Every report is a dict that `write` saves as <name>.json and renders to <name>.md through a
function that reads only the dict, so the Markdown can never say something the JSON does not, and
a report can be re-rendered from its JSON alone. Reports are evidence and never overwritten: each
run writes into reports/<name>/<UTC time>-<run>/, and reports/<name>/latest points to the newest
(`latest(...)` reads through it). A rehearsal writes under its own root (Config.reports_root).
The format_* helpers are shared by every report; the content is laid out as blocks and rendered
by harness.render, which also writes every file. Each lifecycle step's report lays out its own
content (the assessment's: harness/assess/report.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness.render import write_atomic

REPORTS_DIR = "reports"


# --- writing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    json: Path
    markdown: Path

    @property
    def folder(self) -> Path:
        return self.json.parent


def run_folder(root: Path, name: str, run: object | None = None) -> Path:
    """A new folder root/<name>/<UTC time>-<run> for one run's report (and its attachments)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = root / name / (f"{stamp}-{run}" if run is not None else stamp)
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def _point_latest(folder: Path) -> None:
    """root/<name>/latest → this run's folder, replaced atomically (a reader never finds none)."""
    link = folder.parent / "latest"
    temporary = folder.parent / f".latest.{os.getpid()}.tmp"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(folder.name)
    os.replace(temporary, link)


def write(root: Path, name: str, data: dict, render: Callable[[dict], str], *, run: object | None = None) -> Written:
    """Save `data` as <name>.json and its Markdown as <name>.md in a new run folder under root/<name>/."""
    return write_in(run_folder(root, name, run), name, data, render)


def write_in(folder: Path, name: str, data: dict, render: Callable[[dict], str]) -> Written:
    """The same in a folder made by run_folder (a run that puts more beside its report); then
    <root>/<name>/latest points at it."""
    json_path, md_path = folder / f"{name}.json", folder / f"{name}.md"
    write_atomic(json_path, json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
    write_atomic(md_path, render(json.loads(json_path.read_text())))
    _point_latest(folder)
    return Written(json_path, md_path)


def latest(root: Path, name: str, suffix: str = ".json") -> Path:
    """The newest run's report of this name (it may not exist)."""
    return root / name / "latest" / f"{name}{suffix}"


# --- formatting -------------------------------------------------------------------------------


def format_count(value: int | float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def format_bytes(value: int | float | None) -> str:
    if value is None:
        return "–"
    size = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} TB"


def format_share(share: float | None, margin: float | None = None) -> str:
    """5.0% or 5.0% ± 0.3 (the 95% margin, in percentage points, when the figure comes from a sample)."""
    if share is None:
        return "–"
    text = f"{share:.1%}"
    if margin:
        text += f" ± {margin * 100:.1f}" if margin >= 0.0005 else " ± <0.1"
    return text


def format_rate(value: float | None, unit: str) -> str:
    return "–" if not value else f"{value:,.0f} {unit}/s"
