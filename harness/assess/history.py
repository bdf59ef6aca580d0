"""The assessment's memory: earlier assessments' estimates (kept in the report's JSON), and what
the control schema recorded of real runs — the last load, the last cutover's or rehearsal's write
window, the last sync build — to set estimates against measurements."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from harness import reports
from harness.assess import estimates
from harness.assess.model import REPORT_NAME
from harness.engines.postgres import assess as pg

HISTORY_LIMIT = 50
FINISHED_COLUMNS = ("finished_at", "ended_at", "completed_at", "end_time", "finished", "ended")
STARTED_COLUMNS = ("started_at", "start_time", "started", "begun_at")
SECONDS_COLUMNS = ("seconds", "duration_seconds", "elapsed_seconds", "total_seconds", "load_seconds", "duration")
STATUS_COLUMNS = ("status", "state", "outcome", "result")
OK_STATUSES = ("finished", "succeeded", "success", "ok", "done", "completed", "passed")


def earlier_assessments(reports_root: Path) -> list[dict]:
    path = reports.latest(reports_root, REPORT_NAME)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    history = data.get("history") if isinstance(data, dict) else None
    return [h for h in history if isinstance(h, dict) and "assessed_at" in h] if isinstance(history, list) else []


def measured_window(conn: pg.Connection, control_schema: str) -> dict | None:
    """The write window of the last parallel-run cutover that succeeded, else of the last successful
    rehearsal: each step's seconds and where they come from (None when neither ran)."""
    if not pg.table_exists_in(conn, control_schema, "runs"):
        return None
    cutover = pg.last_cutover_steps(conn, control_schema)
    if cutover:
        return {"steps": cutover[2], "source": f"cutover run {cutover[0]} ({cutover[1]:%Y-%m-%d %H:%M})"}
    if not pg.table_exists_in(conn, control_schema, "rehearsals"):
        return None
    rehearsal = pg.last_rehearsal_timings(conn, control_schema)
    if rehearsal:
        return {
            "steps": rehearsal[2],
            "source": f"rehearsal {rehearsal[0]} ({rehearsal[1]:%Y-%m-%d %H:%M}, on disposable copies)",
        }
    return None


def last_sync_build(conn: pg.Connection, control_schema: str) -> dict | None:
    """How long the last incremental sync build took (sync_state, written by every sync batch's
    build): what the final sync's build will take, measured. None before one ran."""
    if not pg.table_exists_in(conn, control_schema, "sync_state"):
        return None
    row = pg.last_sync_build_timing(conn, control_schema)
    if row is None:
        return None
    return {
        "seconds": float(row[0]),
        "source": f"the last sync build ({control_schema}.sync_state, {row[1]:%Y-%m-%d %H:%M})",
    }


def latest_load_run(conn: pg.Connection, control_schema: str) -> dict | None:
    """The latest finished row of <control_schema>.load_runs, written by `migrate load`, if any."""
    if not pg.table_exists_in(conn, control_schema, "load_runs"):
        return None
    names = pg.column_names(conn, control_schema, "load_runs")
    finished = next((c for c in FINISHED_COLUMNS if c in names), None)
    started = next((c for c in STARTED_COLUMNS if c in names), None)
    seconds = next((c for c in SECONDS_COLUMNS if c in names), None)
    status = next((c for c in STATUS_COLUMNS if c in names), None)
    if finished is None and seconds is None:
        return None
    row = pg.latest_row(
        conn,
        control_schema,
        "load_runs",
        present=finished or seconds,
        order_by=finished or started or seconds,
        status=status,
        statuses=OK_STATUSES,
    )
    if row is None:
        return None
    measured = float(row[seconds]) if seconds and row.get(seconds) is not None else None
    if measured is None and started and finished and row.get(started) and row.get(finished):
        measured = (row[finished] - row[started]).total_seconds()
    if measured is None:
        return None
    when = row.get(started) or row.get(finished)
    return {
        "seconds": measured,
        "started_at": row[started].isoformat() if started and row.get(started) else None,
        "finished_at": row[finished].isoformat() if finished and row.get(finished) else None,
        "reference": when.isoformat() if hasattr(when, "isoformat") else None,
        "copy_seconds": _number(row.get("copy_seconds")),
        "build_seconds": _number(row.get("build_seconds")),
    }


def _number(value: object) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def compare_with_load(history: list[dict], load_run: dict | None) -> dict | None:
    """The estimate made before the load, beside the load's measured time, and the error."""
    if load_run is None:
        return None
    reference = load_run.get("reference")
    earlier = [h for h in history if reference is None or h["assessed_at"] <= _utc(reference)]
    result = {"load_run": load_run, "estimate": None, "error": None}
    if not earlier:
        result["note"] = "no assessment was recorded before this load"
        return result
    estimate = earlier[-1]
    phases = estimate.get("estimates") or {}
    # load_runs.seconds is the copy into landing; the dbt build that `migrate load` runs after it is not in it.
    estimated = float(phases.get("initial_load", 0))
    result["estimate"] = {"assessed_at": estimate["assessed_at"], "seconds": estimated, "build": phases.get("build")}
    result["error"] = estimates.estimate_error(estimated, load_run["seconds"])
    return result


def _utc(stamp: str) -> str:
    """An ISO timestamp in UTC with seconds precision, comparable as text with assessed_at."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")
