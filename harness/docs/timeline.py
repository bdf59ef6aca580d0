"""Runbook runs as the bars of a Gantt chart: the dashboard's timeline, the runbook's planned against
real and the plan's phases draw their bars from here.

A recorded run is a dict as the control schema's history gives it (harness.target.history,
harness.docs.facts): `steps`, each with `step`, `status`, `started_at` (ISO 8601), `finished_at`
and `seconds`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from harness.render.charts import Bar


def moment(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None


def origin(run: dict[str, Any]) -> datetime:
    """T of a recorded run: when its first step started (else when the run started)."""
    return moment(run["steps"][0]["started_at"]) if run["steps"] else moment(run["started_at"])


def recorded(run: dict[str, Any], start: datetime, kind: str, prefix: str = "") -> list[Bar]:
    """Each recorded step of `run` where and as long as it really ran, in seconds after `start`."""
    return [
        Bar(
            prefix + s["step"],
            kind,
            (moment(s["started_at"]) - start).total_seconds(),
            s["seconds"] if s["seconds"] is not None else 0.0,
            s["status"],
        )
        for s in run["steps"]
    ]


def in_sequence(steps: Iterable[str], seconds: dict[str, float | None], kind: str, prefix: str = "") -> list[Bar]:
    """Steps one after the other, each for its planned or rehearsed duration (unmeasured ones left out)."""
    bars, start = [], 0.0
    for step in steps:
        if seconds.get(step) is not None:
            bars.append(Bar(prefix + step, kind, start, float(seconds[step])))
            start += float(seconds[step])
    return bars


def window(run: dict[str, Any], start: datetime, first: str, last: str) -> tuple[float, float] | None:
    """From the start of step `first` to the end of step `last` of a run, in seconds after `start`."""
    found = {s["step"]: s for s in run["steps"]}
    if first not in found or last not in found or not found[last]["finished_at"]:
        return None
    return (
        (moment(found[first]["started_at"]) - start).total_seconds(),
        (moment(found[last]["finished_at"]) - start).total_seconds(),
    )


def planned_window(bars: Iterable[Bar], first: str, last: str) -> tuple[float, float] | None:
    """From the start of `first` to the end of `last` among bars laid out by `in_sequence`."""
    found = {b.step: b for b in bars}
    if first not in found or last not in found:
        return None
    return found[first].start, found[last].start + found[last].seconds
