"""Applying captured changes to landing, then through the incremental dbt models.

A batch is the capture's (`capture.method`, through the source engine): it applies every change
since the target's watermark to landing in one target transaction, so a sync killed at any point
loses nothing and applies nothing twice (see engines/postgres/capture.apply_batch for the change
log's batch). Each batch of a log first compares the source's columns with landing's: what
landing can follow (an added column, a dropped NOT NULL) it follows, anything else stops the sync.
Here: the batches, `--follow` (landing in a thread of its own, dbt builds beside it), the lag,
and the dbt build after a batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness import dbt, engines
from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.context import Context
from harness.core.errors import ConfigError, DbtFailed
from harness.dbt import compiled_plan
from harness.dbt import contract as dbt_contract
from harness.engines.base import Batch
from harness.target import lag_samples, landing, sync_state
from harness.target.locks import FollowerBusy as FollowerBusy
from harness.target.locks import Pause, follow_turn, paused
from harness.target.locks import exclude_followers as exclude_followers
from harness.target.sync_state import NotLoaded as NotLoaded


@dataclass
class Lag:
    changes_behind: int | None  # unknown with timestamp capture
    seconds_behind: float
    app_seconds_behind: float


def sync_once(
    config: Config,
    source: Database,
    target: Database,
    *,
    detect_deletes: bool = False,
    snapshot_id: str | None = None,
    pause: Pause | None = None,
) -> Any:
    """One sync batch by the configured capture method (see Capture.apply_batch): with `snapshot_id`
    (a source snapshot exported by the caller, still open, taken after `paused` locked) a log is
    applied exactly up to it; with `pause` the batch runs on the pausing session."""
    return engines.source_capture(config).apply_batch(
        config, source, target, detect_deletes=detect_deletes, snapshot_id=snapshot_id, pause=pause
    )


def apply(config: Config, source: Database, target: Database, *, detect_deletes: bool = False) -> Any:
    """One sync batch by the configured capture method."""
    return sync_once(config, source, target, detect_deletes=detect_deletes)


def forget_consumer(config: Config, source: Database, target: Database, consumer_id: str) -> None:
    """Stop keeping changes in the source's log for a consumer whose target is gone."""
    with connections.connection(target, command="sync forget", autocommit=True) as dst:
        if consumer_id == control.consumer_id(dst, config.control_schema):
            raise ConfigError(
                f"consumer {consumer_id} is this target's own: "
                "forget only a target that is gone (`migrate status` lists them)"
            )
    with connections.connection(source, command="sync forget", autocommit=True) as src:
        if not engines.source_capture(config).forget(src, consumer_id):
            raise ConfigError(
                f"no consumer {consumer_id!r} of the change log on the source: `migrate status` lists them"
            )


def install_capture(context: Context) -> list[landing.SourceTable]:
    """Install the trigger capture on every listed table of the source (`migrate sync --install`)."""
    with connections.connection(context.source, command="sync install", autocommit=True) as conn:
        tables = context.tables(conn=conn)
        engines.source_engine(context.config).capture("trigger").prepare(conn, context.config.source_schema, tables)
    return tables


def apply_until_caught_up(config: Config, source: Database, target: Database) -> int:
    """Apply batches until one finds no change (the source frozen, or quiet); the changes applied."""
    applied = 0
    deletes_by_keys = engines.source_capture(config).detects_deletes_by_keys
    while changes := apply(config, source, target, detect_deletes=deletes_by_keys).changes:
        applied += changes
    return applied


def lag(config: Config, source: Database, target: Database) -> Lag:
    capture = engines.source_capture(config)
    if not capture.keeps_a_log or not capture.counts_changes_behind:
        with connections.connection(target, command="sync lag") as dst:
            sync_state.watermark(dst, config.control_schema)
            since_apply, unbuilt = sync_state.seconds_since_apply(dst, config.control_schema)
        # Without a change log counted on the source the best bound is the time since the last batch.
        return Lag(None, since_apply, max(since_apply, unbuilt or 0.0))
    with (
        connections.connection(target, command="sync lag") as dst,
        connections.connection(source, command="sync lag") as src,
    ):
        watermark = sync_state.watermark(dst, config.control_schema)
        behind, oldest = capture.backlog(src, config.source_schema, watermark)
        unbuilt = sync_state.seconds_unbuilt(dst, config.control_schema)
    seconds = oldest or 0.0
    # app is behind by whatever landing is behind, or by its oldest unbuilt change if older.
    return Lag(behind, seconds, max(seconds, unbuilt or 0.0))


# What a sync batch builds (selectors.yml `sync`): the incremental models downstream of landing and
# the data tests that prove the batch, checked on the rows it recomputed. It leaves target/'s
# manifest and run_results to the full builds (assess and docs read the last full build's timing
# there; this one's results come back in memory). It logs to logs/dbt.log at info level, errors
# included, but not each statement's SQL: writing those is a sixth of a small build's time, and a
# sync runs one after every batch. bench/bench_dbt_build.py times exactly this command. A plain
# `dbt build` (load, cutover, `migrate build`) runs every node, with dbt's full debug log.
SYNC_BUILD = ("build", "--selector", dbt_contract.SYNC_SELECTOR, "--no-write-json", "--log-level-file", "info")


def _defines_sync_selector(project_dir: Path) -> bool:
    path = project_dir / "selectors.yml"
    if not path.exists():
        return False
    return any(
        s.get("name") == dbt_contract.SYNC_SELECTOR
        for s in (yaml.safe_load(path.read_text()) or {}).get("selectors") or []
    )


def build(
    config: Config,
    target: Database,
    args: tuple[str, ...] = SYNC_BUILD,
    *,
    quiet: bool = True,
    manifest: Any = None,
    listeners: Sequence[Callable[[Any], None]] = (),
    plan: compiled_plan.CompiledPlan | None = None,
) -> dbt.DbtOutcome:
    """Run dbt over what sync applied to landing, and record the watermark it covered (`manifest`:
    the project parsed beforehand, see dbt.parse), and how long dbt took. `listeners` see dbt's
    events; `plan`, a sync build recorded earlier (harness/dbt/compiled_plan.py), runs instead of dbt."""
    with connections.connection(target, command="sync build", autocommit=True) as dst:
        control.ensure(dst, config.control_schema)  # a control schema made before builds were timed gets the columns
        covered = sync_state.watermark(dst, config.control_schema)
    if "--selector" in args and not _defines_sync_selector(config.project_dir):
        # A project without the `sync` selector builds everything, as a plain `dbt build` would.
        args = tuple(a for a in args if a not in ("--selector", dbt_contract.SYNC_SELECTOR, "--no-write-json"))
    started = time.perf_counter()
    if plan is not None:
        outcome = compiled_plan.run(plan, target)
    else:
        outcome = dbt.run(config, target, list(args), quiet=quiet, manifest=manifest, listeners=listeners)
    seconds = time.perf_counter() - started
    # Only the incremental build is what a final sync runs; a full build keeps the last one's time.
    incremental = "--selector" in args and "--full-refresh" not in args
    with connections.connection(target, command="sync build", autocommit=True) as dst:
        sync_state.record_build(dst, config.control_schema, covered, incremental=incremental, seconds=seconds)
    return outcome


@dataclass
class FollowReport:
    batches: int = 0
    changes: int = 0
    builds: int = 0
    retries: int = 0
    interrupted: bool = False  # Ctrl-C or SIGTERM: the batch in flight committed, no build after it
    yielded: int = 0  # turns skipped because a cutover holds the follow lock
    source_frozen: bool = False  # stopped because every listed table is frozen: nothing left to follow


def _source_frozen(config: Config, source: Database) -> bool:
    """Every listed table frozen at the source: a cutover froze it, nothing more will be captured."""
    with connections.connection(source, command="sync --follow", autocommit=True) as conn:
        return set(engines.source_engine(config).frozen_tables(conn, config.source_schema)) >= {
            t.name for t in config.tables
        }


# While landing keeps syncing during a dbt run, a batch can commit after the run read its high
# watermark with rows stamped before it: re-reading this far back keeps them (merges are idempotent).
# The same sync build otherwise; every follow build passes the same vars, so dbt's partial parsing
# stays warm between them.
CONCURRENT_BUILD_VARS = '{"sync_overlap": "30 seconds"}'
CONCURRENT_SYNC_BUILD = (*SYNC_BUILD, "--vars", CONCURRENT_BUILD_VARS)


def follow(
    config: Config,
    source: Database,
    target: Database,
    *,
    interval: float = 1.0,
    build_every: float = 30.0,
    until: Callable[[], bool] = lambda: False,
    on_batch: Callable[[Batch, Lag], None] | None = None,
    on_retry: Callable[[str, float], None] | None = None,
    run_dbt: bool = True,
) -> FollowReport:
    """Keep syncing until `until()` says stop; a source or target that drops away is retried with backoff.

    Landing is synced in a thread of its own, so a dbt run (in this thread) never holds it back;
    only a run that failed while landing moved is run again with landing held still. A cutover
    pauses both (the follow lock, see exclude_followers); once it has frozen every listed table
    at the source the follower stops: nothing more can be captured.
    """
    report = FollowReport()
    stop = threading.Event()
    failure: list[BaseException] = []

    def landing_loop() -> None:
        backoff = interval
        try:
            while not stop.is_set() and not until():
                try:
                    with follow_turn(config, target) as free:
                        batch = apply(config, source, target) if free else None
                    if (batch is None or not batch.changes) and _source_frozen(config, source):
                        report.source_frozen = True
                        return
                    if batch is None:
                        report.yielded += 1
                        stop.wait(interval)
                        continue
                    report.batches += 1
                    report.changes += batch.changes
                    observed = lag(config, source, target)
                    lag_samples.record(
                        config,
                        target,
                        observed.seconds_behind,
                        observed.app_seconds_behind,
                        observed.changes_behind,
                        batch.changes,
                    )
                    if on_batch:
                        on_batch(batch, observed)
                    backoff = interval
                    stop.wait(interval)
                except connections.DROPPED as exc:
                    report.retries += 1
                    if on_retry:
                        on_retry(str(exc).splitlines()[0], backoff)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 30.0)
        except BaseException as exc:  # raised again in the calling thread
            failure.append(exc)

    syncer = threading.Thread(target=landing_loop, name="sync-landing", daemon=True)
    syncer.start()
    built_changes = 0
    try:
        while syncer.is_alive():
            syncer.join(timeout=build_every)
            if run_dbt and syncer.is_alive() and report.changes > built_changes:
                seen = report.changes
                with follow_turn(config, target) as free:
                    # Never after a cutover's freeze: from its switch on the new application writes app.
                    if free and not _source_frozen(config, source):
                        _follow_build(config, target, report)
                        built_changes = seen
    except KeyboardInterrupt:
        # A safe point: the batch in flight commits (or rolls back whole) before the thread ends;
        # what is applied but not built stays pending for the next sync's build.
        report.interrupted = True
    finally:
        stop.set()
        syncer.join()
    if failure:
        raise failure[0]
    if run_dbt and report.changes > built_changes and not report.interrupted:
        with follow_turn(config, target) as free:
            if free and not _source_frozen(config, source):
                _follow_build(config, target, report)
    return report


def _follow_build(config: Config, target: Database, report: FollowReport) -> None:
    try:
        build(config, target, CONCURRENT_SYNC_BUILD)
    except DbtFailed:
        # The batch's tests compare landing with app on the rows it recomputed, and a batch
        # applied meanwhile may have rewritten one of them: build again with landing held
        # still; only a failure there is real.
        report.builds += 1
        with paused(config, target, command="sync --follow"):
            build(config, target, CONCURRENT_SYNC_BUILD)
    report.builds += 1
