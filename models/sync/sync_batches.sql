{{
    config(
        unique_key='batch_id',
        incremental_strategy='append',
    )
}}

with

customers as (
    select max(synced_at) as synced_at from {{ ref('stg_oms__customers') }}
),

products as (
    select max(synced_at) as synced_at from {{ ref('stg_oms__products') }}
),

orders as (
    select max(synced_at) as synced_at from {{ ref('stg_oms__orders') }}
),

order_lines as (
    select max(synced_at) as synced_at from {{ ref('stg_oms__order_lines') }}
),

payments as (
    select max(synced_at) as synced_at from {{ ref('stg_oms__payments') }}
),

newest_write as (
    select
        greatest(
            customers.synced_at,
            products.synced_at,
            orders.synced_at,
            order_lines.synced_at,
            payments.synced_at
        ) as synced_at
    from customers
    cross join products
    cross join orders
    cross join order_lines
    cross join payments
),

last_completed as (
    {% if is_incremental() and not flags.FULL_REFRESH %}
        select max(high_watermark) - interval '{{ var("sync_overlap") }}' as high_watermark
        from {{ this }}
        where completed_at is not null
    {% else %}
        select null::timestamptz as high_watermark
    {% endif %}
),

final as (
    select
        '{{ invocation_id }}'::text as batch_id,
        coalesce(last_completed.high_watermark, '-infinity'::timestamptz) as low_watermark,
        coalesce(newest_write.synced_at, '-infinity'::timestamptz) as high_watermark,
        {{ 'true' if flags.FULL_REFRESH else 'false' }} as is_full_refresh,
        now() as started_at,
        null::timestamptz as completed_at
    from newest_write
    cross join last_completed
)

select * from final
