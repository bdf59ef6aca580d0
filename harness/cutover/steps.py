"""The cutover runbook: one function per step over one run object, run in the order of the
strategy (strategy.STEPS, strategy.BIG_BANG_STEPS) by harness.core.runbook, which records each step
in the control schema and skips those an interrupted run already finished."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from harness import dbt, engines, load, reconcile, sync
from harness.core import connections, control, processes, runbook
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.context import Context
from harness.core.errors import CheckFailed, DbtFailed
from harness.core.runbook import StepResult
from harness.cutover import go_no_go, new_side, verification
from harness.cutover.routing import write_routing
from harness.cutover.strategy import PARTLY_SWITCHED, SWITCHING, Plan, plan
from harness.dbt import compiled_plan
from harness.engines.base import Connection
from harness.target.provision import APP_SCHEMA

# What catch_up compares, outside the window, before anything is frozen.
CATCH_UP_LEVELS = ["counts", "checksums"]


@dataclass
class CutoverResult:
    run_id: int
    resumed: bool
    steps: list[StepResult] = field(default_factory=list)
    write_unavailable_seconds: float | None = None
    plan: Plan | None = None


@dataclass
class CutoverRun:
    """What every step of one cutover run shares: the migration, its run in the control schema
    (over `ctl`), and the work a step begins ahead of a later one."""

    config: Config
    source: Database
    target: Database
    plan: Plan
    ctl: Connection
    run_id: int
    background: ThreadPoolExecutor  # the final verification runs here beside the final build
    skip_gates: bool = False
    last_reconcile: datetime | None = None  # the gate's evidence: where a run without catch_up's compares from
    compiled: compiled_plan.CompiledPlan | None = None  # catch_up's sync build, recorded for the window's
    manifest: Any = None  # parsed at catch_up where there is no plan, so that the window's build need not parse
    verification: Future | None = None  # started at final_sync, collected at final_verification
    context: Context | None = None  # the tables described once, by the gates, for a big bang's load

    def __post_init__(self) -> None:
        if self.context is None:
            self.context = Context(self.config, self.source, self.target, "cutover")

    @property
    def schema(self) -> str:
        return self.config.control_schema

    @property
    def tables(self) -> list[str]:
        return self.plan.tables

    def details(self) -> dict[str, dict]:
        """What each step of this run recorded so far (of an interrupted run too)."""
        return runbook.step_details(self.ctl, self.schema, self.run_id)


def run(
    config: Config,
    source: Database,
    target: Database,
    *,
    wave: int | None = None,
    on_step: Callable[[StepResult], None] | None = None,
    skip_gates: bool = False,
    stop_before: str | None = None,
    context: Context | None = None,
) -> CutoverResult:
    """Run the runbook of the configured strategy (for phased, of one wave); `stop_before` a step
    leaves the run open there (a rehearsal stops before the switch)."""
    chosen = plan(config, target, wave)
    schema = config.control_schema
    with connections.connection(target, command="cutover", autocommit=True) as ctl:
        control.ensure(ctl, schema)
        # A running `sync --follow` yields until this session ends (and stops once the source is frozen).
        sync.exclude_followers(ctl, config, config.cutover.lock_timeout_seconds)
        run_id, resumed, done = runbook.open_run(ctl, schema, "cutover", chosen.detail())
        result = CutoverResult(run_id, resumed, plan=chosen)
        content = go_no_go.content_reconciliation(ctl, config)
        try:
            with ThreadPoolExecutor(max_workers=1) as background:
                state = CutoverRun(
                    config,
                    source,
                    target,
                    chosen,
                    ctl,
                    run_id,
                    background,
                    skip_gates,
                    content[1] if content else None,
                    context=context,
                )
                actions = {name: partial(STEP_FUNCTIONS[name], state) for name in chosen.steps}
                result.steps = runbook.run_steps(
                    ctl, schema, "cutover", run_id, actions, done, stop_before=stop_before, on_step=on_step
                )
        except BaseException:
            if "freeze_source" not in done and not any(s.name == "freeze_source" for s in result.steps):
                control.finish_run(ctl, schema, run_id, "failed")  # nothing was changed: a later cutover starts afresh
            raise
        if stop_before:
            return result
        details = runbook.step_details(ctl, schema, run_id)
        frozen_at, switched_at = details["freeze_source"].get("frozen_at"), details["switch"].get("switched_at")
        result.write_unavailable_seconds = (switched_at - frozen_at) if frozen_at and switched_at else None
        control.finish_run(
            ctl, schema, run_id, "succeeded", {"write_unavailable_seconds": result.write_unavailable_seconds}
        )
    return result


# --- the steps, in the order they run (load and build: a big bang's, after its freeze) ----------------


def preflight(run: CutoverRun, detail: dict) -> None:
    found = go_no_go.gates(run.config, run.source, run.target, context=run.context)
    detail["gates"] = go_no_go.recorded(found)  # recorded whether or not they pass
    if not run.skip_gates:
        go_no_go.refuse_unless_passed(found)


def catch_up(run: CutoverRun, detail: dict) -> None:
    # Sync and build everything written so far while the legacy application still writes;
    # compare both sides at one snapshot by counts and segment checksums (the whole tables,
    # outside the window: the window then compares only the rows changed since, by the same
    # row hash); sync and build once more, so that the window's build has only what arrives
    # during this last round.
    config, source, target = run.config, run.source, run.target
    detail["changes"] = sync.apply_until_caught_up(config, source, target)
    sync.build(config, target)
    # Earlier waves' tables are counted out: frozen at the source since their own cutover, they
    # are written on the new side now, and the new application's changes are no drift.
    still_legacy = replace(config, tables=tuple(t for t in config.tables if t.name not in run.plan.switched_before))
    counted = reconcile.reconcile(still_legacy, source, target, CATCH_UP_LEVELS, report_name="cutover-catch-up")
    detail["reconcile_id"] = counted.reconcile_id
    if not counted.passed:
        wrong = [
            f"{level.level} {c.name}" for level in counted.levels for c in level.checks if c.verdict == reconcile.FAILED
        ]
        raise CheckFailed(
            f"catch-up reconciliation failed ({'; '.join(wrong)}): landing differs from the source; "
            f"nothing was frozen; see {counted.files.get('markdown')}"
        )
    detail["changes"] += counted.point.changes_applied + sync.apply_until_caught_up(config, source, target)
    # This build's statements are recorded: the window runs them again as one plan, without dbt.
    recorder = compiled_plan.Recorder()
    detail["nodes"] = sync.build(config, target, listeners=[recorder]).succeeded
    run.compiled, detail["compiled_plan"] = recorder.plan(target)
    # After the build (its manifest says which app tables each wave makes), before the window.
    with connections.connection(target, command="cutover", autocommit=True) as conn:
        due = new_side.reverse_capture_due(config, conn, run.plan)
    new_side.install_reverse_capture(target, due)
    detail["reverse_capture"] = [t.name for t in due]
    # Without a plan, the window's dbt build starts from the project parsed here rather than reading it itself.
    if run.compiled is None:
        run.manifest = dbt.parse(config, target)


def freeze_source(run: CutoverRun, detail: dict) -> None:
    config = run.config
    with connections.connection(run.source, command="cutover freeze") as conn:
        frozen = engines.source_engine(config).freeze(
            conn,
            config.source_schema,
            run.tables,
            lock_timeout_seconds=config.cutover.lock_timeout_seconds,
            drain_timeout_seconds=config.cutover.drain_timeout_seconds,
            legacy_role=config.roles.get("legacy_app_role"),
        )
    with connections.connection(run.target, command="cutover", autocommit=True) as conn:
        control.set_phase(conn, run.schema, "frozen")
        if run.plan.strategy == "big_bang":
            detail["abandoned_loads"] = control.abandon_unfinished_loads(conn, run.schema)
    detail.update(
        tables=frozen.tables,
        waited_seconds=frozen.waited_seconds,
        ended_transactions=frozen.ended_transactions,
        revoked=frozen.revoked,
        notes=frozen.notes,
        frozen_at=time.time(),
    )


def load_snapshot(run: CutoverRun, detail: dict) -> None:
    # Nothing moves any more: one snapshot of every table, copied whole (a killed copy resumes).
    loaded = load.load(run.config, run.source, run.target, context=run.context)
    detail.update(load_id=loaded.load_id, rows=loaded.rows, bytes=loaded.bytes, seconds=loaded.seconds)


def full_build(run: CutoverRun, detail: dict) -> None:
    detail["nodes"] = sync.build(run.config, run.target, ("build", "--full-refresh")).succeeded


def final_sync(run: CutoverRun, detail: dict) -> None:
    detail["changes"] = sync.apply_until_caught_up(run.config, run.source, run.target)
    # Landing is final now (the source is frozen): it is verified against the source while
    # dbt builds, since neither changes what the other reads. A resumed run verifies afresh.
    run.verification = run.background.submit(_verify_landing, run, _catch_up_counts(run))


def final_build(run: CutoverRun, detail: dict) -> None:
    # The incremental sync build, over the last changes: catch_up's recorded plan where there is
    # one (harness/dbt/compiled_plan.py), else dbt; a resumed run has neither and parses the project itself.
    recorded, run.compiled = run.compiled, None
    manifest, run.manifest = run.manifest, None
    detail["parsed_at_catch_up"] = manifest is not None
    if recorded is not None:
        try:
            detail["nodes"] = sync.build(run.config, run.target, plan=recorded).succeeded
            detail["compiled_plan"] = recorded.describe()
            return
        except DbtFailed as failed:  # rolled back whole: dbt builds the same batch and says what failed
            detail["compiled_plan_failed"] = str(failed)
    detail["nodes"] = sync.build(run.config, run.target, manifest=manifest).succeeded


def final_verification(run: CutoverRun, detail: dict) -> None:
    started, run.verification = run.verification, None
    detail.update(started.result() if started else _verify_landing(run, _catch_up_counts(run)))
    if "failed" in detail:
        raise CheckFailed(detail["failed"])


def reverse_capture(run: CutoverRun, detail: dict) -> None:
    # After the final build and before the switch: from here on only the new application
    # writes these `app` tables, and every row it changes is logged with its before image
    # for a fallback. Installed at catch_up where there is one, outside the window.
    names = run.details().get("catch_up", {}).get("reverse_capture")
    with connections.connection(run.target, command="cutover", autocommit=True) as conn:
        if names is not None:
            tables = [t for t in new_side.app_tables(conn) if t.name in names]
        else:
            tables = new_side.reverse_capture_due(run.config, conn, run.plan)
    new_side.install_reverse_capture(run.target, tables)  # a no-op where catch_up did it
    new_side.clear_reverse_log(run.target, [t.name for t in tables])
    detail["tables"] = [t.name for t in tables]


def align_sequences(run: CutoverRun, detail: dict) -> None:
    with connections.connection(run.target, command="cutover sequences", autocommit=True) as conn:
        detail["sequences"] = new_side.align_sequences(conn, APP_SCHEMA)


def switch(run: CutoverRun, detail: dict) -> None:
    # The intent first, in the control schema: from here on the applications may write the
    # new side, so a rollback can only fall back (rollback.falls_back), never abort. Every
    # part can run again: the command only if it did not run, the routing is the same file.
    config, ctl, schema, chosen = run.config, run.ctl, run.schema, run.plan
    intent = control.switch_intent(ctl, schema)
    if not intent or intent["run_id"] != run.run_id:
        intent = {"run_id": run.run_id, "tables": chosen.switched_after, "command_ran": False}
        control.set_phase(ctl, schema, SWITCHING, detail={"switch": intent})
    if config.cutover.switch_command and not intent["command_ran"]:
        try:
            processes.run(
                list(config.cutover.switch_command), env=processes.libpq_env(run.target.url), what="the switch command"
            )
        except processes.ProgramFailed:
            # It exited non-zero: by its contract it switched nothing, and the routing file
            # was not written, so the intent is withdrawn and an abort stays possible.
            control.set_phase(ctl, schema, "frozen", detail={})
            raise
        intent["command_ran"] = True  # a kill before this line runs the command again: it must be safe to repeat
        control.set_phase(ctl, schema, SWITCHING, detail={"switch": intent})
    detail["routing_file"] = str(write_routing(config, {name: "new" for name in chosen.switched_after}))
    runbook.crash_here_if_asked("cutover:switch:routed")
    state = control.state(ctl, schema)
    now = datetime.now(UTC)
    # A phased migration switched with its first wave: the criteria look back to then.
    switched_at = (state.switched_at if chosen.waves_done or state.phase != SWITCHING else None) or now
    if chosen.last:
        ends = now + timedelta(hours=config.cutover.rollback_window_hours)
        control.set_phase(ctl, schema, "switched", switched_at=switched_at, rollback_window_ends=ends)
        detail["rollback_window_ends"] = ends.isoformat()
    else:
        control.set_phase(ctl, schema, PARTLY_SWITCHED, switched_at=switched_at)
    detail["switched_at"] = time.time()


def source_read_only(run: CutoverRun, detail: dict) -> None:
    # The source stays frozen (the freeze is its read-only state); the whole tables are
    # counted again, now that neither side moves (the window compared only the rows
    # changed since catch_up's counts).
    detail["read_only"] = run.tables
    detail["recount"] = verification.counts(run.config, run.source, run.target, run.tables)
    if wrong := verification.differing(detail["recount"]):
        raise CheckFailed(
            f"after the switch, row counts differ for {', '.join(wrong)}: landing misses writes the final verification "
            "could not see; run `migrate rollback --check`"
        )


# Each step name (as recorded in the control schema) with its function; the strategy orders them.
STEP_FUNCTIONS: dict[str, Callable[[CutoverRun, dict], None]] = {
    "preflight": preflight,
    "catch_up": catch_up,
    "freeze_source": freeze_source,
    "load": load_snapshot,
    "build": full_build,
    "final_sync": final_sync,
    "final_build": final_build,
    "final_verification": final_verification,
    "reverse_capture": reverse_capture,
    "align_sequences": align_sequences,
    "switch": switch,
    "source_read_only": source_read_only,
}


# --- helpers of the steps ----------------------------------------------------------------------


def _catch_up_counts(run: CutoverRun) -> tuple[int, datetime] | None:
    """The reconciliation in which catch_up compared both sides (counts and checksums), and when it recorded it."""
    counted = run.details().get("catch_up", {}).get("reconcile_id")
    return None if counted is None else (counted, verification.finished_at(run.ctl, run.schema, counted))


def _verify_landing(run: CutoverRun, counted: tuple[int, datetime] | None) -> dict[str, Any]:
    """What the final verification found; a failure is in "failed", with the figures so far.

    Where catch_up compared both sides at a snapshot, the window compares only the rows
    changed since, key by key by row hash: those carry the counts and checksums forward
    (nothing else writes landing). The whole tables are counted again after the switch
    (source_read_only)."""
    config, source, target, tables = run.config, run.source, run.target, run.tables
    started = time.perf_counter()
    found: dict[str, Any] = {}
    try:
        if counted is not None:
            found["counts_at_catch_up"], since = counted
            found["changed_rows_compared"] = verification.changed_rows(config, source, target, since, tables)
            return found
        found["counts"] = verification.counts(config, source, target, tables)
        if wrong := verification.differing(found["counts"]):
            raise CheckFailed(
                f"final verification failed: row counts differ for {', '.join(wrong)}; nothing was switched"
            )
        if run.plan.strategy == "big_bang":
            found["reconcile_id"] = verification.whole_copy(config, source, target)
        else:
            found["changed_rows_compared"] = verification.changed_rows(
                config, source, target, run.last_reconcile, tables
            )
    except CheckFailed as failed:
        found["failed"] = str(failed)
    finally:
        found["seconds"] = round(time.perf_counter() - started, 3)
    return found
