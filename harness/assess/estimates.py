"""Time and downtime estimates from measured throughput, per strategy, and the recommendation.

Pure arithmetic over figures the assessment measured; every estimate carries a sentence saying
how it was obtained, and every number that is an assumption rather than a measurement is in
ASSUMPTIONS, so the report can print them and a reader can challenge them.

The initial load is replayed the way `migrate load` runs: every table's key ranges queued, the
tables with the most ranges first, over its worker pool; the worker that copies a table's last
range then finishes the table (key, ANALYZE). What that replay assumes: a table's ranges hold
about equal rows (its keys are spread evenly); each range copies at the speed of the one range
timed for that table, which was timed while as many others ran as load has workers; the key costs
the same per row at any size; ANALYZE stops growing at a fixed sample of rows; and start-up takes
ASSUMPTIONS["load_start_seconds"].
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field

ASSUMPTIONS = {
    # `migrate load` before its first range and after its last: the CLI starting, provision, capture
    # installed on the source, the ranges planned. About 1 s on the development machine; more while
    # autovacuum holds a source table that capture must lock (as right after a bulk insert).
    "load_start_seconds": 1,
    "freeze_seconds": 120,  # stop the application's writes, drain open transactions, switch over
    # Staging, intermediate and app models and their tests read each row several times; 8 passes of
    # the cleanse-and-cast SELECT matched the worked example's real build at 1.6M rows (58 s measured).
    "build_passes": 8,
    "dbt_overhead_seconds": 20,  # dbt start-up, parsing and per-node round trips, whatever the volume
    "validation_passes": 2,  # a checksum pass over the source and one over the target
    "apply_efficiency": 0.1,  # applying captured changes row by row runs at about a tenth of COPY speed
    "sync_window_seconds": 60,  # a following sync is about this far behind when the freeze starts
    "final_sync_minimum_seconds": 30,  # one capture round trip plus the incremental models, even with no changes
    "maintenance_window_minutes": 30,  # the window a big bang is expected to fit when migration.yml sets no limit
}

# A parallel-run cutover's write window, step by step: the steps of the freeze itself, and those
# that bring the last data over (a measured cutover or rehearsal replaces the assumptions above).
FREEZE_STEPS = ("freeze_source", "reverse_capture", "align_sequences", "switch")
FINAL_SYNC_STEPS = ("final_sync", "final_build", "final_verification")

STRATEGY_ORDER = ("big_bang", "phased", "parallel_run")  # simplest first
STRATEGY_LABELS = {"big_bang": "big bang", "phased": "phased", "parallel_run": "parallel run"}


# ANALYZE reads a fixed-size sample of a table, however big (PostgreSQL: 300 × default_statistics_target
# rows, 30,000 by default): beyond that its cost does not grow with the table.
DEFAULT_ANALYZE_ROWS = 30_000


@dataclass(frozen=True)
class TableWork:
    """What was measured on one table's sample, and the table's full size.

    copy_* is one key range copied the way load copies its ranges; analyze_seconds is the ANALYZE of
    those copy_rows and key_seconds the rest of finishing them as load finishes a table (the primary
    key, mostly); ranges is how many key ranges load plans for the whole table.
    """

    name: str
    rows: int
    copy_rows: int = 0
    copy_seconds: float = 0.0
    transform_rows: int = 0
    transform_seconds: float = 0.0
    hash_rows: int = 0
    hash_seconds: float = 0.0
    changes_per_second: float = 0.0
    ranges: int = 1
    key_seconds: float = 0.0
    analyze_seconds: float = 0.0


def extrapolate(sample_rows: int, sample_seconds: float, rows: int) -> float:
    """Seconds for `rows` rows at the rate measured on the sample (linear in rows)."""
    if sample_rows <= 0:
        return 0.0
    return sample_seconds * rows / sample_rows


def range_seconds(t: TableWork) -> float:
    """One of the table's load ranges: the timed range scaled to its share of the table's rows."""
    return extrapolate(t.copy_rows, t.copy_seconds, t.rows / max(1, t.ranges))


def finish_seconds(t: TableWork, analyze_rows: int = DEFAULT_ANALYZE_ROWS) -> float:
    """Finishing the whole table: the key grows with the rows; ANALYZE reads at most analyze_rows of
    them (a big table's ANALYZE also reads more pages for them, which this leaves out)."""
    key = extrapolate(t.copy_rows, t.key_seconds, t.rows)
    analyze = extrapolate(min(t.copy_rows, analyze_rows), t.analyze_seconds, min(t.rows, analyze_rows))
    return key + analyze


@dataclass(frozen=True)
class TableSchedule:
    name: str
    copy: float  # seconds of its ranges, summed over the workers
    finish: float  # key and ANALYZE
    done_at: float  # when its key and statistics are there, from the first range


@dataclass(frozen=True)
class LoadSchedule:
    seconds: float  # from the first range to the last table's statistics
    work_seconds: float  # every range, key and ANALYZE, one after the other
    workers: int
    ranges: int
    tables: tuple[TableSchedule, ...]


def schedule_load(work: list[TableWork], jobs: int, analyze_rows: int = DEFAULT_ANALYZE_ROWS) -> LoadSchedule:
    """The wall-clock of load's worker pool, replayed: every range queued, the tables with the most
    ranges first (as load sorts them), each range taken by the next free worker, and the worker that
    finishes a table's last range builds its key and runs ANALYZE before it takes another range."""
    jobs_queue = deque(
        t for t in sorted(work, key=lambda t: (-max(1, t.ranges), t.name)) for _ in range(max(1, t.ranges))
    )
    total_ranges = len(jobs_queue)
    workers = max(1, min(jobs, total_ranges))
    ranges_left = {t.name: max(1, t.ranges) for t in work}
    done_at: dict[str, float] = {}
    free: list[tuple[float, int, TableWork | None]] = [(0.0, worker, None) for worker in range(workers)]
    end = 0.0
    while free:
        now, worker, finished = heapq.heappop(free)
        if finished is not None:
            ranges_left[finished.name] -= 1
            if ranges_left[finished.name] == 0:
                now += finish_seconds(finished, analyze_rows)
                done_at[finished.name] = now
        if jobs_queue:
            table = jobs_queue.popleft()
            heapq.heappush(free, (now + range_seconds(table), worker, table))
        else:
            end = max(end, now)
    tables = tuple(
        TableSchedule(
            t.name, range_seconds(t) * max(1, t.ranges), finish_seconds(t, analyze_rows), done_at.get(t.name, 0.0)
        )
        for t in work
    )
    return LoadSchedule(end, sum(t.copy + t.finish for t in tables), workers, total_ranges, tables)


# Where a figure comes from, said beside it wherever it is shown.
MEASURED = "measured"  # taken as it is from a recorded run: a cutover's or rehearsal's steps
ESTIMATED = "estimated"  # computed from timings: samples timed now, or recorded runs, scaled
ASSUMED = "assumed"  # rests on a figure of ASSUMPTIONS, nothing timed
NOT_MEASURED = "not measured"  # nothing there to time yet (a project without dbt models): 0 s, said so


@dataclass(frozen=True)
class Estimate:
    seconds: float
    how: str
    basis: str = ESTIMATED
    measured_in: str | None = None  # the run it was measured in (basis MEASURED)


@dataclass(frozen=True)
class TableEstimate:
    name: str
    load: float
    build: float
    validation: float


@dataclass(frozen=True)
class Phases:
    initial_load: Estimate
    build: Estimate
    validation: Estimate
    final_sync: Estimate
    freeze: Estimate
    tables: tuple[TableEstimate, ...]
    # What the initial load was scheduled from, so that a wave of a phased migration is scheduled alike.
    work: tuple[TableWork, ...] = ()
    jobs: int = 1
    analyze_rows: int = DEFAULT_ANALYZE_ROWS

    def as_dict(self) -> dict[str, Estimate]:
        return {
            "initial_load": self.initial_load,
            "build": self.build,
            "validation": self.validation,
            "final_sync": self.final_sync,
            "freeze": self.freeze,
        }


def load_seconds(
    work: list[TableWork], jobs: int, analyze_rows: int = DEFAULT_ANALYZE_ROWS, assumptions: dict = ASSUMPTIONS
) -> float:
    """A whole `migrate load` of these tables: its start-up, then its workers' schedule."""
    if not work:
        return 0.0
    return assumptions["load_start_seconds"] + schedule_load(work, jobs, analyze_rows).seconds


def estimate_phases(
    work: list[TableWork],
    dbt_build_seconds: float | None = None,
    dbt_build_rows: int | None = None,
    assumptions: dict = ASSUMPTIONS,
    *,
    jobs: int = 1,
    analyze_rows: int = DEFAULT_ANALYZE_ROWS,
    window: dict | None = None,
    sync_build: dict | None = None,
    has_models: bool = True,
) -> Phases:
    """Initial load, build, validation, final sync and freeze for all tables, and per table.

    `window`: a measured cutover window ({"steps": {step: seconds}, "source": "cutover run 7 ..."}),
    whose steps give the freeze and the final sync instead of the assumptions. Without one,
    `sync_build` ({"seconds": 2.1, "source": "the last sync build (...)"}), the incremental dbt
    build a sync batch runs, gives the final sync's build instead of the assumed minimum."""
    total_rows = sum(t.rows for t in work)
    transforms = {t.name: extrapolate(t.transform_rows, t.transform_seconds, t.rows) for t in work}
    hashes = {t.name: extrapolate(t.hash_rows, t.hash_seconds, t.rows) for t in work}

    schedule = schedule_load(work, jobs, analyze_rows)
    loads = {t.name: t.copy + t.finish for t in schedule.tables}
    load = Estimate(
        load_seconds(work, jobs, analyze_rows, assumptions),
        "one load range of each table copied, keyed and analysed the way load does it, timed; each range's copy scaled "
        f"to the rows of the table's ranges, the key to the table's rows, ANALYZE to at most {analyze_rows:,} rows; "
        f"the {schedule.ranges} ranges scheduled as load runs them, most ranges first, over {schedule.workers} "
        f"worker(s) ({schedule.work_seconds:,.0f} s of work in all); plus {assumptions['load_start_seconds']} "
        "s of start-up (assumed)",
    )

    if has_models:
        build = _build_estimate(transforms, total_rows, dbt_build_seconds, dbt_build_rows, assumptions)
    else:
        build = Estimate(
            0.0,
            "the project has no dbt models yet, so there is no build to time: assess again once the mapping "
            "exists (migrate init writes one)",
            NOT_MEASURED,
        )
    validation_seconds = assumptions["validation_passes"] * sum(hashes.values())
    validation = Estimate(
        validation_seconds,
        f"an md5 of every sampled row, timed and scaled, times "
        f"{assumptions['validation_passes']} (source and target checksums)",
    )

    final_sync, freeze = _final_sync_and_freeze(work, assumptions, window, sync_build)

    share = {t.name: (t.rows / total_rows if total_rows else 0.0) for t in work}
    volume_build = max(0.0, build.seconds - assumptions["dbt_overhead_seconds"])
    tables = tuple(
        TableEstimate(
            t.name, loads[t.name], volume_build * share[t.name], assumptions["validation_passes"] * hashes[t.name]
        )
        for t in work
    )
    return Phases(load, build, validation, final_sync, freeze, tables, tuple(work), jobs, analyze_rows)


def _build_estimate(
    transforms: dict[str, float],
    total_rows: int,
    dbt_build_seconds: float | None,
    dbt_build_rows: int | None,
    assumptions: dict,
) -> Estimate:
    """The last dbt build scaled to the source's rows; without one, the timed cleanse-and-cast
    SELECTs times the assumed passes."""
    if dbt_build_seconds is not None and dbt_build_rows:
        scale = total_rows / dbt_build_rows
        build_seconds = (
            assumptions["dbt_overhead_seconds"]
            + max(0.0, dbt_build_seconds - assumptions["dbt_overhead_seconds"]) * scale
        )
        build = Estimate(
            build_seconds,
            f"the last dbt build (target/run_results.json) took {dbt_build_seconds:.0f} s on "
            f"{dbt_build_rows:,} landing rows; its volume-dependent part scaled to {total_rows:,} source rows",
        )
    else:
        build_seconds = assumptions["dbt_overhead_seconds"] + assumptions["build_passes"] * sum(transforms.values())
        build = Estimate(
            build_seconds,
            f"a cleanse-and-cast SELECT over each sample, timed, scaled to the table, times "
            f"{assumptions['build_passes']} passes (staging, intermediate, app, tests), plus "
            f"{assumptions['dbt_overhead_seconds']} s of dbt overhead; no dbt build timing yet",
            ASSUMED,
        )
    return build


def _final_sync_and_freeze(
    work: list[TableWork], assumptions: dict, window: dict | None, sync_build: dict | None
) -> tuple[Estimate, Estimate]:
    """The final sync (the changes pending at the freeze, applied, then the incremental build) and
    the freeze; both as measured when a cutover window or rehearsal was recorded."""
    changes_per_second = sum(t.changes_per_second for t in work)
    copy_rate = _rate(sum(t.copy_rows for t in work), sum(t.copy_seconds for t in work))
    pending = changes_per_second * assumptions["sync_window_seconds"]
    apply_seconds = pending / (copy_rate * assumptions["apply_efficiency"]) if copy_rate else 0.0
    pending_changes = (
        f"{changes_per_second:,.2f} row changes/s on the source (its statistics since the last reset) × "
        f"{assumptions['sync_window_seconds']} s of sync lag, applied at {assumptions['apply_efficiency']:.0%} "
        "of the measured COPY rate"
    )
    if sync_build:
        final_sync = Estimate(
            sync_build["seconds"] + apply_seconds,
            f"{pending_changes}, then the incremental models as {sync_build['source']} took them: "
            f"{sync_build['seconds']:.2f} s",
        )
    else:
        final_sync = Estimate(
            assumptions["final_sync_minimum_seconds"] + apply_seconds,
            f"{pending_changes}, plus {assumptions['final_sync_minimum_seconds']} s for one capture round and the "
            "incremental models (assumed: no sync build recorded yet)",
            ASSUMED,
        )
    freeze = Estimate(
        assumptions["freeze_seconds"],
        "assumed (no cutover or rehearsal measured yet): stop the application's "
        "writes, drain open transactions, switch over",
        ASSUMED,
    )
    if window:
        freeze, final_sync = (
            Estimate(
                sum(float(window["steps"].get(step) or 0.0) for step in steps),
                f"measured in {window['source']}: "
                + " + ".join(
                    f"{step} {float(window['steps'][step]):.2f} s" for step in steps if step in window["steps"]
                ),
                MEASURED,
                window["source"],
            )
            for steps in (FREEZE_STEPS, FINAL_SYNC_STEPS)
        )
    return final_sync, freeze


def _rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else 0.0


def waves(tables: list[str], links: list[tuple[str, str]]) -> list[list[str]]:
    """Tables that reference each other must move together: the connected groups, largest first."""
    parent = {t: t for t in tables}

    def find(t: str) -> str:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    for a, b in links:
        if a in parent and b in parent:
            parent[find(a)] = find(b)
    groups: dict[str, list[str]] = {}
    for t in tables:
        groups.setdefault(find(t), []).append(t)
    return sorted(groups.values(), key=lambda g: (-len(g), g))


@dataclass
class StrategyEstimate:
    name: str
    downtime_seconds: float
    total_seconds: float
    how: str
    missing: list[str] = field(default_factory=list)  # prerequisites not met
    within_limit: bool | None = None  # None when migration.yml sets no limit
    waves: list[dict] = field(default_factory=list)
    measured_in: str | None = None  # the run whose steps its whole downtime was measured in, if any

    @property
    def possible(self) -> bool:
        return not self.missing


def _measured_in(*parts: Estimate) -> str | None:
    """The run a downtime was measured in, when every part of it was measured in that one run."""
    runs = {p.measured_in if p.basis == MEASURED else None for p in parts}
    return runs.pop() if len(runs) == 1 else None


def strategies(
    phases: Phases,
    wave_list: list[list[str]],
    capture_missing: list[str],
    limit_seconds: float | None,
    assumptions: dict = ASSUMPTIONS,
    *,
    waves_from: str = "related tables",
) -> list[StrategyEstimate]:
    """Each strategy's downtime and total duration from the phase estimates; `waves_from` says
    where the phased strategy's waves come from."""
    freeze = phases.freeze.seconds
    load, build, validation = phases.initial_load.seconds, phases.build.seconds, phases.validation.seconds
    by_table = {t.name: t for t in phases.tables}
    overhead = assumptions["dbt_overhead_seconds"]

    big_bang = StrategyEstimate(
        "big_bang",
        freeze + load + build + validation,
        freeze + load + build + validation,
        "freeze, then initial load, build and validation, then switch: all of it is downtime",
    )

    def wave_load(group: list[str]) -> float:
        chosen = [w for w in phases.work if w.name in group]
        if chosen:  # each wave is a load of its own, scheduled like the whole one
            return load_seconds(chosen, phases.jobs, phases.analyze_rows, assumptions)
        return sum(by_table[t].load for t in group if t in by_table)

    rows = {w.name: w.rows for w in phases.work}
    wave_rows = []
    for number, group in enumerate(wave_list, start=1):
        figures = {
            "freeze_seconds": freeze,
            "copy_seconds": wave_load(group),
            "build_seconds": overhead + sum(by_table[t].build for t in group if t in by_table),
            "validation_seconds": sum(by_table[t].validation for t in group if t in by_table),
        }
        wave_rows.append(
            {
                "wave": number,
                "tables": group,
                "rows": sum(rows.get(t, 0) for t in group),
                **figures,
                "downtime_seconds": sum(figures.values()),
            }
        )
    longest = max((w["downtime_seconds"] for w in wave_rows), default=0.0)
    phased = StrategyEstimate(
        "phased",
        longest,
        sum(w["downtime_seconds"] for w in wave_rows),
        f"{len(wave_rows)} wave(s) ({waves_from}), each frozen, loaded, built, validated and switched on its own; "
        "the downtime is the longest wave" + (" (one wave: no gain over big bang)" if len(wave_rows) == 1 else ""),
        waves=wave_rows,
    )

    sync = phases.final_sync.seconds
    parallel = StrategyEstimate(
        "parallel_run",
        freeze + sync,
        load + build + validation + freeze + sync,
        "load, build and validate while the legacy system runs, sync continuously, then freeze for the final sync only",
        missing=list(capture_missing),
        measured_in=_measured_in(phases.freeze, phases.final_sync),
    )
    result = [big_bang, phased, parallel]
    for s in result:
        s.within_limit = None if limit_seconds is None else s.downtime_seconds <= limit_seconds
    return result


@dataclass(frozen=True)
class Recommendation:
    strategy: str | None
    reasons: list[str]


def recommend(
    options: list[StrategyEstimate], limit_seconds: float | None, configured: str, assumptions: dict = ASSUMPTIONS
) -> Recommendation:
    """The strategy whose downtime fits the limit (or a usual maintenance window when there is
    none): one whose downtime a cutover or rehearsal measured, else the simplest; when none fits,
    the one with the least downtime.

    A measured downtime is preferred to simpler strategies' estimates: an estimate that was never
    run can overrun the window (the load and the build vary with the machine's load), and moving
    away from the rehearsed plan would need a rehearsal of its own."""
    possible = [s for s in options if s.possible]
    if not possible:
        return Recommendation(None, ["no strategy is possible until the blocking problems are fixed"])
    by_name = {s.name: s for s in options}
    window = limit_seconds if limit_seconds is not None else assumptions["maintenance_window_minutes"] * 60
    window_text = (
        f"the {format_duration(limit_seconds)} downtime limit in migration.yml"
        if limit_seconds is not None
        else f"a usual {assumptions['maintenance_window_minutes']}-minute maintenance window (migration.yml sets no "
        "downtime_limit_minutes)"
    )
    fitting = [s for s in sorted(possible, key=lambda s: STRATEGY_ORDER.index(s.name)) if s.downtime_seconds <= window]
    measured = [s for s in fitting if s.measured_in]
    reasons = []
    if fitting:
        chosen = (measured or fitting)[0]
        if chosen.measured_in:
            reasons.append(
                f"{STRATEGY_LABELS[chosen.name]}'s downtime was measured: {format_duration(chosen.downtime_seconds)} "
                f"in {chosen.measured_in}, within {window_text}"
            )
        else:
            reasons.append(
                f"{STRATEGY_LABELS[chosen.name]} needs about {format_duration(chosen.downtime_seconds)} of "
                f"downtime, within {window_text}"
            )
        simpler = [n for n in STRATEGY_ORDER[: STRATEGY_ORDER.index(chosen.name)] if n in by_name]
        for name in simpler:
            other = by_name[name]
            if not other.possible:
                reasons.append(f"{STRATEGY_LABELS[name]} is not possible: {'; '.join(other.missing)}")
            elif name == "phased" and len(other.waves) == 1:
                reasons.append("phased gains nothing: there is one wave")
            elif other.downtime_seconds <= window:
                reasons.append(
                    f"{STRATEGY_LABELS[name]} would need about {format_duration(other.downtime_seconds)}, "
                    "an estimate never measured in a cutover or rehearsal: the measured downtime carries less risk "
                    "of overrunning the window"
                )
            else:
                reasons.append(
                    f"{STRATEGY_LABELS[name]} would need {format_duration(other.downtime_seconds)}, over {window_text}"
                )
        if chosen.name != "parallel_run":
            reasons.append(
                "it is simpler than a parallel run: no change capture on the source, no second system to keep in step"
            )
    else:
        # Within a second, the simpler strategy wins the tie.
        chosen = min(possible, key=lambda s: (round(s.downtime_seconds), STRATEGY_ORDER.index(s.name)))
        reasons.append(
            f"no possible strategy fits {window_text}; {STRATEGY_LABELS[chosen.name]} needs the least downtime "
            f"(about {format_duration(chosen.downtime_seconds)})"
        )
    if chosen.name == "parallel_run":
        reasons.append(
            "change capture is possible on the source, so the legacy system keeps running until the short final freeze"
        )
    if configured != chosen.name:
        reasons.append(
            f"migration.yml chooses {STRATEGY_LABELS.get(configured, configured)}: change "
            f"`strategy: {chosen.name}` to follow this advice"
        )
    return Recommendation(chosen.name, reasons)


def format_duration(seconds: float | None) -> str:
    """42 s, 7 min 05 s, 2 h 03 min."""
    if seconds is None:
        return "n/a"
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def estimate_error(estimated: float, measured: float) -> float | None:
    """Relative error of an estimate against the measured time: +0.25 means 25% too high."""
    if measured <= 0:
        return None
    return (estimated - measured) / measured
