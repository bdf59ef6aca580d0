{#
    Why: an order's total is the sum of its lines, so an order whose lines a batch recomputed has its
    total recomputed too, and its findings on the total (order_total_mismatch) must be replaced
    like those of a recomputed order. The (source_table, source_key) of those orders, for the
    pre-hook of findings (delete_recomputed_source_rows's also_recomputed).
#}
{% macro recomputed_order_total_keys() -%}
    select 'ORDER_HDR' as source_table, {{ source_key(['order_no'], 'lines') }} as source_key
    from {{ ref('int_order_lines_validated') }} as lines
    where lines.batch_watermark > {{ sync_low_watermark() }}
{%- endmacro %}
