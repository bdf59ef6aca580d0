"""The initial load: a consistent snapshot of every listed table copied into landing.

Capture is installed first and the target registered as a consumer of the change log, then one
snapshot is exported and shared by all workers, so the copy and the change log hand over with no
gap: a transaction visible in the snapshot is in the copy, any other is in the log (kept there
for this target until its sync applied it) and sync applies it. Tables are split into key
ranges; each range is copied and marked done in one target transaction, so a killed load run
again copies only the unfinished ranges, nothing twice. The worker that copies a table's last range gives it our
columns, its key and statistics while the other workers go on copying.

`migrate load` (`run`) is a runbook of two recorded steps, the copy then the dbt build, so that a
load killed inside its build is seen as unfinished and resumed by the build alone. After the load,
`load_tables` (re)loads single tables into the running migration, each in a snapshot of its own
that sync then hands over from (see _load_table).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from harness import engines, sync
from harness.core import connections, control, interrupts, runbook
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.context import Context
from harness.core.errors import ConfigError
from harness.engines.base import Connection, SourceEngine
from harness.target import landing, load_runs
from harness.target.provision import provision

Item = TypeVar("Item")


class Progress(Protocol):
    """What the copy reports to (ui.Bar is one): its expected rows once known, then rows as copied."""

    def __call__(self, done: int) -> None: ...

    def total(self, total: int) -> None: ...


@dataclass
class RangeJob:
    table: landing.SourceTable
    range_no: int
    lower: int | None
    upper: int | None


@dataclass
class TableLoad:
    name: str
    rows: int = 0
    bytes: int = 0
    ranges: int = 0
    copied_now: int = 0  # ranges copied by this run (the rest were done before a resume)


@dataclass
class LoadResult:
    load_id: int
    resumed: bool
    tables: dict[str, TableLoad] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables.values())

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tables.values())


@dataclass
class LoadRun:
    run_id: int
    resumed: bool
    copied: LoadResult | None = None  # None: the interrupted run this one resumed had copied
    nodes_built: int | None = None  # None: no build asked for


def run(
    config: Config,
    source: Database,
    target: Database,
    *,
    build: bool = True,
    jobs: int = 2,
    range_rows: int = 250_000,
    progress: Progress | None = None,
    on_copied: Callable[[LoadResult | None], None] | None = None,
    quiet: bool = True,
    context: Context | None = None,
) -> LoadRun:
    """The copy, then (with `build`) the dbt build, each a recorded step of a `load` run; an
    interrupted run is resumed at the step that did not finish. `on_copied` is called between the
    two, with the copy (None when the interrupted run had copied)."""
    provision(config, source, target)  # the target database may not exist yet
    schema = config.control_schema
    with connections.connection(target, command="load", autocommit=True) as ctl:
        control.ensure(ctl, schema)
        run_id, resumed, done = runbook.open_run(ctl, schema, "load", {"build": build})
        result = LoadRun(run_id, resumed)

        def copy(detail: dict) -> None:
            result.copied = load(
                config, source, target, jobs=jobs, range_rows=range_rows, progress=progress, context=context
            )
            detail.update(load_id=result.copied.load_id, rows=result.copied.rows, seconds=result.copied.seconds)
            if on_copied:
                on_copied(result.copied)

        def dbt_build(detail: dict) -> None:
            result.nodes_built = detail["nodes"] = sync.build(config, target, ("build",), quiet=quiet).succeeded

        actions = {"copy": copy, **({"build": dbt_build} if build else {})}
        if on_copied and "copy" in done:
            on_copied(None)  # the interrupted run copied: only the build is left
        runbook.run_steps(ctl, schema, "load", run_id, actions, done)
        control.finish_run(
            ctl,
            schema,
            run_id,
            "succeeded",
            {"load_id": runbook.step_details(ctl, schema, run_id)["copy"].get("load_id")},
        )
    return result


def load(
    config: Config,
    source: Database,
    target: Database,
    *,
    jobs: int = 2,
    range_rows: int = 250_000,
    progress: Progress | None = None,
    context: Context | None = None,
) -> LoadResult:
    """The copy of every listed table; with `context`, the tables as it has them described."""
    started = time.perf_counter()
    context = context or Context(config, source, target, "load")
    provision(config, source, target)
    capture = engines.source_capture(config)
    with connections.connection(source, command="load", autocommit=True) as src:
        tables = context.tables([t.name for t in config.tables], conn=src)
        _check_tables(config, src, target, tables)
        capture.prepare(src, config.source_schema, tables)

    schema = config.control_schema
    with (
        connections.connection(target, command="load", autocommit=True) as ctl,
        connections.connection(source, command="load snapshot") as coordinator,
    ):
        load_id = load_runs.unfinished(ctl, schema)
        resumed = load_id is not None
        if capture.keeps_a_log:
            _register_consumer(ctl, coordinator, config, target, load_id)
        snapshot_id, snapshot = engines.source_engine(config).open_snapshot(coordinator, workers=jobs)

        if load_id is None:
            load_id = _start_load(ctl, config, tables, coordinator, snapshot, range_rows)
        result = LoadResult(load_id, resumed)
        pending = _pending_ranges(ctl, schema, load_id, tables)
        if progress:
            progress.total(_expected_rows(ctl, coordinator, config, load_id, pending))
        _copy_ranges(config, source, target, snapshot_id, snapshot, load_id, pending, jobs, progress)
        coordinator.rollback()

        for table in tables:  # tables whose ranges were all copied by an earlier, interrupted run
            if not landing.has_key(ctl, config.landing_schema, table.name):
                landing.finish_bulk_load(ctl, config.landing_schema, table, alone=True)
        result.tables = _table_totals(ctl, schema, load_id, pending)
        result.seconds = time.perf_counter() - started
        _finish_load(ctl, config, load_id, result)
    return result


def _check_tables(config: Config, src: Connection, target: Database, tables: list[landing.SourceTable]) -> None:
    """Each table's key, and the types and collations of its columns on the target, before capture is installed."""
    with connections.connection(target, command="load", autocommit=True) as dst:
        for table in tables:
            engine = engines.source_engine(config)
            engine.check_key(src, config.source_schema, table)
            landing.create_types(dst, engine.own_types(src, config.source_schema, table.name))
            landing.create_collations(src, dst, config.source_schema, config.landing_schema, table.name, table.columns)


def _register_consumer(ctl: Connection, src: Connection, config: Config, target: Database, load_id: int | None) -> None:
    """This target as a consumer of the change log, before the load's snapshot is taken.

    A new load starts its consumer afresh from the current snapshot, older than the load's, so no
    other target's sync purges a change the copy will not hold; the first sync moves it on. A
    resumed load keeps it (sync starts from the first attempt's snapshot), registering it from
    that snapshot only if it is missing.
    """
    schema = config.control_schema
    first_snapshot = None if load_id is None else load_runs.first_snapshot(ctl, schema, load_id)
    consumer_id = control.consumer_id(ctl, schema)
    engines.source_capture(config).register(
        src,
        consumer_id,
        config.source_schema,
        control.consumer_label(target.describe(), schema),
        first_snapshot,
        replace=load_id is None,
    )
    src.commit()


def _start_load(
    ctl: Connection,
    config: Config,
    tables: list[landing.SourceTable],
    coordinator: Connection,
    snapshot: str,
    range_rows: int,
) -> int:
    """A new load: fresh landing tables, key ranges planned from the snapshot, sync reset."""
    schema = config.control_schema
    engine = engines.source_engine(config)
    with ctl.transaction():
        load_id = load_runs.start(ctl, schema, snapshot)
        for table in tables:
            # Views over a landing table (dbt's staging models) are kept or dropped with it; the
            # dbt build after the load makes the dropped ones again.
            landing.replace_for_reload(ctl, config.landing_schema, table)
            ranges = _plan_ranges(engine, coordinator, config.source_schema, table, range_rows)
            load_runs.plan_ranges(ctl, schema, load_id, table.name, ranges)
    return load_id


def _expected_rows(ctl: Connection, src: Connection, config: Config, load_id: int, pending: list[RangeJob]) -> int:
    """The rows the pending ranges hold, by the source's statistics: each table's estimate times
    its share of ranges still to copy (a progress bar's total, not a promise)."""
    planned = load_runs.planned(ctl, config.control_schema, load_id)
    left = Counter(job.table.name for job in pending)
    engine = engines.source_engine(config)
    return sum(
        round(max(engine.estimated_rows(src, config.source_schema, name), 0) * count / planned[name])
        for name, count in left.items()
    )


def _plan_ranges(
    engine: SourceEngine, conn: Connection, schema: str, table: landing.SourceTable, range_rows: int
) -> list[tuple[int | None, int | None]]:
    """Even key ranges over an integer leading key; one unbounded range otherwise."""
    span = engine.key_span(conn, schema, table)
    if span is None:
        return [(None, None)]
    low, high, estimate = span
    if low is None:
        return [(None, None)]
    if estimate <= 0:  # never analysed: the key span is an upper bound of the row count
        estimate = high - low + 1
    count = max(1, math.ceil(estimate / range_rows))
    step = max(1, math.ceil((high - low + 1) / count))
    bounds = list(range(low, high + 1, step))
    ranges = [(lo, lo + step) for lo in bounds]
    # Open both ends: a row inserted later outside [min, max] still belongs to some range.
    ranges[0] = (None, ranges[0][1])
    ranges[-1] = (ranges[-1][0], None)
    return ranges


def _pending_ranges(ctl: Connection, schema: str, load_id: int, tables: list[landing.SourceTable]) -> list[RangeJob]:
    by_name = {t.name: t for t in tables}
    rows = load_runs.pending(ctl, schema, load_id)
    return [RangeJob(by_name[name], no, lower, upper) for name, no, lower, upper in rows if name in by_name]


def _copy_ranges(
    config: Config,
    source: Database,
    target: Database,
    snapshot_id: str,
    snapshot: str,
    load_id: int,
    pending: list[RangeJob],
    jobs: int,
    progress: Progress | None,
) -> None:
    # Largest tables first, so that a table's key is built (by the worker that copied its last
    # range) while the other worker is still copying the smaller ones.
    ranges_left = {job.table.name: 0 for job in pending}
    for job in pending:
        ranges_left[job.table.name] += 1
    lock = threading.Lock()

    def copy(dst: Connection, job: RangeJob, nothing_left: Callable[[], bool]) -> None:
        rows, size = _copy_range(config, source, dst, job, load_id, snapshot_id, snapshot)
        with lock:
            ranges_left[job.table.name] -= 1
            table_done = ranges_left[job.table.name] == 0
            if progress:
                progress(rows)
        if table_done:
            landing.finish_bulk_load(dst, config.landing_schema, job.table, alone=nothing_left())

    run_workers(sorted(pending, key=lambda j: -ranges_left[j.table.name]), copy, target, "load copy", jobs)


def run_workers(
    items: list[Item],
    handle: Callable[[Connection, Item, Callable[[], bool]], None],
    target: Database,
    command: str,
    count: int,
) -> None:
    """`handle(dst, item, nothing_left)` for every item, in order, over up to `count` threads (at
    least one), each with a target connection of its own; `nothing_left()` says whether every item
    has been taken. The first failure stops every thread and is raised here, in the calling thread.
    Interrupted (Ctrl-C, SIGTERM), each worker finishes the item in hand, then stops: a safe point."""
    work: queue.Queue[Item] = queue.Queue()
    for item in items:
        work.put(item)
    failures: list[BaseException] = []
    stopping = threading.Event()

    def worker() -> None:
        try:
            with connections.connection(target, command=command) as dst:
                while not failures and not stopping.is_set():
                    try:
                        item = work.get_nowait()
                    except queue.Empty:
                        return
                    handle(dst, item, work.empty)
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=worker, name=f"{command}-{i}", daemon=True)
        for i in range(max(1, min(count, len(items))))
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        stopping.set()
        for thread in threads:
            thread.join()  # a second interrupt stops waiting: an unfinished item's transaction rolls back
        raise
    if failures:
        raise failures[0]


def _copy_range(
    config: Config,
    source: Database,
    dst: Connection,
    job: RangeJob,
    load_id: int,
    snapshot_id: str,
    snapshot: str,
) -> tuple[int, int]:
    """Copy one key range and mark it done, in one target transaction."""
    # A table copied in one range is emptied in the copying transaction, which lets COPY write its
    # rows frozen: no hint bits to set and no vacuum to freeze them later.
    whole_table = job.lower is None and job.upper is None
    with dst.transaction():
        if whole_table:
            landing.empty(dst, config.landing_schema, job.table.name)
        rows, size = _copy_rows(config, source, dst, job, snapshot_id, freeze=whole_table)
        load_runs.range_done(dst, config.control_schema, load_id, job.table.name, job.range_no, rows, size, snapshot)
    interrupts.interrupt_here_if_asked("load:range")
    return rows, size


def _copy_rows(
    config: Config, source: Database, dst: Connection, job: RangeJob, snapshot_id: str, *, freeze: bool
) -> tuple[int, int]:
    """Copy one key range in the exported snapshot, inside the caller's target transaction: the
    engine streams it out of the source as COPY data, landing takes it in as it comes.
    `freeze` only for a table created or emptied in this transaction."""
    engine = engines.source_engine(config)
    with engine.copy_out(source, config.source_schema, job.table, job.lower, job.upper, snapshot_id) as pipe:
        return landing.copy_in(
            dst,
            config.landing_schema,
            job.table,
            pipe,
            engine.COPY_BLOCK_BYTES,
            copy_format=engine.COPY_FORMAT,
            freeze=freeze,
        )


def _table_totals(ctl: Connection, schema: str, load_id: int, copied_now: list[RangeJob]) -> dict[str, TableLoad]:
    totals = {
        name: TableLoad(name, rows, size, ranges) for name, ranges, rows, size in load_runs.totals(ctl, schema, load_id)
    }
    for job in copied_now:
        totals[job.table.name].copied_now += 1
    return totals


def _finish_load(ctl: Connection, config: Config, load_id: int, result: LoadResult) -> None:
    with ctl.transaction():
        load_runs.finish(ctl, config.control_schema, load_id, result.rows, result.bytes)
        engines.source_capture(config).after_load(ctl, config)


# --- one table (re)loaded into a running migration ------------------------------------------------


@dataclass
class TableReload:
    name: str
    rows: int
    bytes: int
    how: str  # created, emptied (its views kept) or recreated (its views dropped: dbt build makes them again)
    dropped_views: list[str]
    seconds: float


def added_tables(config: Config, source: Database, target: Database) -> list[str]:
    """Tables listed in migration.yml after the load finished: listed, but without a landing table."""
    provision(config, source, target)  # a first load may find no target database yet
    with connections.connection(target, command="load", autocommit=True) as ctl:
        schema = config.control_schema
        if load_runs.unfinished(ctl, schema) is not None or not load_runs.sync_started(ctl, schema):
            return []
        return [t.name for t in config.tables if not landing.exists(ctl, config.landing_schema, t.name)]


def load_tables(
    config: Config,
    source: Database,
    target: Database,
    names: list[str],
    *,
    progress: Progress | None = None,
    context: Context | None = None,
) -> list[TableReload]:
    """(Re)load the named tables alone into a running migration, each consistent with the sync.

    Each table's key is checked and its capture (re)installed first, then it is copied whole in a
    snapshot of its own and recorded with it (control table `table_loads`), see _load_table.
    """
    capture = engines.source_capture(config)
    if not capture.keeps_a_log:
        raise ConfigError(
            "`migrate load --table` needs trigger capture (capture.method: trigger); with timestamp "
            "capture run `migrate load`"
        )
    listed = [config.table(name) for name in dict.fromkeys(names)]
    context = context or Context(config, source, target, "load --table")
    provision(config, source, target)
    with connections.connection(target, command="load --table", autocommit=True) as ctl:
        unfinished = load_runs.unfinished(ctl, config.control_schema)
        if unfinished is not None:
            raise ConfigError(
                f"load {unfinished} is unfinished: run `migrate load` to finish it, then `migrate load --table`"
            )
        if not load_runs.sync_started(ctl, config.control_schema):
            raise ConfigError("nothing is loaded yet: run `migrate load`, which loads every listed table")
    with connections.connection(source, command="load --table", autocommit=True) as src:
        tables = context.tables([t.name for t in listed], conn=src)
        _check_tables(config, src, target, tables)
        capture.prepare(src, config.source_schema, tables)
        if progress:
            progress.total(
                sum(
                    max(engines.source_engine(config).estimated_rows(src, config.source_schema, t.name), 0)
                    for t in tables
                )
            )
    return [_load_table(config, source, target, table, progress) for table in tables]


def _load_table(
    config: Config, source: Database, target: Database, table: landing.SourceTable, progress: Progress | None
) -> TableReload:
    """Replace one landing table by a copy in a fresh snapshot S, without losing or doubling a change.

    Sync's watermark W covers every table; a batch applies the changes not visible in W. The copy,
    the landing table's replacement and the `table_loads` row (T, S) commit in one target
    transaction, taken while holding the sync lock, and S is exported only once the lock is held:

    - no batch runs meanwhile, so W was taken before S and every change it already applied is
      visible in S, hence in the copy. (Without the lock a batch could move W past S, applying
      and purging changes made after S into the table the copy then replaces: lost.)
    - a change of T committed after S is in the log and not visible in W: the next batch applies it.
    - a change of T visible in S but not in W is in the copy, and still in the log: the next batch
      skips it by the (T, S) row. Replaying it would be harmless for rows of the same shape (full
      row images, the last one per key wins), but not for a reshaped table, whose older images may
      not fit its new columns. That batch's snapshot contains S, so it marks the row covered.

    The sync waits while the table is copied; the other tables' changes wait in the log.
    """
    started = time.perf_counter()
    with (
        sync.paused(config, target, command="load --table") as pause,
        connections.connection(source, command="load --table snapshot") as coordinator,
    ):
        snapshot_id, snapshot = engines.source_engine(config).open_snapshot(coordinator)
        dst = pause.conn
        with dst.transaction():
            how, dropped = landing.replace_for_reload(dst, config.landing_schema, table)
            rows, size = _copy_rows(config, source, dst, RangeJob(table, 0, None, None), snapshot_id, freeze=True)
            landing.finish_bulk_load(dst, config.landing_schema, table, alone=True)
            seconds = time.perf_counter() - started
            load_runs.table_loaded(dst, config.control_schema, table.name, snapshot, seconds, rows, size, how, dropped)
        coordinator.rollback()
    if progress:
        progress(rows)
    return TableReload(table.name, rows, size, how, dropped, seconds)
