"""The compiled plan's pure parts: statements grouped by node in the order nodes started, transaction
control and catalog reads left out, and the batch's values replaced all at once."""

from __future__ import annotations

from harness.dbt import compiled_plan

COMMENT = '/* {"app": "dbt", "node_id": "x"} */\n'


def test_statements_are_grouped_by_node_in_the_order_nodes_started():
    queries = [
        ("", "", COMMENT + "select distinct nspname from pg_namespace"),
        ("model.p.a", "model", COMMENT + "create temporary table a__tmp as (select 1)"),
        ("model.p.b", "model", COMMENT + "create temporary table b__tmp as (select 2)"),
        ("model.p.a", "model", COMMENT + "\n select attributes.attname as column_name, 1 from pg_attribute"),
        ("model.p.a", "model", "COMMIT"),
        ("model.p.b", "model", COMMENT + "insert into p.b select * from b__tmp"),
        ("test.p.t", "test", COMMENT + "select count(*) as failures"),
    ]
    nodes = compiled_plan._grouped(queries)
    assert [n.unique_id for n in nodes] == ["", "model.p.a", "model.p.b", "test.p.t"]
    assert nodes[0].statements == (), "dbt's catalog reads are left out"
    assert nodes[1].statements == (COMMENT + "create temporary table a__tmp as (select 1)",)
    assert len(nodes[2].statements) == 2
    assert nodes[3].resource_type == "test"


def test_a_new_value_equal_to_another_old_one_is_not_replaced_twice():
    old_low, old_high, new_high = (compiled_plan.LITERAL.format(v) for v in ("2026-01-01", "2026-01-02", "2026-01-03"))
    replacements = {old_low: old_high, old_high: new_high, "batch-1": "batch-2"}
    statement = f"where w > {old_low} and w <= {old_high} and id = 'batch-1'"
    assert (
        compiled_plan._replaced(statement, replacements)
        == f"where w > {old_high} and w <= {new_high} and id = 'batch-2'"
    )


def test_a_statement_that_writes_is_never_taken_for_a_catalog_read():
    from harness.target.dbt_reads import is_catalog_read

    assert is_catalog_read("\n\n    select distinct nspname from pg_namespace\n  ")
    assert not is_catalog_read("select setval(pg_get_serial_sequence('app.t', 'id'), 1) from pg_namespace")
    assert not is_catalog_read("set local jit = off; select * from (select 1) as __dbt_sbq where false limit 0")
