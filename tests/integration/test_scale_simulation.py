"""The load's range scheduling at 1,000,000,000 rows, simulated on a fake clock (docs/scale.md).

The real planner (load._plan_ranges), the real worker pool (load.run_workers, one target connection
per job) and the real resume query (load._pending_ranges over the control schema's load_ranges) run;
only the copy of a range is simulated: it takes rows / throughput seconds of a fake clock that moves
when every job is waiting, so the schedule is that of the real pool at the measured rate, computed in
seconds of real time. The source's key span is given (a stub engine), since no test holds 1B rows.
A failure half way (a source connection lost) stops the load; the resumed load copies only the
ranges not marked done, and none twice."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import psycopg
import pytest

from harness import load
from harness.core import control
from harness.core.connections import Database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = 1_000_000_000
RANGE_ROWS = 250_000  # load's default
JOBS = 8
ROWS_PER_SECOND_PER_JOB = 400_000  # measured: 16M rows in ~20 s with --jobs 2 on the 2-core machine (benchmarks.md)
RANGE_OVERHEAD_SECONDS = 0.05  # a transaction and the range's bookkeeping
COMMAND = "sim copy"


class FakeClock:
    """Virtual time shared by the pool's threads: a `sleep` returns when every live worker sleeps and
    this one's wake time is the earliest, the clock then standing at it."""

    def __init__(self) -> None:
        self.now = 0.0
        self._waking: dict[int, float] = {}
        self._changed = threading.Condition()

    def sleep(self, seconds: float) -> None:
        me = threading.get_ident()
        with self._changed:
            self._waking[me] = self.now + seconds
            self._changed.notify_all()
            while True:
                live = {t.ident for t in threading.enumerate() if t.name.startswith(COMMAND)}
                asleep = {ident: at for ident, at in self._waking.items() if ident in live}
                if live <= set(asleep) and self._waking[me] <= min(asleep.values()):
                    self.now = self._waking.pop(me)
                    self._changed.notify_all()
                    return
                self._changed.wait(0.005)  # a worker that ran out of ranges ends without a word


class SpanOnly:
    """The source engine's one answer the planner needs: the key span of a 1B-row table."""

    def key_span(self, conn, schema, table):
        return 1, ROWS, ROWS


def test_a_billion_row_load_is_scheduled_over_its_ranges_and_resumed_after_a_failure_without_copying_twice(
    database_url,
):
    target = Database("target", database_url, "test", False)
    table = SimpleNamespace(name="LEDGER")
    ranges = load._plan_ranges(SpanOnly(), None, "legacy", table, RANGE_ROWS)
    assert len(ranges) == ROWS // RANGE_ROWS == 4000
    assert ranges[0][0] is None and ranges[-1][1] is None  # open ends: a later insert still has a range
    assert all(upper == lower for (_, upper), (lower, _) in zip(ranges, ranges[1:]))  # contiguous

    schema = "migrate_control"
    with psycopg.connect(database_url, autocommit=True) as ctl:
        control.ensure(ctl, schema)
        (load_id,) = ctl.execute(
            f"insert into {schema}.load_runs (first_snapshot) values ('simulated') returning load_id"
        ).fetchone()
        with ctl.cursor() as cur:
            cur.executemany(
                f"insert into {schema}.load_ranges (load_id, table_name, range_no, lower_key, upper_key) "
                "values (%s, %s, %s, %s, %s)",
                [(load_id, table.name, no, lower, upper) for no, (lower, upper) in enumerate(ranges)],
            )

        clock, copies, lock = FakeClock(), [], threading.Lock()
        fail_at = [None]

        def copy(dst: psycopg.Connection, job: load.RangeJob, nothing_left) -> None:
            started = clock.now
            clock.sleep(per_range)
            with lock:
                copies.append(job.range_no)
                if fail_at[0] is not None and started <= fail_at[0] < clock.now:
                    fail_at[0] = None
                    raise ConnectionError("the source connection was lost")  # the range's transaction rolls back
            dst.execute(
                f"update {schema}.load_ranges set done = true, rows_copied = %s where load_id = %s and range_no = %s",
                (RANGE_ROWS, load_id, job.range_no),
            )
            dst.commit()

        per_range = RANGE_ROWS / ROWS_PER_SECOND_PER_JOB + RANGE_OVERHEAD_SECONDS
        without_failure = len(ranges) / JOBS * per_range
        fail_at[0] = without_failure / 2
        pending = load._pending_ranges(ctl, schema, load_id, [table])
        with pytest.raises(ConnectionError):
            load.run_workers(pending, copy, target, COMMAND, JOBS)
        failed_at = clock.now
        left = load._pending_ranges(ctl, schema, load_id, [table])
        assert 2000 - JOBS <= len(left) <= 2000 + JOBS  # about half done, each done range recorded

        clock.now += 60.0  # the operator runs `migrate load` again a minute later
        load.run_workers(left, copy, target, COMMAND, JOBS)
        (done, twice) = ctl.execute(
            f"select count(*) filter (where done), count(*) - count(distinct range_no) from {schema}.load_ranges"
        ).fetchone()
    assert (done, twice) == (4000, 0)
    assert load._pending_ranges(psycopg.connect(database_url), schema, load_id, [table]) == []
    # Each range copied once, and the one in hand when the failure came once more.
    assert len(copies) == 4000 + 1 and len(set(copies)) == 4000

    lost = clock.now - without_failure - 60.0
    print(
        f"\n1B rows, {len(ranges):,} ranges of {RANGE_ROWS:,}, {JOBS} jobs at {ROWS_PER_SECOND_PER_JOB:,} rows/s each: "
        f"failure at {failed_at:,.0f} s, done at {clock.now:,.0f} s (no failure: {without_failure:,.0f} s; "
        f"lost to the failure: {lost:,.1f} s beyond the restart)"
    )
    assert clock.now >= without_failure + 60.0
    assert lost <= 2 * per_range  # at most the range in hand, and the pool's tail
