"""`migrate status --watch`: where the migration stands, redrawn in the terminal until Ctrl-C.

Each refresh reads the facts again (harness.status, and the control schema's history through
harness.dashboard.watch_facts): the load's progress, the lag and its last samples, the cutover's
current step, the phase and the next step. Ctrl-C ends it; that is how it is meant to stop (exit 0).
"""

from __future__ import annotations

import time
from datetime import datetime

from rich.live import Live
from rich.table import Table

from harness.cli.ui import console
from harness.core.config import Config
from harness.core.connections import Database
from harness.dashboard import lag_seconds

VERDICT_STYLE = {"passed": "bold green", "failed": "bold red", "warning": "bold yellow", "succeeded": "green"}


def _word(word: str | None) -> str:
    """A verdict or state as its word in its colour (never a symbol alone)."""
    if not word:
        return "–"
    style = VERDICT_STYLE.get(word)
    return f"[{style}]{word}[/]" if style else word


def render(facts: dict) -> Table:
    """The watch view of one refresh's facts (harness.dashboard.watch_facts)."""
    grid = Table(title=f"Migration status · {datetime.now():%H:%M:%S} · Ctrl-C stops", show_header=False, expand=False)
    grid.add_column("what", style="bold")
    grid.add_column("state")
    for what, value in facts["rows"]:
        grid.add_row(what, value)
    return grid


def rows(facts: dict) -> list[tuple[str, str]]:
    """The lines shown, from the facts of one refresh."""
    load, lag, cutover, status = facts["load"], facts["lag"], facts["cutover"], facts["status"]
    shown = []
    if load:
        done = sum(1 for r in load["ranges"] if r["done"])
        copied = sum(r["rows_copied"] or 0 for r in load["ranges"] if r["done"])
        shown.append(
            (
                "load",
                f"load {load['load_id']} {_word(load['status'])}: {done} of {len(load['ranges'])} key "
                f"ranges, {copied:,} rows",
            )
        )
    else:
        shown.append(("load", "not started"))
    if lag:
        shown.append(
            (
                "lag",
                f"landing {lag_seconds(lag['landing_seconds'])}, app {lag_seconds(lag['app_seconds'])}"
                + (f", {lag['changes_behind']:,} changes behind" if lag.get("changes_behind") is not None else ""),
            )
        )
    samples = facts["lag_samples"]
    if samples:
        recent = ", ".join(f"{s['landing_seconds']:.1f}" for s in samples[-10:])
        shown.append(("landing lag, last samples (s)", recent))
    if cutover:
        current = next((s for s in reversed(cutover["steps"]) if s["status"] == "running"), None)
        last = cutover["steps"][-1] if cutover["steps"] else None
        step = current or last
        shown.append(
            (
                "cutover",
                f"run {cutover['run_id']} {_word(cutover['status'])}"
                + (f", step {step['step']} {_word(step['status'])}" if step else "")
                + f" ({len([s for s in cutover['steps'] if s['status'] == 'succeeded'])} steps done)",
            )
        )
    phase = status.get("phase")
    shown.append(("phase", phase["phase"] if phase else "before cutover"))
    rec = status.get("reconcile")
    shown.append(("reconcile", f"run {rec['id']} {_word(rec['status'])}" if rec else "never run"))
    shown.append(("next", facts["next_step"]))
    return shown


def watch_status(config: Config, source: Database, target: Database, interval: float) -> None:
    from harness import dashboard

    def view() -> Table:
        facts = dashboard.watch_facts(config, source, target)
        return render({"rows": rows(facts)})

    try:
        with Live(view(), console=console, auto_refresh=False, transient=False) as live:
            while True:
                time.sleep(interval)
                live.update(view(), refresh=True)
    except KeyboardInterrupt:
        console.print("stopped watching")
