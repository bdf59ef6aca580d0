{{
    config(
        unique_key='customer_id',
        pre_hook=["{{ release_changing_customer_emails() }}"],
        post_hook=["{{ advance_identity('customer_id') }}"],
    )
}}

-- depends_on: {{ ref('sync_batches') }}

with

customers as not materialized (
    select * from {{ ref('int_customers_deduplicated') }}
),

orders as not materialized (
    select * from {{ ref('int_orders_validated') }}
),

address_keys as not materialized (
    select * from {{ ref('int_address_keys') }}
),

{% if is_incremental() %}
    -- The customers whose orders this batch recomputed, before and after: an order written,
    -- moved or deleted may move the first-order date of either.
    customers_of_recomputed_orders as (
        select orders.customer_id
        from orders
        where {{ recomputed_in_this_batch('orders.batch_watermark') }}
        union
        select orders.previous_customer_id
        from orders
        where {{ recomputed_in_this_batch('orders.batch_watermark') }}
    ),
{% endif %}

-- Recomputed customers, and the customers whose created_at comes from their orders (about 2% of
-- them) when one of those orders was recomputed: two sets, each read through its own index.
migrated as (
    select *
    from customers
    where disposition = 'migrated' and {{ recomputed_in_this_batch() }}
    {% if is_incremental() %}
        union all
        select *
        from customers
        where
            disposition = 'migrated'
            and not {{ recomputed_in_this_batch() }}
            and created_at is null
            and cust_id in (select c.customer_id from customers_of_recomputed_orders as c)
    {% endif %}
),

first_orders as (
    -- Orders of merged duplicates point at the survivor too, so they count.
    select
        orders.customer_id,
        min(orders.ordered_at) as first_ordered_at
    from orders
    where
        orders.disposition = 'migrated'
        and orders.customer_id in (
            select migrated.cust_id from migrated
            where migrated.created_at is null
        )
    group by orders.customer_id
),

final as (
    select
        migrated.cust_id::bigint as customer_id,
        migrated.cust_id as legacy_cust_id,
        migrated.given_name,
        migrated.family_name,
        migrated.display_name,
        migrated.unique_email as email,
        migrated.phone_e164,
        migrated.status,
        address_keys.address_id as billing_address_id,
        coalesce(migrated.created_at, first_orders.first_ordered_at, migrated.synced_at) as created_at,
        coalesce(
            migrated.updated_at,
            migrated.created_at,
            first_orders.first_ordered_at,
            migrated.synced_at
        ) as updated_at
    from migrated
    left join first_orders on migrated.cust_id = first_orders.customer_id
    left join address_keys on migrated.billing_address_hash = address_keys.address_hash
)

select * from final
