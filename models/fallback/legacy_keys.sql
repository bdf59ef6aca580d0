{{
    config(
        materialized='incremental',
        schema='fallback',
        tags=['fallback'],
        unique_key=['entity', 'app_id'],
        incremental_strategy='append',
        full_refresh=false,
    )
}}

-- Legacy keys for records born in the new system: a customer, order or payment that the new
-- application created has no legacy number, and the legacy schema needs one. Each gets the next
-- number above every legacy key ever landed (tombstones included) and every key allocated
-- before, once: a fallback that runs again writes the same rows under the same keys.

with

born as (
    select
        'customer' as entity,
        customer.customer_id as app_id
    from {{ ref('customer') }} as customer
    where customer.legacy_cust_id is null
    union all
    select
        'sales_order' as entity,
        sales_order.order_id as app_id
    from {{ ref('sales_order') }} as sales_order
    where sales_order.legacy_order_no is null
    union all
    select
        'payment' as entity,
        payment.payment_id as app_id
    from {{ ref('payment') }} as payment
    where payment.legacy_pay_id is null
),

taken as (
    select
        'customer' as entity,
        max(customers."CUST_ID") as top_key
    from {{ source('oms', 'CUSTOMER') }} as customers
    union all
    select
        'sales_order' as entity,
        max(orders."ORDER_NO") as top_key
    from {{ source('oms', 'ORDER_HDR') }} as orders
    union all
    select
        'payment' as entity,
        max(payments."PAY_ID") as top_key
    from {{ source('oms', 'PAYMENT') }} as payments
    {% if is_incremental() %}
        union all
        select
            allocated.entity,
            max(allocated.legacy_key) as top_key
        from {{ this }} as allocated
        group by allocated.entity
    {% endif %}
),

tops as (
    select
        taken.entity,
        max(taken.top_key) as top_key
    from taken
    group by taken.entity
),

unallocated as (
    select born.*
    from born
    {% if is_incremental() %}
        where not exists (
            select 1 from {{ this }} as allocated
            where allocated.entity = born.entity and allocated.app_id = born.app_id
        )
    {% endif %}
),

final as (
    select
        unallocated.entity,
        unallocated.app_id,
        (
            coalesce(tops.top_key, 0)
            + row_number() over (partition by unallocated.entity order by unallocated.app_id)
        )::integer as legacy_key,
        now() as allocated_at
    from unallocated
    left join tops on unallocated.entity = tops.entity
)

select * from final
