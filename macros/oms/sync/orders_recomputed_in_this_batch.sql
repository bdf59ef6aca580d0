{#
    Why: an order's total is the sum of its lines, so a batch recomputes the orders it recomputed
    and the orders whose lines it recomputed (a line added, changed, quarantined or deleted). The
    order_no of both, each read through its batch_watermark index, for sales_order, findings and
    the test of business rule 4.
#}
{% macro orders_recomputed_in_this_batch() -%}
    select order_no from {{ ref('int_orders_validated') }}
    where batch_watermark > {{ sync_low_watermark() }}
    union
    select order_no from {{ ref('int_order_lines_validated') }}
    where batch_watermark > {{ sync_low_watermark() }}
{%- endmacro %}
