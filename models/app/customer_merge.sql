{{
    config(
        unique_key='legacy_cust_id',
    )
}}

-- depends_on: {{ ref('sync_batches') }}

with

customers as not materialized (
    select * from {{ ref('int_customers_deduplicated') }}
),

final as (
    select
        cust_id as legacy_cust_id,
        customer_id::bigint as customer_id
    from customers
    where
        disposition = 'merged'
        and {{ recomputed_in_this_batch() }}
)

select * from final
