{#
    Why: one column of the newest batch in sync_batches, as a timestamptz literal (see
    sync_low_watermark for why a literal). Before the first batch exists (or while dbt only parses)
    it is -infinity, which makes every row count as changed.
#}
{% macro sync_batch_value(column) -%}
    {%- set batches = ref('sync_batches') -%}
    {%- set value = none -%}
    {%- if execute -%}
        {%- set relation = adapter.get_relation(batches.database, batches.schema, batches.identifier) -%}
        {%- if relation is not none -%}
            {%- set result = run_query(
                "select " ~ column ~ "::text from " ~ batches ~ " order by started_at desc limit 1"
            ) -%}
            {%- if result.rows | length > 0 -%}
                {%- set value = result.rows[0][0] -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    '{{ value if value is not none else "-infinity" }}'::timestamptz
{%- endmacro %}
