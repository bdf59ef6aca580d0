"""What the commands from reconcile on show of their results: reconcile, docs, approve, cutover,
rollback, rehearse, decommission (see views.py, whose conventions these follow)."""

from __future__ import annotations

from pathlib import Path

from harness.cli.ui import Note, Part, Result, Step, Summary, Table
from harness.cli.views import View
from harness.core.errors import CheckFailed


def step_done(name: str, seconds: float) -> Step:
    """One runbook step finished (cutover, rollback, decommission)."""
    return Step(f"{name}: done in {seconds:.2f} s")


def step_timed(name: str, seconds: float) -> Step:
    """One rehearsal step finished."""
    return Step(f"{name}: {seconds:.2f} s")


def _steps_table(title: str, steps: list[tuple[str, float | None]]) -> Table:
    """A runbook's steps; None: done by an earlier, interrupted run."""
    return Table(title, ["step", "seconds"], [(name, "done earlier" if s is None else f"{s:.2f}") for name, s in steps])


def _unavailable(seconds: float | None) -> str:
    return f"{seconds:.1f} s" if seconds is not None else "not measured"


# --- 6 validate, sign-off -----------------------------------------------------------------------


def reconcile(result, project_dir: Path) -> View:
    failed = [(r.level, c) for r in result.levels for c in r.checks if c.verdict == "failed"]
    report = Path(result.files["markdown"]).relative_to(project_dir)
    view = View(
        [
            Table(
                f"Reconciliation {result.reconcile_id}",
                ["level", "verdict", "passed", "failed", "not available", "seconds"],
                [
                    (
                        r.level,
                        r.verdict,
                        r.count("passed"),
                        r.count("failed"),
                        r.count("not available"),
                        f"{r.seconds:,.1f}",
                    )
                    for r in result.levels
                ],
            ),
            *[
                Note(f"[red]✗[/] {level}: {check.name}" + (f" — {check.detail}" if check.detail else ""))
                for level, check in failed[:10]
            ],
            *([Note(f"  … and {len(failed) - 10} more failed checks")] if len(failed) > 10 else []),
            Result(
                {
                    "reconcile_id": result.reconcile_id,
                    "passed": result.passed,
                    "levels": {r.level: r.verdict for r in result.levels},
                    "failed_checks": [f"{level}: {check.name}" for level, check in failed],
                    "report": str(report),
                }
            ),
        ]
    )
    if not result.passed:
        bad = ", ".join(r.level for r in result.levels if r.verdict == "failed")
        view.failure = CheckFailed(
            f"reconciliation failed at level(s) {bad}: {len(failed)} check(s) failed; see {report}"
        )
        return view
    compared = [r.level for r in result.levels if r.verdict != "skipped"]
    skipped = [r for r in result.levels if r.verdict == "skipped"]
    not_compared = ""
    if skipped:
        why = skipped[0].checks[0].detail if skipped[0].checks else "nothing to compare"
        not_compared = f"; not compared: {', '.join(r.level for r in skipped)} ({why})"
    view.parts.append(
        Summary(
            f"reconciliation passed in {result.seconds:,.1f} s ({', '.join(compared)}); report {report} (.json, .html)"
            + not_compared
        )
    )
    return view


def documents(result, folder: Path, project_dir: Path) -> list[Part]:
    shown = folder.relative_to(project_dir) if folder.is_relative_to(project_dir) else folder
    return [
        *([Step("ran `dbt parse` first: target/manifest.json was missing")] if result.parsed else []),
        Table(
            "Migration documents",
            ["document", "file"],
            [(what, str(path.relative_to(folder))) for what, path in result.files],
        ),
        *[Note(f"[yellow]note:[/] {note}") for note in result.facts["notes"]],
        Summary(f"{len(result.files)} files written to {shown}; open {shown / 'index.html'} or {shown / 'README.md'}"),
    ]


def approved(approval) -> list[Part]:
    return [
        Summary(
            f"approval {approval.approval_id}: {approval.name} ({approval.role}) approved {approval.stage} at "
            f"{approval.approved_at:%Y-%m-%d %H:%M:%S %Z}, run by {approval.os_user}@{approval.host}"
        )
    ]


def revoked(withdrawn) -> list[Part]:
    return [
        Summary(
            f"approval {withdrawn.approval_id} revoked: {withdrawn.name} ({withdrawn.role}) no longer approves "
            f"{withdrawn.stage}"
        )
    ]


# --- 5 cutover, 7 rollback ------------------------------------------------------------------------


def cutover_plan(plan) -> Step:
    from harness.assess.estimates import STRATEGY_LABELS

    what = STRATEGY_LABELS[plan.strategy] + (
        f", wave {plan.wave} of {plan.waves}: {', '.join(plan.tables)}" if plan.wave else ""
    )
    return Step(f"strategy {what}" + (f" (resuming cutover run {plan.resumes_run})" if plan.resumes_run else ""))


def cutover_dry_run(plan, gates: list, estimates: dict[str, float]) -> View:
    from harness.cutover import GateFailed

    view = View(
        [
            Table(
                "Gates", ["gate", "state", "why"], [(g.name, "pass" if g.passed else "FAIL", g.reason) for g in gates]
            ),
            Table(
                "Runbook",
                ["step", "estimated"],
                [
                    (name, f"{estimates[name]:.1f} s" if name in estimates else "not measured yet")
                    for name in plan.steps
                ],
            ),
        ]
    )
    failed = [g.name for g in gates if not g.passed]
    if failed:  # exit 1: a gate is not met
        view.failure = GateFailed(f"dry run: nothing was changed; cutover would be refused ({', '.join(failed)})")
    else:
        view.parts.append(Summary("dry run: nothing was changed; every gate passes"))
    return view


def cutover(result, plan) -> list[Part]:
    unavailable = _unavailable(result.write_unavailable_seconds)
    parts: list[Part] = [
        _steps_table(
            f"Cutover run {result.run_id}"
            + (f", wave {plan.wave}" if plan.wave else "")
            + (" (resumed)" if result.resumed else ""),
            [(s.name, None if s.skipped else s.seconds) for s in result.steps],
        ),
        Result(
            {
                "run_id": result.run_id,
                "resumed": result.resumed,
                "wave": plan.wave,
                "write_unavailable_seconds": result.write_unavailable_seconds,
                "steps": {s.name: None if s.skipped else round(s.seconds, 3) for s in result.steps},
            }
        ),
    ]
    if not plan.last:
        return parts + [
            Summary(
                f"wave {plan.wave} of {plan.waves} cut over: {', '.join(plan.tables)} written on the new system "
                f"(writes to them were unavailable for {unavailable}) and read-only on the source; the other tables "
                f"stay on the legacy system; next: migrate cutover --wave {plan.wave + 1}"
            )
        ]
    return parts + [
        Summary(
            ("every wave is cut over: " if plan.wave else "cutover complete: ")
            + f"the applications write to the new system; writes were unavailable for {unavailable}; "
            "the source stays read-only for the rollback window"
        )
    ]


def nothing_to_roll_back(why: str) -> list[Part]:
    return [Summary(f"no rollback to recommend: {why}; nothing was changed")]


def rollback_criteria(verdicts: list, deciders: list[str]) -> View:
    from harness.rollback import criteria

    view = View(
        [
            Table(
                "Rollback criteria",
                ["criterion", "kind", "state", "figure", "limit", "note"],
                [
                    (
                        v.name,
                        v.kind,
                        v.state.upper() if v.state == criteria.MET else v.state,
                        v.figure,
                        v.limit,
                        v.detail,
                    )
                    for v in verdicts
                ],
            )
        ]
    )
    met = criteria.met(verdicts)
    if met:
        view.failure = CheckFailed(
            "rollback recommended: "
            + "; ".join(f"{v.name} ({v.figure})" for v in met)
            + f"; a decider ({', '.join(deciders)}) decides with migrate rollback --role ROLE "
            "--decided-by NAME --reason TEXT"
        )
        return view
    unknown = [v.name for v in verdicts if v.state == criteria.CANNOT_TELL]
    view.parts.append(
        Summary(
            "no rollback criterion is met"
            + (f"; cannot tell: {', '.join(unknown)}" if unknown else "")
            + "; nothing was changed"
        )
    )
    return view


def aborted(result) -> list[Part]:
    return [
        Summary(
            f"rolled back{f' cutover run {result.run_id}' if result.run_id else ''} before the "
            "switch: source writable again"
            + (f" ({', '.join(result.unfrozen)} unfrozen)" if result.unfrozen else "")
            + "; capture keeps running"
        )
    ]


def fell_back(result) -> list[Part]:
    return [
        _steps_table(
            f"Fallback run {result.run_id}" + (" (resumed)" if result.resumed else ""),
            [(s.name, None if s.skipped else s.seconds) for s in result.steps],
        ),
        Table(
            "Carried back into the legacy schema",
            ["table", "inserted", "updated", "deleted"],
            [
                (name, f"{c['inserted']:,}", f"{c['updated']:,}", f"{c['deleted']:,}")
                for name, c in result.carried.items()
            ],
        ),
        Summary(
            "fell back: every change of the new application is in the legacy schema and verified; "
            "the applications write the legacy system again (writes were unavailable for "
            f"{_unavailable(result.write_unavailable_seconds)}); the new side stays frozen"
        ),
    ]


def rehearsed(result, project_dir: Path) -> list[Part]:
    return [
        Summary(
            f"rehearsal {result.rehearsal_id} succeeded in {result.seconds:.0f} s"
            + ("" if result.fallback else " (rolled back before the switch: the project has no reverse models)")
            + f"; report {result.report.relative_to(project_dir)}; the cutover runbook now uses its timings"
        )
    ]


def decommissioned(result, schema: str, read_only_schema: str) -> list[Part]:
    archive = f"archive backup #{result.backup_id} ({result.archive})" if result.backup_id else "no archive recorded"
    if result.already_done:
        return [
            Summary(f"already decommissioned at {result.decommissioned_at:%Y-%m-%d %H:%M %Z}; {archive}; nothing to do")
        ]
    return [
        _steps_table(f"Decommission run {result.run_id}", result.steps),
        Step(
            f"{schema} stays read-only ({len(result.read_only_tables)} tables); only "
            f"`drop schema {read_only_schema} cascade` on the source lifts it"
        ),
        Summary(
            f"migration complete{' (rollback window cut short)' if result.forced else ''}: {archive} verified by a "
            "restore; capture removed from the source"
        ),
    ]
