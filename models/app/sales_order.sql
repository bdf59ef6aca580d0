{{
    config(
        unique_key='order_id',
        post_hook=["{{ advance_identity('order_id') }}"],
    )
}}

-- depends_on: {{ ref('sync_batches') }}

with

orders as not materialized (
    select * from {{ ref('int_orders_validated') }}
),

totals as not materialized (
    select * from {{ ref('int_order_totals') }}
),

address_keys as not materialized (
    select * from {{ ref('int_address_keys') }}
),

final as (
    select
        orders.order_no::bigint as order_id,
        orders.order_no as legacy_order_no,
        orders.customer_id::bigint as customer_id,
        orders.ordered_at,
        orders.status,
        address_keys.address_id as shipping_address_id,
        orders.currency_code::char(3) as currency,
        totals.total_cents,
        case when totals.has_total_mismatch then orders.legacy_total_text::text end as legacy_total_text,
        orders.notes
    from totals
    inner join orders on totals.order_no = orders.order_no
    left join address_keys on orders.ship_address_hash = address_keys.address_hash
    where
        orders.disposition = 'migrated'
        -- int_order_totals recomputes every order recomputed in this batch, and the orders whose
        -- lines were: driving from it reaches both through its batch_watermark index.
        and {{ recomputed_in_this_batch('totals.batch_watermark') }}
)

select * from final
