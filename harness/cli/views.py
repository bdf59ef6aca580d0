"""What each command shows of its result: one function per result, returning the parts that
harness/cli/ui.py prints (steps, tables, notes on stderr, the summary, the facts of `--json`).
Here the commands up to the load and `status`; views_cutover.py those from reconcile on.

Nothing here reads a database or decides anything: a view only words and arranges a result the
core handed back. When the result means the command failed (a check, a gate), the view also
carries the error the command ends with (`View.failure`), worded here, raised by the command.

Lifecycle modules are imported inside the functions that need them, so that `migrate --help`
stays quick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape

from harness.cli.ui import Note, Part, Result, Step, Summary, Table
from harness.core.errors import EXIT_USAGE, CheckFailed, ConfigError, HarnessError


@dataclass
class View:
    parts: list[Part] = field(default_factory=list)
    failure: HarnessError | None = None  # the error the command ends with, after the parts are shown


def _rate(count: float, seconds: float) -> str:
    return f"{count / max(seconds, 1e-9):,.0f}"


# --- set-up -------------------------------------------------------------------------------------


def server_answers(db, version: str, *, up: bool) -> Step:
    """One database found answering by `env up` (up) or `env status`."""
    return Step(f"{db.side}: {db.describe()}" + (" " if up else " answers ") + f"(PostgreSQL {version})")


def embedded_state(state) -> Step:
    running = f"running, pid {state.pid}" if state.running else "stopped"
    return Step(f"embedded PostgreSQL: {running} ({state.data_dir})")


def seeded(result, source) -> list[Part]:
    return [
        Table("Legacy source", ["table", "rows"], sorted(result.rows.items())),
        Summary(
            f"seeded {result.total:,} legacy rows in {result.seconds:.1f} s ({_rate(result.total, result.seconds)} "
            f"rows/s) into {source.describe()}"
            + "".join(f"; {count:,} {name.removeprefix('mysql.')}" for name, count in result.defects.items())
        ),
    ]


def story_event(at: float, what: str, figures: str) -> str:
    return f"T+{at:5.1f} s  {what}" + (f": {figures}" if figures else "")


def story(result) -> list[Part]:
    return [
        Table(
            "Timeline",
            ["at", "event", "figures"],
            [(f"T+{at:.1f} s", what, figures) for at, what, figures in result.timeline],
        ),
        Table(
            "Every legacy row accounted for (reconciled before the cutover)",
            ["legacy table", "rows", "migrated", "merged", "quarantined"],
            result.dispositions,
        ),
        Summary(
            f"demo finished in {result.timeline[-1][0]:.0f} s: migrated, cut over, fell back, "
            f"and no acknowledged write lost ({result.ledger_check.describe()})"
        ),
    ]


def traffic_start(rate: float, duration: float, ledger: Path, routing: Path | None, side: str) -> Step:
    return Step(
        f"traffic: {rate:g} transactions/s for {duration:g} s, ledger {ledger}"
        + (f", following {routing}" if routing else f", the {side} application")
    )


def traffic(report) -> list[Part]:
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(report.by_kind.items()))
    sides = ", ".join(f"{side} {n:,}" for side, n in sorted(report.by_side.items()))
    return [
        Summary(
            f"{report.transactions:,} transactions ({report.writes:,} row writes, {report.slow} held open) "
            f"acknowledged in {report.seconds:.1f} s = {report.transactions / max(report.seconds, 1e-9):,.0f}/s "
            f"({sides}); {report.failed} failed; {report.refused:,} refused by a freeze and retried; {kinds}"
        ),
        *[Note(f"[yellow]failed:[/] {line}") for line in report.errors],
    ]


# --- 1 assess -----------------------------------------------------------------------------------


def assess(result, config, written) -> View:
    from harness import assess as assessment
    from harness.assess.estimates import STRATEGY_LABELS, format_duration

    markdown = written.markdown.relative_to(config.project_dir)
    view = View(
        [
            Result(
                {
                    "recommendation": result.recommendation,
                    "strategies": result.strategies,
                    "estimates": result.estimates,
                    "report": str(written.json),
                    "report_html": str(written.html),
                }
            ),
            Step(result.verdict["headline"]),
            *[Step(f"  {escape(reason)}") for reason in result.recommendation["reasons"]],
        ]
    )
    limit = config.downtime_limit_minutes
    view.parts.append(
        Table(
            "Downtime per strategy" + (f" (limit {format_duration(limit * 60)})" if limit else ""),
            ["strategy", "downtime", "total", "fits", "possible"],
            [
                [
                    STRATEGY_LABELS[s["name"]],
                    format_duration(s["downtime_seconds"]),
                    format_duration(s["total_seconds"]),
                    "–" if s["within_limit"] is None else ("yes" if s["within_limit"] else "no"),
                    "yes" if s["possible"] else "no",
                ]
                for s in result.strategies
            ],
        )
    )
    phased = next((s for s in result.strategies if s["name"] == "phased" and len(s["waves"]) > 1), None)
    if phased:
        view.parts.append(
            Table(
                "Phased: each wave's window",
                ["wave", "tables", "rows", "freeze", "copy", "build", "validation", "window"],
                assessment.wave_rows(phased["waves"]),
            )
        )
    phases = result.estimates
    view.parts.append(
        Step(
            "phases: "
            + ", ".join(
                f"{label} {format_duration(phases[key]['seconds'])} ({phases[key].get('basis', 'estimated')})"
                for key, label in (
                    ("initial_load", "initial load"),
                    ("build", "build"),
                    ("validation", "validation"),
                    ("final_sync", "final sync"),
                    ("freeze", "freeze"),
                )
            )
        )
    )
    for finding in [f for f in result.findings if f.severity != "info"][:5]:
        colour = "red" if finding.severity == "blocking" else "yellow"
        view.parts.append(Step(f"[{colour}]{finding.severity}[/]: {escape(finding.message)}"))
    view.parts.append(
        Summary(
            f"assessed {sum(t.rows for t in result.tables):,} rows in {len(result.tables)} tables in "
            f"{result.seconds:.0f} s; reports: {markdown}, {written.html.relative_to(config.project_dir)} (with "
            f"charts), {written.json.relative_to(config.project_dir)}"
        )
    )
    if result.blocking:
        first = result.blocking[0]
        message = f"assessment found {len(result.blocking)} blocking problem(s): {first.message}" + (
            f"; {first.fix}" if first.fix else ""
        )
        failure = ConfigError if result.exit_code == EXIT_USAGE else CheckFailed
        view.failure = failure(f"{message}; see {markdown}")
    return view


# --- 5 pre-migration: backups, provisioning ------------------------------------------------------


def backup_start(engine, side: str) -> Step:
    return Step(f"{engine.dump_tool} of the {side}")


def backup(result) -> list[Part]:
    return [
        Summary(
            f"backup {result.backup_id}: {result.file} ({result.size_bytes / 1e6:,.1f} MB, {len(result.row_counts)} "
            f"tables, {sum(result.row_counts.values()):,} rows, sha256 {result.sha256[:12]}…) in {result.seconds:.1f} s"
            + (f", at the source log's position {result.log_position}" if result.log_position else "")
        )
    ]


def restore(result, into: str) -> list[Part]:
    return [
        Summary(
            f"backup {result.backup.backup_id} restored into {into} in {result.seconds:.1f} s: "
            f"{len(result.row_counts)} tables, {sum(result.row_counts.values()):,} rows, all matching the manifest"
            + (
                " by content (checksums)"
                if result.by_content
                else " by row counts (a backup taken before checksums were recorded)"
            )
        )
    ]


def provision(result) -> list[Part]:
    return [Summary(f"target provisioned: {', '.join(result.created) if result.created else 'nothing to change'}")]


# --- 5 load -------------------------------------------------------------------------------------


def built(nodes: int) -> list[Part]:
    return [Summary(f"dbt build: {nodes} nodes passed")]


def tables_added(names: list[str]) -> Step:
    return Step(
        f"the listed tables are loaded but {', '.join(names)}, added to migration.yml since: "
        f"loading {'them' if len(names) > 1 else 'it'} alone"
    )


def copied(result, build: bool) -> list[Part]:
    """The copy of `migrate load` done (None: by the interrupted run this one resumes)."""
    if result is None:
        parts: list[Part] = [Summary("the copy was done by the interrupted run this one resumes")]
    else:
        parts = [
            Table(
                f"Load {result.load_id}" + (" (resumed)" if result.resumed else ""),
                ["table", "rows", "MB", "ranges", "copied now"],
                [(t.name, t.rows, f"{t.bytes / 1e6:,.1f}", t.ranges, t.copied_now) for t in result.tables.values()],
            ),
            Summary(
                f"loaded {result.rows:,} rows in {result.seconds:.1f} s ({_rate(result.rows, result.seconds)} rows/s); "
                "change capture is running on the source"
            ),
        ]
    return parts + ([Step("dbt build")] if build else [])


def tables_loaded(loaded: list) -> list[Part]:
    """`migrate load --table`, or the tables added since the load, loaded alone."""
    return [
        Table(
            "Tables loaded into the running migration",
            ["table", "rows", "MB", "landing table", "views dropped"],
            [(t.name, t.rows, f"{t.bytes / 1e6:,.1f}", t.how, ", ".join(t.dropped_views)) for t in loaded],
        ),
        Summary(
            f"loaded {', '.join(t.name for t in loaded)}; capture is running on {'them' if len(loaded) > 1 else 'it'} "
            "and sync carries on from the copy"
        ),
    ]


def views_dropped(loaded: list) -> list[Part]:
    """Views dropped with reshaped landing tables and not made again (no build ran)."""
    dropped = [view for t in loaded for view in t.dropped_views]
    if not dropped:
        return []
    return [
        Note(
            f"[yellow]views dropped with their reshaped landing tables:[/] {', '.join(dropped)}; "
            "run `migrate build` to make them again"
        )
    ]


def consumer_forgotten(consumer: str) -> list[Part]:
    return [Summary(f"consumer {consumer} forgotten: the source keeps no more changes for it")]


def capture_installed(tables: list, schema: str) -> list[Part]:
    return [
        Summary(
            f"capture triggers installed on {len(tables)} tables of {schema}; changes are logged in _migrate.changes"
        )
    ]


def columns_added(batch) -> list[Part]:
    return [
        Note(
            f"[yellow]note:[/] {name}: {', '.join(columns)} added at the source, now followed; capture takes "
            "them more slowly until `migrate sync --install` installs it again"
        )
        for name, columns in getattr(batch, "columns_added", {}).items()
    ]


def batch(result, lag, capture_column: str | None) -> list[Part]:
    """One `migrate sync` batch (without --follow)."""
    per_table = ", ".join(f"{t}: {n:,}" for t, n in sorted(result.per_table.items()))
    return [
        Summary(
            f"applied {result.changes:,} changes in {result.seconds:.2f} s"
            + (f" ({per_table})" if result.per_table else "")
            + (f"; {lag.changes_behind:,} behind" if lag.changes_behind is not None else "")
        ),
        *columns_added(result),
        *[
            Note(
                f"[yellow]blind spot:[/] {name}: {count:,} rows have no {capture_column}; "
                "their changes are invisible to timestamp capture"
            )
            for name, count in getattr(result, "null_stamped", {}).items()
            if count
        ],
    ]


def followed(result, lag, *, built: bool) -> list[Part]:
    """One batch of `migrate sync --follow` (the app's lag only where there is an app to build)."""
    behind = "?" if lag.changes_behind is None else format(lag.changes_behind, ",")
    app = f" | app lag {lag.app_seconds_behind:5.1f} s" if built else ""
    return [
        *columns_added(result),
        Step(f"{result.changes:>6,} applied | landing lag {lag.seconds_behind:5.1f} s, {behind} changes{app}"),
    ]


def no_models() -> Part:
    return Step(
        "no dbt models in this project yet: landing is filled, nothing is built (migrate init writes a dbt layer)"
    )


def retrying(cause: str, wait: float) -> list[Part]:
    return [Note(f"[yellow]retrying in {wait:.0f} s:[/] {cause}")]


def follow_stopped(report) -> list[Part]:
    why = "the source is frozen for the cutover, nothing left to follow: " if report.source_frozen else ""
    return [
        Summary(
            f"sync stopped: {why}{report.changes:,} changes in {report.batches:,} batches, {report.builds} dbt builds, "
            f"{report.retries} retries"
        )
    ]


# --- any time -----------------------------------------------------------------------------------


def status(result) -> list[Part]:
    from harness.status import strategy_line

    facts = result.facts
    load, sync_state, lag, rec, interrupted = (
        facts["load"],
        facts["sync"],
        facts.get("lag"),
        facts["reconcile"],
        facts["interrupted"],
    )
    capture = facts["capture"]
    rows: list[tuple[str, Any]] = [
        ("source / target", f"{result.source} → {result.target}"),
        (
            "load",
            (f"{load['status']}, {load['rows'] or 0:,} rows in {load['seconds'] or 0:.0f} s" if load else "not started")
            + (
                f"; load run {interrupted['run_id']} interrupted at {interrupted['step']}"
                if interrupted and interrupted["command"] == "load"
                else ""
            ),
        ),
        (
            "capture",
            f"{capture['method']}"
            + (", removed by decommission" if capture.get("removed") else "")
            + (f", missing on {', '.join(capture['missing'])}" if capture.get("missing") else ""),
        ),
        *[("other target", _consumer_line(c)) for c in capture.get("consumers", []) if not c["this_target"]],
        (
            "sync",
            f"{sync_state['changes_applied']:,} changes applied, last at {sync_state['applied_at']:%H:%M:%S}"
            if sync_state
            else "not started",
        ),
        ("lag", _lag_line(lag)),
        (
            "backups",
            ", ".join(
                f"{side} #{b['id']}" + (" verified" if b["verified_at"] else " unverified")
                for side, b in facts["backups"].items()
            )
            or "none",
        ),
        ("reconcile", f"#{rec['id']} {rec['status']} ({', '.join(rec['levels'])})" if rec else "never run"),
        ("approvals", ", ".join(f"{a['stage']}: {a['role']} ({a['name']})" for a in facts["approvals"]) or "none"),
        ("phase", _phase_line(facts["phase"])),
        ("strategy", strategy_line(facts["strategy"])),
    ]
    return [Table("Migration status", ["what", "state"], rows), Summary(f"next: {result.next_step}")]


def _lag_line(lag: dict | None) -> str:
    if not lag:
        return "-"
    behind = lag["changes_behind"] if lag["changes_behind"] is not None else "?"
    app = f"app {lag['app_seconds']:.1f} s" if lag["app_seconds"] is not None else "no app yet (no dbt models)"
    return f"landing {lag['landing_seconds']:.1f} s ({behind} changes), {app}"


def _consumer_line(consumer: dict) -> str:
    """Another target syncing from the source, and what to do if it is gone."""
    last = (
        f"last applied {consumer['last_applied_at']:%Y-%m-%d %H:%M}" if consumer["last_applied_at"] else "never applied"
    )
    line = (
        f"{consumer['consumer_id']} ({consumer['target']}), {last}, holds "
        f"{consumer['changes_held']:,} changes in the log"
    )
    return line + (f"; gone? `migrate sync --forget {consumer['consumer_id']}`" if consumer["changes_held"] else "")


def _phase_line(phase: dict | None) -> str:
    if phase is None:
        return "before cutover"
    line = f"{phase['phase']} since {phase['changed_at']:%Y-%m-%d %H:%M %Z}"
    if phase["rollback_window_ends"] and phase["phase"] == "switched":
        line += f"; rollback window ends {phase['rollback_window_ends']:%Y-%m-%d %H:%M %Z}"
    return line
