{#
    Why: quarantine and findings hold one row (or several) per legacy row, keyed by
    (source_table, source_key). An incremental run recomputes some legacy rows; their old
    quarantine and finding rows must go before the new ones are added, whether or not the row is
    still rejected. This is the list of (source_table, source_key) recomputed in this batch, for
    the pre-hooks of those models. source_key is the key in key-column order, '|'-separated
    (ORDER_LINE: `ORDER_NO|LINE_NO`). The orders of recomputed lines (whose total was recomputed)
    count only with `with_order_totals` (findings has a rule on the total; quarantine does not).
#}
{% macro recomputed_source_keys(with_order_totals=true) -%}
    select 'CUSTOMER' as source_table, cust_id::text as source_key
    from {{ ref('int_customers_deduplicated') }}
    where batch_watermark > {{ sync_low_watermark() }}
    union all
    select 'PRODUCT', sku
    from {{ ref('int_products_deduplicated') }}
    where batch_watermark > {{ sync_low_watermark() }}
    union all
    select 'ORDER_HDR', order_no::text
    from {{ ref('int_orders_validated') }}
    where batch_watermark > {{ sync_low_watermark() }}
    {% if with_order_totals %}
        union all
        select 'ORDER_HDR', order_no::text
        from {{ ref('int_order_lines_validated') }}
        where batch_watermark > {{ sync_low_watermark() }}
    {% endif %}
    union all
    select 'ORDER_LINE', order_no || '|' || line_no
    from {{ ref('int_order_lines_validated') }}
    where batch_watermark > {{ sync_low_watermark() }}
    union all
    select 'PAYMENT', pay_id::text
    from {{ ref('int_payments_validated') }}
    where batch_watermark > {{ sync_low_watermark() }}
{%- endmacro %}
