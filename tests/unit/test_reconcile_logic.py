"""The pure parts of reconciliation: segment plans, bucket arithmetic, verdict rules, rendering."""

from __future__ import annotations

from decimal import Decimal

import pytest
from psycopg import sql

from harness import reconcile
from harness.core.config import Expectation
from harness.core.errors import ConfigError
from harness.engines import base
from harness.engines.postgres import TypedColumn
from harness.engines.postgres import checksums as postgres_checksums
from harness.reconcile import checksums
from harness.reconcile import report as reconcile_report


def column(base: str, *, kind: str = "b", category: str = "S", type_: str | None = None) -> TypedColumn:
    return TypedColumn("c", type_ or base, base, kind, category, False)


def rendered(composable: sql.Composable) -> str:
    # Rendering needs no connection for identifiers and strings without a server-specific quote style.
    return composable.as_string(None)


# --- checksums: plans -------------------------------------------------------------------------------


def test_range_plan_cuts_the_key_span_into_even_ranges_of_about_the_segment_size():
    plan = checksums.range_plan(1, 1_000_000, 1_000_000, 50_000)
    assert (plan.kind, plan.count, plan.low, plan.width) == ("range", 20, 1, 50_000)
    assert plan.high == 1_000_000


def test_range_plan_never_makes_more_segments_than_keys():
    plan = checksums.range_plan(10, 12, 5_000_000, 1000)
    assert plan.count == 3 and plan.width == 1


def test_hash_plan_is_a_power_of_two():
    assert checksums.hash_plan(0, 1000).count == 1
    assert checksums.hash_plan(5000, 1000).count == 8
    assert checksums.hash_plan(8000, 1000).count == 8


def test_segment_predicate_merges_neighbouring_ranges_and_leaves_the_ends_open():
    plan = checksums.Plan("range", 10, low=0, width=100)
    assert plan.key_bounds([0, 1, 5, 9]) == [(None, 200), (500, 600), (900, None)]
    side = postgres_checksums.SideQuery(
        sql.SQL("t"), sql.SQL("true"), sql.SQL("k"), (), (), postgres_checksums.HashFunction()
    )
    text = rendered(side.predicate(plan, [0, 1, 5, 9]))
    assert text == "((k < 200) or (k >= 500 and k < 600) or (k >= 900))"


def test_runs_group_consecutive_numbers():
    assert base.runs([1, 2, 3, 7, 9, 10]) == [(1, 3), (7, 7), (9, 10)]


# --- checksums: normalisation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "base, expected",
    [
        ("numeric", "v::text"),  # scale kept: 1.10 is stored apart from 1.1
        ("float8", "v::text"),  # -0 kept
        ("float4", "v::text"),
        ("timestamptz", "(v at time zone 'UTC')::text"),
        ("timetz", "v::text"),  # its offset kept
        ("interval", "v::text"),  # months, days and time kept apart
        ("json", "v::text"),  # key order and duplicate keys kept
        ("bytea", "encode(v, 'hex')"),
        ("int4", "v::text"),
        ("bpchar", "v::text"),
    ],
)
def test_values_are_normalised_to_a_canonical_text(base, expected):
    normalised = postgres_checksums.normalise(column(base), sql.SQL("v"))
    assert rendered(normalised.text) == expected and normalised.known


def test_an_unknown_type_is_compared_through_its_text_form_and_flagged():
    normalised = postgres_checksums.normalise(column("point", category="G"), sql.SQL("v"))
    assert rendered(normalised.text) == "v::text" and not normalised.known
    assert postgres_checksums.normalise(column("mood", kind="e", category="E"), sql.SQL("v")).known
    assert postgres_checksums.normalise(column("_int4", category="A"), sql.SQL("v")).known


def test_portable_hash_hashes_utf8_bytes_with_md5():
    text = rendered(postgres_checksums.HashFunction(portable=True)(sql.SQL("x")))
    assert text == "('x' || left(md5(convert_to(x, 'UTF8')), 16))::bit(64)::bigint"
    assert rendered(postgres_checksums.HashFunction()(sql.SQL("x"), 3)) == 'hashtextextended((x) collate "C", 3)'


# --- checksums: locating ----------------------------------------------------------------------------


def test_differences_are_sorted_into_missing_extra_and_changed_with_columns():
    source = {("1",): ((10, 20), ("x", "y")), ("2",): ((10, 20), ("x", "y")), ("10",): ((1, 1), ("p", "q"))}
    target = {("2",): ((10, 21), ("x", None)), ("3",): ((5, 5), ("s", "t")), ("10",): ((1, 1), ("p", "q"))}
    found = checksums.differences(source, target, ["a", "b"])
    assert found == [
        checksums.RowDifference("missing", ("1",)),
        checksums.RowDifference("changed", ("2",), ("b",)),
        checksums.RowDifference("extra", ("3",)),
    ]
    assert found[1].values == (("y", None),)


def test_keys_sort_naturally():
    assert sorted([("10",), ("9",), ("-1",), ("b",), ("a",)], key=checksums.key_order) == [
        ("-1",),
        ("9",),
        ("10",),
        ("a",),
        ("b",),
    ]


def test_differing_buckets_are_those_whose_count_or_sum_differ():
    source = {(0,): (3, Decimal(30)), (1,): (2, Decimal(5)), (2,): (1, Decimal(1))}
    target = {(0,): (3, Decimal(30)), (1,): (2, Decimal(6)), (3,): (4, Decimal(4))}
    assert checksums.differing(source, target) == {(1,): 2, (2,): 1, (3,): 4}


def test_fetch_budget_takes_whole_buckets_in_order_and_says_when_some_were_left():
    assert checksums.within_budget({(2,): 10, (1,): 10, (3,): 10}, budget=25) == ([(1,), (2,)], True)
    assert checksums.within_budget({(1,): 100}, budget=25) == ([(1,)], False), "one bucket is always fetched"


# --- reconcile: verdict rules -----------------------------------------------------------------------


def test_levels_parse_in_lifecycle_order_and_unknown_ones_are_refused():
    assert reconcile.parse_levels("all") == list(reconcile.LEVELS)
    assert reconcile.parse_levels("smoke,counts") == ["counts", "smoke"]
    with pytest.raises(ConfigError, match="unknown level"):
        reconcile.parse_levels("counts,size")


def test_a_level_fails_on_any_failed_check_and_is_skipped_with_nothing_to_check():
    check = reconcile.Check
    assert reconcile.LevelResult("x", [check("a", "passed"), check("b", "not available")]).verdict == "passed"
    assert reconcile.LevelResult("x", [check("a", "passed"), check("b", "failed")]).verdict == "failed"
    assert reconcile.LevelResult("x", [check("b", "not available")]).verdict == "skipped"


def test_figures_compare_by_group_with_missing_groups_as_zero_and_a_tolerance():
    ok, groups = reconcile.compare_figures(
        [("EUR", "2020-01", Decimal("10.50")), ("USD", "2020-01", 7)],
        [("EUR", "2020-01", Decimal("10.5")), ("USD", "2020-01", 7)],
    )
    assert ok and [g["group"] for g in groups] == [["EUR", "2020-01"], ["USD", "2020-01"]]
    ok, groups = reconcile.compare_figures([("a", 1), ("b", 2)], [("a", 1)])
    assert not ok and groups[1] == {"group": ["b"], "source": 2, "target": 0, "difference": -2, "equal": False}
    assert reconcile.compare_figures([("a", 1.0)], [("a", 1.004)], tolerance=0.01)[0]


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert reconcile.percentile(values, 50) == 50 and reconcile.percentile(values, 95) == 95
    assert reconcile.percentile([7.0], 95) == 7.0


def test_plan_indexes_are_found_anywhere_in_the_plan():
    plan = [
        {
            "Plan": {
                "Node Type": "Nested Loop",
                "Plans": [
                    {"Node Type": "Seq Scan", "Relation Name": "a"},
                    {"Node Type": "Index Scan", "Index Name": "b_pkey"},
                    {
                        "Node Type": "Bitmap Heap Scan",
                        "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "b_email"}],
                    },
                ],
            }
        }
    ]
    assert reconcile.plan_indexes(plan) == ["b_pkey", "b_email"]
    assert reconcile.plan_indexes([{"Plan": {"Node Type": "Seq Scan"}}]) == []


@pytest.mark.parametrize(
    "expect, rows, ok",
    [
        (Expectation("value", 5000), [(5000,)], True),
        (Expectation("value", 5000), [(Decimal("5000.0"),)], True),
        (Expectation("value", True), [(True,)], True),
        (Expectation("value", "t"), [("f",)], False),
        (Expectation("value", 1), [], False),
        (Expectation("rows", 2), [(1,), (2,)], True),
        (Expectation("min_rows", 3), [(1,), (2,)], False),
    ],
)
def test_sql_smoke_expectations(expect, rows, ok):
    assert reconcile.expectation_met(expect, rows=rows)[0] is ok


def test_command_smoke_expectations():
    assert reconcile.expectation_met(Expectation("exit_code", 0, "ok"), exit_code=0, output="all ok\n") == (
        True,
        "exit 0",
    )
    assert not reconcile.expectation_met(Expectation("exit_code", 0, "ok"), exit_code=0, output="nope")[0]
    assert not reconcile.expectation_met(Expectation("exit_code", 0), exit_code=3)[0]


def test_dbt_test_results_become_a_summary_and_one_check_per_failure():
    results = {
        "results": [
            {"unique_id": "test.shop.not_null_customer_email.abc", "status": "pass", "failures": 0},
            {
                "unique_id": "test.shop.payments_reconcile",
                "status": "fail",
                "failures": 3,
                "message": "Got 3 results, configured to fail if != 0",
            },
            {"unique_id": "test.shop.warned", "status": "warn", "failures": 1},
            {"unique_id": "operation.shop.migrate_oms-on-run-start-0", "status": "success"},
        ]
    }
    checks = reconcile.dbt_test_checks(results)
    assert [(c.name, c.verdict, c.target) for c in checks] == [
        ("dbt tests", "failed", "2 of 3 passed"),
        ("payments_reconcile", "failed", "3 failing rows"),
    ]


# --- the report ---------------------------------------------------------------------------------------

REPORT = {
    "report": "reconciliation",
    "migration": "demo",
    "reconcile_id": 7,
    "run_id": 9,
    "started_at": "2026-01-01T00:00:00+00:00",
    "seconds": 1.5,
    "verdict": "failed",
    "point": {"snapshot": "10:12:", "synced": True, "changes_applied": 3, "built": False, "notes": []},
    "levels": [
        {
            "level": "counts",
            "verdict": "passed",
            "seconds": 0.1,
            "passed": 1,
            "failed": 0,
            "not_available": 0,
            "notes": [],
            "checks": [
                {"name": "T: source = landing", "verdict": "passed", "source": 5, "target": 5, "detail": "", "data": {}}
            ],
        },
        {
            "level": "checksums",
            "verdict": "failed",
            "seconds": 0.2,
            "passed": 0,
            "failed": 1,
            "not_available": 0,
            "notes": [],
            "checks": [
                {
                    "name": "T: source = landing",
                    "verdict": "failed",
                    "source": 5,
                    "target": 5,
                    "detail": "1 changed",
                    "data": {
                        "differences": [{"kind": "changed", "key": {"id": "4111111111111111"}, "columns": ["name"]}]
                    },
                }
            ],
        },
    ],
}


def test_report_puts_the_status_table_first_and_masks_card_numbers():
    text = reconcile_report.markdown(REPORT)
    assert text.index("| ✅ counts | passed") < text.index("## ✅ counts")
    assert "changed | id=" in text and "4111111111111111" not in text
    page = reconcile_report.html_page(REPORT)
    assert page.startswith("<!doctype html>") and "<style>" in page and "4111111111111111" not in page
    assert page.index("<table>") < page.index("<h2>")


def test_report_files_are_the_renderings_of_one_layout_with_its_chart_drawn_once(tmp_path, monkeypatch):
    drawn = []
    draw = reconcile_report.charts.stacked_bars
    monkeypatch.setattr(reconcile_report.charts, "stacked_bars", lambda *a, **k: drawn.append(a[0]) or draw(*a, **k))
    files = reconcile_report.write(tmp_path, "reconciliation", REPORT)
    assert len(drawn) == 1
    assert files["markdown"].read_text() == reconcile_report.markdown(REPORT)
    assert files["html"].read_text() == reconcile_report.html_page(REPORT)
