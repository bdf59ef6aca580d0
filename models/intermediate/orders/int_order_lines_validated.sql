{{
    config(
        unique_key=['order_no', 'line_no'],
        incremental_strategy='sync_replace',
        indexes=[
            {'columns': ['order_no', 'line_no'], 'unique': true},
            {'columns': ['sku_key']},
            {'columns': ['batch_watermark']},
        ],
    )
}}

-- depends_on: {{ ref('sync_batches') }}

with

lines as not materialized (
    select * from {{ ref('stg_oms__order_lines') }}
),

orders as not materialized (
    select * from {{ ref('int_orders_validated') }}
),

products as not materialized (
    select * from {{ ref('int_products_deduplicated') }}
),

product_keys as not materialized (
    select * from {{ ref('int_product_keys') }}
),

{%- set line_columns = [
    'order_no', 'line_no', 'sku', 'sku_key', 'quantity', 'unit_price_raw', 'unit_price_cents',
    'discount_pct_raw', 'discount_bps', 'synced_at', 'is_deleted',
] %}

lines_in_scope as (
    {% if is_incremental() %}
        -- Lines written since the last batch, the lines of every order recomputed in this batch (the
        -- order may have become quarantined or valid), and the lines of every SKU recomputed: each
        -- set read through its own index (a join of all their keys back to landing can be planned
        -- as a scan of the whole table).
        select lines.{{ line_columns | join(', lines.') }}
        from lines
        where {{ in_sync_batch('lines.synced_at') }}
        union
        select lines.{{ line_columns | join(', lines.') }}
        from lines
        where
            lines.order_no in (
                select orders.order_no
                from orders
                where orders.batch_watermark > {{ sync_low_watermark() }} and orders.has_changed_fate
            )
        union
        select lines.{{ line_columns | join(', lines.') }}
        from lines
        where
            (lines.order_no, lines.line_no) in (
                select
                    previous.order_no,
                    previous.line_no
                from {{ this }} as previous
                inner join products on previous.sku_key = products.sku_key
                where products.batch_watermark > {{ sync_low_watermark() }} and products.has_changed_fate
            )
    {% else %}
        select lines.{{ line_columns | join(', lines.') }}
        from lines
    {% endif %}
),

-- One product row per normalised SKU: the twin that supplies the product (or, when none is
-- migrated, any twin, to say why the line cannot have it).
product_by_sku as (
    select distinct on (products.sku_key)
        products.sku_key,
        products.disposition
    from products
    where products.disposition <> 'deleted'
    order by products.sku_key, products.disposition = 'migrated' desc
),

resolved as (
    select
        lines.order_no,
        lines.line_no,
        orders.disposition as order_disposition,
        lines.sku,
        lines.sku_key,
        product_by_sku.disposition as product_disposition,
        product_keys.product_id,
        lines.quantity,
        lines.unit_price_raw,
        lines.unit_price_cents,
        lines.discount_pct_raw,
        lines.discount_bps,
        lines.synced_at,
        lines.is_deleted
    from lines_in_scope as lines
    left join orders on lines.order_no = orders.order_no
    left join product_by_sku on lines.sku_key = product_by_sku.sku_key
    left join product_keys on lines.sku_key = product_keys.sku_key
),

decided as (
    select
        *,
        case
            when is_deleted then null
            when order_disposition is null or order_disposition = 'deleted' then 'order_line_order_missing'
            when order_disposition = 'quarantined' then 'order_line_order_quarantined'
            when quantity is null or quantity = 0 then 'order_line_quantity_zero'
            when product_disposition is null then 'order_line_sku_unknown'
            when product_disposition <> 'migrated' or product_id is null then 'order_line_product_quarantined'
            when unit_price_cents is null then 'order_line_price_missing'
            when discount_bps not between 0 and 10000 then 'order_line_discount_invalid'
        end as quarantine_rule
    from resolved
),

final as (
    select
        order_no,
        line_no,
        case
            when is_deleted then 'deleted'
            when quarantine_rule is not null then 'quarantined'
            else 'migrated'
        end as disposition,
        quarantine_rule,
        case quarantine_rule
            when 'order_line_order_missing' then 'order ' || order_no || ' does not exist in ORDER_HDR'
            when 'order_line_order_quarantined' then 'order ' || order_no || ' is quarantined'
            when 'order_line_quantity_zero' then 'quantity is ' || coalesce(quantity::text, 'NULL')
            when 'order_line_sku_unknown' then 'SKU ''' || sku || ''' is not in PRODUCT'
            when 'order_line_product_quarantined' then 'product ''' || sku_key || ''' is quarantined'
            when 'order_line_price_missing' then 'UNIT_PRICE is NULL'
            when 'order_line_discount_invalid' then 'DISC_PCT ' || discount_pct_raw || ' is outside 0-100'
        end as quarantine_reason,
        sku,
        sku_key,
        case when quarantine_rule is null and not is_deleted then product_id end as product_id,
        quantity,
        unit_price_cents,
        discount_bps,
        round(quantity * unit_price_cents * (10000 - discount_bps) / 10000.0)::bigint as line_total_cents,
        synced_at,
        {{ sync_high_watermark() }} as batch_watermark
    from decided
)

select * from final
