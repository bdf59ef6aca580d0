"""`migrate dashboard`: one self-contained HTML page of where the migration stands, with its charts.

The facts come from the control schema (harness.target.history reads them back as time series)
and from `status`; they are kept as JSON first (dashboard.json) and the page is rendered from that
JSON alone, as every report is. The page holds no script and fetches nothing: its charts are SVG
drawn by matplotlib (harness.render.charts), inline. Every command that changes the state refreshes
it when it finishes (`refresh`, called once, by the CLI's entry point).

Charts: the dispositions of every legacy table (migrated, merged, quarantined); load throughput
per table over time; landing and app lag over time (the samples `sync --follow` records); the
cutover and fallback as a Gantt chart, planned beside rehearsed beside real, with the time writes
were unavailable shaded; the reconciliation verdicts of each level, run after run. Then the
approvals.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import status as migration_status
from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database
from harness.docs import timeline
from harness.docs.facts import plain
from harness.render import Block, charts, heading, html_page, key_value, paragraph, table, write_atomic
from harness.target import approvals, history, lag_samples

NAME = "dashboard"
# The commands after which the CLI refreshes the dashboard: those that change the state.
CHANGES_STATE = (
    "provision",
    "load",
    "build",
    "sync",
    "reconcile",
    "approve",
    "cutover",
    "rollback",
    "rehearse",
    "backup",
    "restore",
    "decommission",
    "demo",
)
VERDICT_MARK = {"passed": "✅", "failed": "❌", "warning": "⚠️", "skipped": "➖", "not available": "➖"}
DISPOSITION_COLOURS = ("#2e7d32", "#1565c0", "#ef6c00")  # migrated, merged, quarantined


@dataclass(frozen=True)
class Written:
    html: Path
    json: Path
    facts: dict[str, Any]


def paths(config: Config) -> tuple[Path, Path]:
    """Where the dashboard is written: reports/dashboard.html and its facts, reports/dashboard.json."""
    return config.reports_root / f"{NAME}.html", config.reports_root / f"{NAME}.json"


# --- the facts ------------------------------------------------------------------------------------


def collect(config: Config, source: Database, target: Database) -> dict[str, Any]:
    """Everything the page shows, as one JSON-ready dict."""
    where = migration_status.status(config, source, target)
    schema = config.control_schema
    with connections.connection(target, command=NAME, autocommit=True) as conn:
        control.ensure(conn, schema)
        cutover = history.last_run(conn, schema, "cutover")
        facts = {
            "load": history.load_progress(conn, schema),
            "lag_samples": lag_samples.newest(conn, schema),
            "cutover": cutover,
            "fallback": history.last_run(conn, schema, "fallback"),
            "rehearsal": history.last_run(conn, schema, "rehearse", succeeded=True),
            "planned": history.planned_seconds(conn, schema, cutover["started_at"] if cutover else None),
            "reconcile_runs": history.reconcile_runs(conn, schema),
            "approvals": approvals.signoffs(conn, schema),
            "dispositions": history.dispositions(conn),
        }
    return plain(
        {
            "document": NAME,
            "version": 1,
            "generated_at": datetime.now().astimezone(),
            "migration": config.name,
            "source": where.source,
            "target": where.target,
            "status": where.facts,
            "next_step": where.next_step,
            **facts,
        }
    )


def watch_facts(config: Config, source: Database, target: Database) -> dict[str, Any]:
    """What `status --watch` shows at each refresh: status, the load's ranges, the lag samples, the
    last cutover's steps."""
    where = migration_status.status(config, source, target)
    schema = config.control_schema
    with connections.connection(target, command="status --watch", autocommit=True) as conn:
        return {
            "status": where.facts,
            "next_step": where.next_step,
            "lag": where.facts.get("lag"),
            "load": history.load_progress(conn, schema),
            "lag_samples": lag_samples.newest(conn, schema, limit=10),
            "cutover": history.last_run(conn, schema, "cutover"),
        }


def write(config: Config, source: Database, target: Database) -> Written:
    """Collect the facts, save them as dashboard.json and render dashboard.html from that JSON."""
    html_path, json_path = paths(config)
    write_atomic(json_path, json.dumps(collect(config, source, target), indent=2, default=str) + "\n")
    facts = json.loads(json_path.read_text())
    with charts.kept_in(config.project_dir / ".migrate" / "charts"):
        write_atomic(html_path, page(facts))
    return Written(html_path, json_path, facts)


# Set by a command that wrote the dashboard itself, with databases the project's configuration does not
# name (the demo's MySQL-family source, stopped when it ends): refresh then leaves that page as it is.
_written_by_command: list[Path] = []


def write_for_command(config: Config, source: Database, target: Database) -> Path:
    """Write the dashboard now, and keep the CLI's refresh after the command from writing it again."""
    html = write(config, source, target).html
    _written_by_command.append(html)
    return html


def refresh(command: str) -> Path | None:
    """After a command that changed the state: write the dashboard again (the CLI calls this once,
    where every command finishes). None when `command` changes nothing or the project has no
    configuration to read."""
    if command not in CHANGES_STATE:
        return None
    if _written_by_command:
        return _written_by_command[-1]
    from harness.core.config import load_config

    config = load_config()
    source, target = connections.resolve(config, create_missing=False)
    return write(config, source, target).html


# --- the page -------------------------------------------------------------------------------------


def page(facts: dict[str, Any]) -> str:
    return html_page(blocks(facts), f"Migration dashboard: {facts['migration']}")


def lag_seconds(value: float | None) -> str:
    """A lag in seconds, or "not known" (no sync yet, a consumer forgotten, no app to build)."""
    return "not known" if value is None else f"{value:,.1f} s"


def _time(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None


def _verdict(word: str | None) -> str:
    """A verdict as its mark and word: the HTML shows it as the word on its colour."""
    return f"{VERDICT_MARK[word]} {word}" if word in VERDICT_MARK else str(word or "–")


def blocks(facts: dict[str, Any]) -> Iterator[Block]:
    yield heading(f"Migration dashboard: {facts['migration']}", 1)
    yield paragraph(
        f"{facts['source']} → {facts['target']} · written {facts['generated_at']} · "
        "refreshed by every command that changes the state, and by `migrate dashboard`"
    )
    yield from _standing(facts)
    yield from _dispositions(facts)
    yield from _throughput(facts)
    yield from _lag(facts)
    yield from _timeline(facts)
    yield from _verdicts(facts)
    yield from _approvals(facts)


def _standing(facts: dict[str, Any]) -> Iterator[Block]:
    s = facts["status"]
    yield heading("Where it stands")
    yield paragraph(f"**Next step:** {facts['next_step']}")
    load, sync, lag, rec = s.get("load"), s.get("sync"), s.get("lag"), s.get("reconcile")
    phase = s.get("phase") or {}
    yield key_value(
        [
            ("phase", f"{phase['phase']} since {phase['changed_at']}" if phase else "before cutover"),
            ("strategy", migration_status.strategy_line(s["strategy"])),
            (
                "load",
                f"{_verdict('passed') if load['status'] == 'succeeded' else load['status']}, "
                f"{load['rows'] or 0:,} rows in {load['seconds'] or 0:,.1f} s"
                if load
                else "not started",
            ),
            (
                "sync",
                f"{sync['changes_applied']:,} changes applied, last at {sync['applied_at']}" if sync else "not started",
            ),
            (
                "lag",
                f"landing {lag_seconds(lag['landing_seconds'])}, app {lag_seconds(lag['app_seconds'])}"
                + (f", {lag['changes_behind']:,} changes behind" if lag["changes_behind"] is not None else "")
                if lag
                else "–",
            ),
            (
                "last reconciliation",
                f"run {rec['id']}: {_verdict(rec['status'])} ({', '.join(rec['levels'])})" if rec else "never run",
            ),
            ("approvals", f"{len(s.get('approvals') or [])} in force"),
        ],
        headers=("what", "state"),
    )


def _dispositions(facts: dict[str, Any]) -> Iterator[Block]:
    yield heading("Every legacy row accounted for")
    rows = facts["dispositions"]
    if rows is None:
        yield paragraph("No dispositions yet: the dbt model `quarantine.dispositions` has not been built.")
        return
    yield charts.stacked_bars(
        "dispositions",
        "Dispositions per legacy table: migrated, merged into another row, quarantined",
        [r["source_table"] for r in rows],
        {
            "migrated": [r["migrated"] for r in rows],
            "merged": [r["merged"] for r in rows],
            "quarantined": [r["quarantined"] for r in rows],
        },
        DISPOSITION_COLOURS,
    )


def _throughput(facts: dict[str, Any]) -> Iterator[Block]:
    yield heading("Load throughput")
    load = facts["load"]
    if load is None:
        yield paragraph("Nothing has been loaded yet (`migrate load`).")
        return
    started = _time(load["started_at"])
    series: dict[str, list[tuple[datetime, float]]] = {}
    for copied in load["ranges"]:
        if not copied["done"] or copied["copied_at"] is None:
            continue
        points = series.setdefault(copied["table_name"], [(started, 0.0)])
        points.append((_time(copied["copied_at"]), points[-1][1] + (copied["rows_copied"] or 0)))
    seconds = load["seconds"]
    yield paragraph(
        f"Load {load['load_id']} {load['status']}: {load['rows_copied'] or 0:,} rows"
        + (f" in {seconds:,.1f} s ({(load['rows_copied'] or 0) / seconds:,.0f} rows/s)" if seconds else "")
        + "; each table's rows copied as its key ranges finished."
    )
    yield charts.lines("throughput", "Rows copied over time, per table (UTC)", series, "rows copied", step=True)


def _lag(facts: dict[str, Any]) -> Iterator[Block]:
    yield heading("Lag")
    samples = facts["lag_samples"]
    if not samples:
        yield paragraph("No lag samples yet: `migrate sync --follow` records one after every batch.")
        return
    at = [_time(s["sampled_at"]) for s in samples]
    yield charts.lines(
        "lag",
        f"How far landing and app are behind the source (UTC; {len(samples):,} samples from `sync --follow`)",
        {
            "landing": list(zip(at, (s["landing_seconds"] for s in samples))),
            "app": list(zip(at, (s["app_seconds"] for s in samples))),
        },
        "seconds behind",
    )


def _timeline(facts: dict[str, Any]) -> Iterator[Block]:
    yield heading("Cutover and fallback: planned, rehearsed, real")
    cutover, fallback, rehearsal = facts["cutover"], facts["fallback"], facts["rehearsal"]
    if cutover is None and rehearsal is None:
        yield paragraph("No cutover and no rehearsal has run yet: the timeline appears after `migrate rehearse`.")
        return
    steps = [s["step"] for s in (cutover or rehearsal)["steps"]]
    bars = timeline.in_sequence(steps, facts["planned"], "planned")
    if rehearsal:
        bars += timeline.in_sequence(
            steps, {s["step"]: s["seconds"] for s in rehearsal["steps"] if s["seconds"]}, "rehearsed"
        )
    windows = []
    if cutover:
        origin = timeline.origin(cutover)
        bars += timeline.recorded(cutover, origin, "real")
        window = timeline.window(cutover, origin, "freeze_source", "switch")
        if window:
            windows.append(window)
        if fallback and fallback["run_id"] > cutover["run_id"]:
            fallback_steps = ["fallback " + s["step"] for s in fallback["steps"]]
            steps += fallback_steps
            bars += timeline.recorded(fallback, origin, "real", "fallback ")
            window = timeline.window(fallback, origin, "freeze_target", "unfreeze_source")
            if window:
                windows.append(window)
    run = (
        f"cutover run {cutover['run_id']} ({cutover['status']})" if cutover else f"rehearsal run {rehearsal['run_id']}"
    )
    yield paragraph(
        f"Each step of {run}"
        + (
            f" and fallback run {fallback['run_id']}"
            if cutover and fallback and fallback["run_id"] > cutover["run_id"]
            else ""
        )
        + ": **planned** as the runbook planned it when the cutover started (the last rehearsal before it, "
        "else the last cutover), **rehearsed** in the last successful rehearsal, **real** as recorded in the "
        "control schema. Shaded: writes unavailable (freeze to switch; for a fallback, freeze of the target to the "
        "unfreeze of the source)."
    )
    yield charts.gantt("timeline", "The runbook's steps in seconds (T = the first step's start)", steps, bars, windows)


def _verdicts(facts: dict[str, Any]) -> Iterator[Block]:
    yield heading("Reconciliation verdicts, run after run")
    runs = [r for r in facts["reconcile_runs"] if r["status"] != "running"]
    if not runs:
        yield paragraph("No reconciliation has run yet (`migrate reconcile`).")
        return
    levels: list[str] = []
    for run in runs:
        levels += [level for level in run["levels"] if level not in levels]
    yield charts.verdict_grid(
        "verdicts",
        "Each level's verdict in each reconcile run, oldest left",
        levels,
        [(f"#{r['reconcile_id']}", r["level_verdicts"] or {}) for r in runs],
    )


def _approvals(facts: dict[str, Any]) -> Iterator[Block]:
    yield heading("Approvals")
    rows = [
        [
            a["stage"],
            a["role"],
            a["name"],
            a["approved_at"],
            f"revoked {a['revoked_at']}" if a["revoked_at"] else "in force",
            a["note"] or "",
        ]
        for a in facts["approvals"]
    ]
    if not rows:
        yield paragraph("No sign-off recorded yet (`migrate approve`).")
        return
    yield table(("stage", "role", "name", "approved at", "state", "note"), rows, "llllll")
