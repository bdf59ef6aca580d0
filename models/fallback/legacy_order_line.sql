{{ config(materialized='view', schema='fallback', tags=['fallback']) }}

-- The legacy "ORDER_LINE" rows a fallback writes: one per order line the new application changed
-- after cutover (see legacy_customer for _fallback_op and _fallback_columns).

with

changes as (
    {{ app_changes('order_line', ['order_id', 'line_no']) }}
),

order_lines as not materialized (
    select * from {{ ref('order_line') }}
),

orders as not materialized (
    {{ with_legacy_key('sales_order', 'order_id', 'legacy_order_no') }}
),

products as not materialized (
    select * from {{ ref('product') }}
),

final as (
    select
        orders.legacy_order_no as "ORDER_NO",
        changes.line_no::integer as "LINE_NO",
        products.sku as "SKU",
        current_row.quantity as "QTY",
        (current_row.unit_price_cents / 100.0)::double precision as "UNIT_PRICE",
        (current_row.discount_bps / 100.0)::numeric(5, 2) as "DISC_PCT",
        {{ legacy_local_time('changes.last_changed_at') }} as "LAST_UPD",
        {{ fallback_op('current_row.order_id') }} as _fallback_op,
        {{ fallback_columns({
            'SKU': 'product_id',
            'QTY': 'quantity',
            'UNIT_PRICE': 'unit_price_cents',
            'DISC_PCT': 'discount_bps',
        }, always=['LAST_UPD']) }} as _fallback_columns
    from changes
    left join order_lines as current_row
        on changes.order_id = current_row.order_id and changes.line_no = current_row.line_no
    left join orders on changes.order_id = orders.order_id
    left join products on current_row.product_id = products.product_id
    where {{ is_carried_back('current_row.order_id') }}
)

select * from final
