{{
    config(
        unique_key=['order_id', 'line_no'],
    )
}}

-- depends_on: {{ ref('sync_batches') }}

with

lines as not materialized (
    select * from {{ ref('int_order_lines_validated') }}
),

final as (
    select
        order_no::bigint as order_id,
        line_no,
        product_id,
        quantity,
        unit_price_cents,
        discount_bps,
        line_total_cents
    from lines
    where
        disposition = 'migrated'
        and {{ recomputed_in_this_batch() }}
)

select * from final
