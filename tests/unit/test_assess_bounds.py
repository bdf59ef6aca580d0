"""Error bounds of sampled figures and the choice of sample."""

import math

import pytest

from harness.profiling import SYSTEM_SAMPLE_BYTES, proportion_margin, sample_plan


def test_a_figure_read_from_every_row_has_no_margin():
    assert proportion_margin(50, 1000, 1000) == 0.0


def test_margin_matches_the_textbook_for_a_large_population():
    # p = 5% in 10,000 sampled rows of a huge table: 1.96 * sqrt(.05 * .95 / 10000) ≈ 0.43 points
    margin = proportion_margin(500, 10_000, 10**9)
    assert margin == pytest.approx(1.96 * math.sqrt(0.05 * 0.95 / 10_000), rel=0.05)


def test_zero_seen_in_a_sample_still_has_a_margin():
    assert proportion_margin(0, 1000, 10**6) > 0.001


def test_sampling_most_of_a_table_narrows_the_margin():
    assert proportion_margin(100, 1000, 1100) < proportion_margin(100, 1000, 10**6) / 2


def test_worst_case_margin_at_the_default_sample_is_about_a_third_of_a_point():
    assert proportion_margin(50_000, 100_000, 10**8) == pytest.approx(0.0031, abs=0.0001)


def test_small_tables_are_read_whole():
    plan = sample_plan(rows=140_000, table_bytes=10**7, target=100_000)
    assert plan.method == "full" and not plan.sampled


def test_large_tables_get_a_row_sample_of_the_target_size():
    plan = sample_plan(rows=1_000_000, table_bytes=10**8, target=100_000)
    assert plan.method == "bernoulli" and plan.percent == pytest.approx(10.0)


def test_huge_tables_get_a_page_sample():
    assert sample_plan(rows=10**9, table_bytes=SYSTEM_SAMPLE_BYTES + 1, target=100_000).method == "system"


def test_target_zero_means_every_row():
    assert sample_plan(rows=10**9, table_bytes=10**12, target=0).method == "full"
