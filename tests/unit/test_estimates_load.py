"""The initial load estimate: load's worker pool replayed over the timed ranges."""

import pytest

from harness.assess.estimates import (
    ASSUMPTIONS,
    TableWork,
    estimate_phases,
    finish_seconds,
    load_seconds,
    range_seconds,
    schedule_load,
    strategies,
    waves,
)

START = ASSUMPTIONS["load_start_seconds"]


def table(
    name: str,
    rows: int,
    ranges: int = 1,
    *,
    per_row: float = 1e-5,
    key: float = 0.0,
    analyze: float = 0.0,
    timed_rows: int | None = None,
) -> TableWork:
    """A table whose timed range held `timed_rows` rows, copied at `per_row` seconds a row."""
    timed = timed_rows or min(rows, -(-rows // ranges))
    return TableWork(
        name,
        rows,
        copy_rows=timed,
        copy_seconds=timed * per_row,
        ranges=ranges,
        key_seconds=key,
        analyze_seconds=analyze,
    )


def test_a_range_takes_its_share_of_the_table_at_the_timed_speed():
    big = table("BIG", 1_000_000, ranges=4, timed_rows=250_000, per_row=1e-5)
    assert range_seconds(big) == pytest.approx(2.5)


def test_the_key_grows_with_the_rows_and_analyze_stops_at_its_sample():
    big = table("BIG", 1_000_000, ranges=4, timed_rows=250_000, key=0.5, analyze=0.3)
    assert finish_seconds(big, analyze_rows=30_000) == pytest.approx(0.5 * 4 + 0.3)
    small = table("SMALL", 10_000, key=0.01, analyze=0.02)
    assert finish_seconds(small, analyze_rows=30_000) == pytest.approx(0.03)


def test_one_worker_does_everything_one_after_the_other():
    work = [table("A", 1_000_000, ranges=4, timed_rows=250_000, key=0.5, analyze=0.3), table("B", 100_000, analyze=0.1)]
    schedule = schedule_load(work, jobs=1, analyze_rows=30_000)
    assert schedule.workers == 1 and schedule.ranges == 5
    assert schedule.seconds == pytest.approx(10.0 + 2.0 + 0.3 + 1.0 + 0.1)
    assert schedule.seconds == pytest.approx(schedule.work_seconds)


def test_two_workers_share_the_ranges_and_the_last_copier_finishes_the_table():
    # A: 4 ranges of 2.5 s, then 2.3 s of key and ANALYZE; B: 1 range of 1 s, then 0.1 s.
    work = [table("B", 100_000, analyze=0.1), table("A", 1_000_000, ranges=4, timed_rows=250_000, key=0.5, analyze=0.3)]
    schedule = schedule_load(work, jobs=2, analyze_rows=30_000)
    # A's ranges go first (most ranges): both workers copy two each until 5.0 s; one finishes A
    # (until 7.3 s) while the other copies B and finishes it (until 6.1 s).
    assert schedule.seconds == pytest.approx(7.3)
    done = {t.name: t.done_at for t in schedule.tables}
    assert done["A"] == pytest.approx(7.3) and done["B"] == pytest.approx(6.1)
    assert schedule.work_seconds == pytest.approx(13.4)


def test_more_jobs_than_ranges_idle_and_one_big_range_sets_the_pace():
    work = [table("ONE_PIECE", 2_000_000, timed_rows=250_000, per_row=1e-5), table("TINY", 1_000)]
    schedule = schedule_load(work, jobs=8)
    assert schedule.workers == 2
    assert schedule.seconds == pytest.approx(20.0)


def test_the_initial_load_is_the_schedule_plus_start_up():
    work = [table("A", 1_000_000, ranges=4, timed_rows=250_000, key=0.5, analyze=0.3), table("B", 100_000, analyze=0.1)]
    phases = estimate_phases(work, jobs=2, analyze_rows=30_000)
    assert phases.initial_load.seconds == pytest.approx(START + 7.3)
    assert "2 worker(s)" in phases.initial_load.how and "start-up (assumed)" in phases.initial_load.how
    per_table = {t.name: t.load for t in phases.tables}
    assert per_table == pytest.approx({"A": 12.3, "B": 1.1})
    assert load_seconds([], jobs=2) == 0.0


def test_each_wave_of_a_phased_migration_is_a_load_of_its_own():
    work = [table("A", 1_000_000, ranges=4, timed_rows=250_000), table("B", 1_000_000, ranges=4, timed_rows=250_000)]
    phases = estimate_phases(work, jobs=2)
    assert phases.initial_load.seconds == pytest.approx(START + 10.0)  # 8 ranges of 2.5 s over 2 workers
    _, phased, _ = strategies(phases, waves(["A", "B"], []), [], limit_seconds=None)
    a = next(t for t in phases.tables if t.name == "A")
    wave_a = next(w for w in phased.waves if w["tables"] == ["A"])
    # A alone: 4 ranges over 2 workers, after its own start-up.
    expected = (
        ASSUMPTIONS["freeze_seconds"] + ASSUMPTIONS["dbt_overhead_seconds"] + START + 5.0 + a.build + a.validation
    )
    assert wave_a["downtime_seconds"] == pytest.approx(expected)
