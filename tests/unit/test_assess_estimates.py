"""Time estimates, strategies and the recommendation: arithmetic on measured figures."""

import pytest

from harness.assess import compare_with_load
from harness.assess.estimates import (
    ASSUMPTIONS,
    Estimate,
    Phases,
    TableEstimate,
    TableWork,
    estimate_error,
    estimate_phases,
    extrapolate,
    format_duration,
    recommend,
    strategies,
    waves,
)

WORK = [
    TableWork(
        "ORDERS",
        rows=1_000_000,
        copy_rows=50_000,
        copy_seconds=1.0,
        transform_rows=50_000,
        transform_seconds=0.5,
        hash_rows=50_000,
        hash_seconds=0.25,
        changes_per_second=10.0,
    ),
    TableWork(
        "CUSTOMERS",
        rows=100_000,
        copy_rows=100_000,
        copy_seconds=1.0,
        transform_rows=100_000,
        transform_seconds=1.0,
        hash_rows=100_000,
        hash_seconds=0.5,
    ),
]


def test_sample_timings_scale_linearly_to_the_table():
    assert extrapolate(50_000, 1.0, 1_000_000) == 20.0
    assert extrapolate(0, 1.0, 1_000_000) == 0.0


def test_phases_add_up_the_tables():
    phases = estimate_phases(WORK)
    # One range each, no key or ANALYZE timed, one worker: the copies one after the other, after start-up.
    assert phases.initial_load.seconds == pytest.approx(ASSUMPTIONS["load_start_seconds"] + 20.0 + 1.0)
    assert phases.build.seconds == pytest.approx(
        ASSUMPTIONS["dbt_overhead_seconds"] + ASSUMPTIONS["build_passes"] * (10.0 + 1.0)
    )
    assert phases.validation.seconds == pytest.approx(ASSUMPTIONS["validation_passes"] * (5.0 + 0.5))
    assert "load range" in phases.initial_load.how and "no dbt build timing" in phases.build.how


def test_a_measured_dbt_build_is_scaled_to_the_source_volume():
    phases = estimate_phases(WORK, dbt_build_seconds=120.0, dbt_build_rows=110_000)
    overhead = ASSUMPTIONS["dbt_overhead_seconds"]
    assert phases.build.seconds == pytest.approx(overhead + (120.0 - overhead) * 10)
    assert "run_results.json" in phases.build.how


def test_final_sync_grows_with_the_change_rate():
    quiet = estimate_phases([TableWork("T", 1000, 1000, 1.0)])
    busy = estimate_phases([TableWork("T", 1000, 1000, 1.0, changes_per_second=100.0)])
    assert quiet.final_sync.seconds == ASSUMPTIONS["final_sync_minimum_seconds"]
    # 100 changes/s × 60 s = 6,000 changes at 10% of 1,000 rows/s = 60 s more
    assert busy.final_sync.seconds == pytest.approx(ASSUMPTIONS["final_sync_minimum_seconds"] + 60.0)


def test_related_tables_form_one_wave():
    assert waves(["A", "B", "C", "D"], [("B", "A"), ("C", "B")]) == [["A", "B", "C"], ["D"]]


def phases(load=600.0, build=300.0, validation=100.0, sync=60.0, freeze=120.0) -> Phases:
    tables = (
        TableEstimate("A", load / 2, build / 2, validation / 2),
        TableEstimate("B", load / 2, build / 2, validation / 2),
    )
    return Phases(
        Estimate(load, ""),
        Estimate(build, ""),
        Estimate(validation, ""),
        Estimate(sync, ""),
        Estimate(freeze, ""),
        tables,
    )


def test_downtime_per_strategy():
    big_bang, phased, parallel = strategies(phases(), [["A"], ["B"]], [], limit_seconds=None)
    assert big_bang.downtime_seconds == 120 + 600 + 300 + 100
    assert phased.downtime_seconds == 120 + ASSUMPTIONS["dbt_overhead_seconds"] + 300 + 150 + 50
    assert parallel.downtime_seconds == 120 + 60
    assert big_bang.within_limit is None


def test_the_simplest_strategy_that_fits_is_recommended():
    options = strategies(phases(), [["A", "B"]], [], limit_seconds=3600)
    chosen = recommend(options, 3600, "parallel_run")
    assert chosen.strategy == "big_bang"
    assert any("change `strategy: big_bang`" in r for r in chosen.reasons)


def test_a_tight_limit_needs_a_parallel_run():
    options = strategies(phases(), [["A", "B"]], [], limit_seconds=300)
    chosen = recommend(options, 300, "parallel_run")
    assert chosen.strategy == "parallel_run"
    assert any("big bang would need" in r for r in chosen.reasons)


def test_without_capture_the_least_downtime_wins_and_says_why():
    options = strategies(phases(), [["A", "B"]], ["trigger change capture: TRIGGER on A"], limit_seconds=300)
    chosen = recommend(options, 300, "parallel_run")
    assert chosen.strategy == "big_bang"
    assert "no possible strategy fits" in chosen.reasons[0]


def test_no_limit_means_a_usual_maintenance_window():
    short = recommend(strategies(phases(), [["A", "B"]], [], None), None, "big_bang")
    long = recommend(strategies(phases(load=7200), [["A", "B"]], [], None), None, "big_bang")
    assert short.strategy == "big_bang" and long.strategy == "parallel_run"


@pytest.mark.parametrize("seconds, text", [(4.2, "4.2 s"), (42, "42 s"), (425, "7 min 05 s"), (7380, "2 h 03 min")])
def test_durations_read_like_a_person_writes_them(seconds, text):
    assert format_duration(seconds) == text


def test_estimate_error_is_relative_to_the_measured_time():
    assert estimate_error(120, 100) == pytest.approx(0.2)
    assert estimate_error(80, 100) == pytest.approx(-0.2)


def test_the_estimate_made_before_the_load_is_compared_with_it():
    history = [
        {"assessed_at": "2026-01-01T10:00:00+00:00", "estimates": {"initial_load": 50.0, "build": 50.0}},
        {"assessed_at": "2026-01-02T10:00:00+00:00", "estimates": {"initial_load": 100.0, "build": 100.0}},
        {"assessed_at": "2026-01-05T10:00:00+00:00", "estimates": {"initial_load": 1.0, "build": 1.0}},
    ]
    load = {"seconds": 125.0, "reference": "2026-01-03T09:00:00+00:00"}
    compared = compare_with_load(history, load)
    assert compared["estimate"]["seconds"] == 100.0  # the initial load: load_runs does not time the build
    assert compared["error"] == pytest.approx(-0.2)


def test_a_load_without_an_earlier_estimate_says_so():
    compared = compare_with_load([], {"seconds": 10.0, "reference": "2026-01-03T09:00:00+00:00"})
    assert compared["estimate"] is None and "no assessment" in compared["note"]


def test_a_measured_cutover_window_replaces_the_assumed_freeze_and_final_sync():
    window = {
        "steps": {
            "catch_up": 40.0,
            "freeze_source": 0.56,
            "final_sync": 0.13,
            "final_build": 2.22,
            "final_verification": 0.0,
            "reverse_capture": 0.03,
            "align_sequences": 0.03,
            "switch": 0.01,
            "source_read_only": 2.4,
        },
        "source": "cutover run 7 (2026-12-06 23:58)",
    }
    phases = estimate_phases(WORK, window=window)
    assert phases.freeze.seconds == pytest.approx(0.63) and phases.final_sync.seconds == pytest.approx(2.35)
    assert phases.freeze.how.startswith("measured in cutover run 7") and "final_build 2.22 s" in phases.final_sync.how
    parallel = {s.name: s for s in strategies(phases, [["ORDERS", "CUSTOMERS"]], [], None)}["parallel_run"]
    assert parallel.downtime_seconds == pytest.approx(2.98)
    assumed = estimate_phases(WORK)
    assert assumed.freeze.seconds == ASSUMPTIONS["freeze_seconds"] and assumed.freeze.how.startswith(
        "assumed (no cutover"
    )


# The demo's shape: 160,000 rows whose big bang fits a 30-minute window, and a parallel-run cutover
# measured at about 3 s of downtime.
DEMO_WINDOW = {
    "steps": {
        "freeze_source": 0.56,
        "final_sync": 0.13,
        "final_build": 2.22,
        "final_verification": 0.05,
        "reverse_capture": 0.03,
        "align_sequences": 0.03,
        "switch": 0.01,
    },
    "source": "cutover run 7 (2026-12-06 23:58)",
}


def test_a_measured_parallel_run_is_not_traded_for_an_estimated_big_bang():
    phases = estimate_phases(WORK, window=DEMO_WINDOW)
    options = strategies(phases, [["ORDERS", "CUSTOMERS"]], [], None)
    by_name = {s.name: s for s in options}
    assert by_name["big_bang"].downtime_seconds < ASSUMPTIONS["maintenance_window_minutes"] * 60  # it would fit
    assert (
        by_name["parallel_run"].measured_in == "cutover run 7 (2026-12-06 23:58)"
        and by_name["big_bang"].measured_in is None
    )
    chosen = recommend(options, None, "parallel_run")
    assert chosen.strategy == "parallel_run"
    assert "measured" in chosen.reasons[0] and "cutover run 7" in chosen.reasons[0]
    assert any(r.startswith("big bang would need about") and "never measured" in r for r in chosen.reasons)
    assert not any("change `strategy:" in r for r in chosen.reasons)


def test_a_measured_strategy_over_the_limit_is_not_preferred():
    phases = estimate_phases(WORK, window={**DEMO_WINDOW, "steps": {**DEMO_WINDOW["steps"], "final_build": 900.0}})
    options = strategies(phases, [["ORDERS", "CUSTOMERS"]], [], 600)
    assert recommend(options, 600, "parallel_run").strategy == "big_bang"


def test_each_figure_says_whether_it_was_measured_estimated_or_assumed():
    assumed = estimate_phases(WORK)
    assert (assumed.freeze.basis, assumed.final_sync.basis, assumed.initial_load.basis) == (
        "assumed",
        "assumed",
        "estimated",
    )
    measured = estimate_phases(WORK, window=DEMO_WINDOW)
    assert (measured.freeze.basis, measured.final_sync.basis) == ("measured", "measured")


def test_without_a_window_the_final_sync_comes_from_the_last_sync_build():
    build = {"seconds": 4.5, "source": "the last sync build (migrate_control.sync_state, 2026-12-06 23:50)"}
    phases = estimate_phases([TableWork("T", 1000, 1000, 1.0, changes_per_second=100.0)], sync_build=build)
    # 100 changes/s × 60 s of lag at 10% of 1,000 rows/s = 60 s to apply, then the build as measured
    assert phases.final_sync.seconds == pytest.approx(4.5 + 60.0)
    assert phases.final_sync.basis == "estimated" and "the last sync build" in phases.final_sync.how
    assert phases.freeze.basis == "assumed"


def test_phased_shows_each_waves_tables_rows_copy_time_and_window():
    phases = estimate_phases(WORK, jobs=2)
    phased = {s.name: s for s in strategies(phases, [["ORDERS"], ["CUSTOMERS"]], [], None)}["phased"]
    first, second = phased.waves
    assert (first["tables"], first["rows"], second["tables"], second["rows"]) == (
        ["ORDERS"],
        1_000_000,
        ["CUSTOMERS"],
        100_000,
    )
    for wave in phased.waves:
        assert wave["copy_seconds"] > 0
        assert wave["downtime_seconds"] == pytest.approx(
            wave["freeze_seconds"] + wave["copy_seconds"] + wave["build_seconds"] + wave["validation_seconds"]
        )
    assert phased.downtime_seconds == max(w["downtime_seconds"] for w in phased.waves)
