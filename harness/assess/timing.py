"""Throughput: one key range of each table copied, keyed and analysed by load's own code into a
scratch schema of the target (the load probe), or the source read alone when the target refuses;
and each table's timing sample cast, cleansed and hashed on the source."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness import engines, load, profiling
from harness.assess.model import TableAssessment
from harness.assess.profile import SEED
from harness.core import connections, control
from harness.core.config import Config, TableConfig
from harness.core.connections import Database
from harness.core.errors import HarnessError
from harness.engines import postgres
from harness.engines.postgres import assess as pg
from harness.target import landing

TIMING_SAMPLE_ROWS = 50_000  # rows copied, cast and hashed per table to measure throughput
# Scratch schemas in the target for the timed load ranges; dropped when the timing ends.
PROBE_LANDING = "_migrate_assess_landing"
PROBE_CONTROL = "_migrate_assess_control"


def time_table(
    src: pg.Connection,
    config: Config,
    table: TableAssessment,
    table_config: TableConfig,
    cols: list[pg.ColumnInfo],
    probe: LoadProbe | None,
) -> None:
    plan = profiling.sample_plan(table.rows, table.bytes.get("heap", 0), TIMING_SAMPLE_ROWS)
    if probe is not None and probe.done:
        copy = pg.Timing(
            probe.rows,
            probe.bytes,
            probe.copy_seconds,
            "one key range, as load plans them, copied by load's own code (psql COPY in binary from the source, "
            "streamed into a landing-shaped table in a scratch schema of the target), then its key and ANALYZE; "
            "the tables' ranges timed as many at once as load's workers",
        )
    else:
        copy = pg.time_read(src, config.source_schema, table.name, cols, dict(table_config.masks), plan, SEED + 1)
        if probe is not None and probe.note:
            copy.notes.append(probe.note)
        if not table.key:
            copy.notes.append("target write not measured: the table has no key, so load would refuse it")
    transform_rows, transform_seconds = pg.time_transform(src, config.source_schema, table.name, cols, plan, SEED + 1)
    hash_rows, hash_seconds = pg.time_hash(src, config.source_schema, table.name, plan, SEED + 1)
    as_load = probe is not None and probe.done
    table.timing = {
        "sample": {"method": plan.method, "percent": round(plan.percent, 4)},
        "as_load": as_load,
        "ranges": probe.ranges if probe is not None else 1,
        "copy_range": [_plain(probe.lower), _plain(probe.upper)] if as_load else None,
        "copy_rows": copy.rows,
        "copy_bytes": copy.bytes,
        "copy_seconds": round(copy.seconds, 4),
        "copy_how": copy.how,
        "copy_rows_per_second": round(profiling.share(copy.rows, copy.seconds)),
        "copy_bytes_per_second": round(profiling.share(copy.bytes, copy.seconds)),
        "key_seconds": round(probe.key_seconds, 4) if as_load else 0.0,
        "analyze_seconds": round(probe.analyze_seconds, 4) if as_load else 0.0,
        "transform_rows": transform_rows,
        "transform_seconds": round(transform_seconds, 4),
        "transform_rows_per_second": round(profiling.share(transform_rows, transform_seconds)),
        "hash_rows": hash_rows,
        "hash_seconds": round(hash_seconds, 4),
        "hash_rows_per_second": round(profiling.share(hash_rows, hash_seconds)),
        "notes": copy.notes,
    }


def _plain(value: object) -> object:
    """A key bound as JSON holds it."""
    return value if value is None or isinstance(value, int) else str(value)


# --- the load probe: one range of each table, copied the way `migrate load` copies it ----------


@dataclass
class LoadProbe:
    table: landing.SourceTable
    ranges: int  # key ranges load plans for the table
    lower: object = None  # the range timed, as load bounds its ranges (None: open)
    upper: object = None
    rows: int = 0
    bytes: int = 0
    copy_seconds: float = 0.0
    key_seconds: float = 0.0
    analyze_seconds: float = 0.0
    done: bool = False
    note: str | None = None  # why the target side could not be timed


def plan_probes(
    src: pg.Connection,
    config: Config,
    tables: list[TableAssessment],
    columns: dict[str, list[pg.ColumnInfo]],
    range_rows: int,
) -> list[LoadProbe]:
    """Which range of each keyed table to time: the middle one of the ranges load plans for it; for
    a big table that load copies in one piece (its key is not an integer), its first range_rows rows."""
    probes = []
    for table in tables:
        if not (table.exists and table.can_select and table.key):
            continue
        cols = columns[table.name]
        source_table = landing.SourceTable(
            table.name,
            [postgres.Column(c.name, c.type, c.not_null) for c in cols],
            list(table.key),
            dict(config.table(table.name).masks),
        )
        ranges = load._plan_ranges(engines.source_engine(config), src, config.source_schema, source_table, range_rows)
        lower, upper = ranges[len(ranges) // 2]
        leading = next(c for c in cols if c.name == table.key[0])
        if len(ranges) == 1 and table.rows > 1.5 * range_rows and leading.sortable:
            upper = pg.key_after(src, config.source_schema, table.name, leading.name, range_rows)
        probes.append(LoadProbe(source_table, len(ranges), lower, upper))
    return probes


def run_probes(
    config: Config,
    source: Database,
    target: Database,
    src: pg.Connection,
    probes: list[LoadProbe],
    jobs: int,
    *,
    snapshot_id: str | None = None,
) -> None:
    """Copy each probe's range with load's own code into a landing-shaped table in a scratch schema of
    the target, `jobs` at a time as load's workers run, then build its key and ANALYZE it the way load
    finishes a table. The source is read in the assessment's snapshot (or `snapshot_id`, one the source
    engine opened); the scratch schemas are dropped."""
    if not probes:
        return
    snapshot_id = snapshot_id or pg.export_snapshot(src)
    probe_config = dataclasses.replace(config, landing_schema=PROBE_LANDING, control_schema=PROBE_CONTROL)
    with connections.connection(target, command="assess", autocommit=True) as conn:
        try:
            ready = _create_probe_tables(conn, probes)
            _copy_probes(probe_config, source, target, snapshot_id, ready, jobs)
        finally:
            pg.drop_schemas(conn, (PROBE_LANDING, PROBE_CONTROL))


def _not_measured(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return f"target write not measured: {lines[0] if lines else type(exc).__name__}"


def _create_probe_tables(conn: pg.Connection, probes: list[LoadProbe]) -> list[LoadProbe]:
    """The scratch landing and control schemas, and a landing table per probe as load creates them;
    the probes whose table the target refuses (a privilege, a type it lacks) get a note instead."""
    try:
        pg.drop_schemas(conn, (PROBE_LANDING, PROBE_CONTROL))  # left behind by an assessment that was killed
        control.ensure(conn, PROBE_CONTROL)  # load marks its ranges done there
    except pg.DatabaseError as exc:
        for probe in probes:
            probe.note = _not_measured(exc)
        return []
    ready = []
    for probe in probes:
        try:
            # As load creates its landing tables: the key and our columns come when the table is finished.
            landing.create_landing_table(conn, PROBE_LANDING, probe.table, with_key=False, with_sync_columns=False)
            ready.append(probe)
        except pg.DatabaseError as exc:
            probe.note = _not_measured(exc)
    return ready


def _copy_probes(
    probe_config: Config, source: Database, target: Database, snapshot_id: str, probes: list[LoadProbe], jobs: int
) -> None:
    """The probes over `jobs` workers, most ranges first, as load's worker pool takes its ranges."""

    def measure(dst: pg.Connection, probe: LoadProbe, _nothing_left: Callable[[], bool]) -> None:
        try:
            _copy_probe(probe_config, source, dst, snapshot_id, probe)
        except (pg.DatabaseError, HarnessError) as exc:
            dst.rollback()
            probe.note = _not_measured(exc)

    load.run_workers(sorted(probes, key=lambda p: -p.ranges), measure, target, "assess load probe", jobs)


def _copy_probe(probe_config: Config, source: Database, dst: pg.Connection, snapshot_id: str, probe: LoadProbe) -> None:
    schema, name = probe_config.landing_schema, probe.table.name
    job = load.RangeJob(probe.table, 0, probe.lower, probe.upper)
    started = time.perf_counter()
    # load_id 0 names no load: the range is copied as load copies one, and marks nothing done.
    probe.rows, probe.bytes = load._copy_range(probe_config, source, dst, job, 0, snapshot_id, "")
    copied = time.perf_counter()
    # Finished as load finishes a table while its other workers are still copying.
    landing.finish_bulk_load(dst, schema, probe.table, alone=False)
    finished = time.perf_counter()
    # ANALYZE once more on its own, to tell it apart: the key grows with the rows, ANALYZE's sample does not.
    pg.analyze_table(dst, schema, name)
    dst.commit()
    probe.copy_seconds = copied - started
    probe.analyze_seconds = time.perf_counter() - finished
    probe.key_seconds = max(0.0, finished - copied - probe.analyze_seconds)
    probe.done = True
    pg.drop_table(dst, schema, name)  # its space back while the others copy
    dst.commit()
