{#
    Why: one column of the newest batch in sync_batches, as a timestamptz literal (see
    sync_low_watermark for why a literal). Before the first batch exists (or while dbt only parses)
    it is -infinity. Every model of a run asks several times, and the batch cannot change once
    sync_batches has run (every caller depends on it), so the answer is kept for the rest of the
    invocation in `graph`, the one object all nodes of an invocation share.
#}
{% macro sync_batch_value(column) -%}
    {%- set batches = ref('sync_batches') -%}
    {%- set value = none -%}
    {%- if execute -%}
        {%- set cache = graph.setdefault('migrate_sync_batch', {}) -%}
        {%- if cache.get('invocation_id') != invocation_id -%}
            {%- do cache.clear() -%}
            {%- set relation = adapter.get_relation(batches.database, batches.schema, batches.identifier) -%}
            {%- if relation is not none -%}
                {%- set result = run_query(
                    "select low_watermark::text, high_watermark::text from " ~ batches
                    ~ " order by started_at desc limit 1"
                ) -%}
                {%- if result.rows | length > 0 -%}
                    {%- do cache.update({'low_watermark': result.rows[0][0], 'high_watermark': result.rows[0][1]}) -%}
                {%- endif -%}
            {%- endif -%}
            {%- do cache.update({'invocation_id': invocation_id}) -%}
        {%- endif -%}
        {%- set value = cache.get(column) -%}
    {%- endif -%}
    '{{ value if value is not none else "-infinity" }}'::timestamptz
{%- endmacro %}
