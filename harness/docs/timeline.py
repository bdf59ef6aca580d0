"""Runbook runs as the bars of a Gantt chart: the dashboard's timeline, the runbook's planned against
real and the plan's phases draw their bars from here.

A recorded run is a dict as the control schema's history gives it (harness.target.history,
harness.docs.facts): `steps`, each with `step`, `status`, `started_at` (ISO 8601), `finished_at`,
`seconds` and `started_epoch` (the start in seconds since 1970 with its fraction: the ISO times of
the JSON facts are whole seconds, too coarse to place steps that take less than one).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from harness.render.charts import Bar


def started(step: dict[str, Any]) -> float:
    """When a step started, in seconds since 1970."""
    if step.get("started_epoch") is not None:
        return float(step["started_epoch"])
    return datetime.fromisoformat(step["started_at"]).timestamp()


def origin(run: dict[str, Any]) -> float:
    """T of a recorded run (seconds since 1970): when its first step started, else when the run started."""
    return started(run["steps"][0]) if run["steps"] else datetime.fromisoformat(run["started_at"]).timestamp()


def recorded(run: dict[str, Any], start: float, kind: str, prefix: str = "") -> list[Bar]:
    """Each recorded step of `run` where and as long as it really ran, in seconds after `start`."""
    return [
        Bar(
            prefix + s["step"],
            kind,
            started(s) - start,
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


def window(
    run: dict[str, Any], start: float, first: str, last: str, began: str = "", ended: str = ""
) -> tuple[float, float] | None:
    """From the start of step `first` to the end of step `last` of a run, in seconds after `start`;
    where the steps recorded the moments themselves (`began` in the detail of `first`, `ended` in
    that of `last`, in seconds since 1970), from one to the other."""
    found = {s["step"]: s for s in run["steps"]}
    if first not in found or last not in found or found[last]["seconds"] is None:
        return None
    opened = (found[first].get("detail") or {}).get(began) if began else None
    closed = (found[last].get("detail") or {}).get(ended) if ended else None
    return (
        (opened if opened is not None else started(found[first])) - start,
        (closed if closed is not None else started(found[last]) + found[last]["seconds"]) - start,
    )


def planned_window(bars: Iterable[Bar], first: str, last: str) -> tuple[float, float] | None:
    """From the start of `first` to the end of `last` among bars laid out by `in_sequence`."""
    found = {b.step: b for b in bars}
    if first not in found or last not in found:
        return None
    return found[first].start, found[last].start + found[last].seconds
