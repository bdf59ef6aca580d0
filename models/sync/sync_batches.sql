{{
    config(
        unique_key='batch_id',
        incremental_strategy='append',
    )
}}

-- The newest write of each landing table, as "order by ... desc limit 1" so that it is one step
-- down the _migrate_synced_at index (max() through a view with a join is not optimised so).

with

customers as (
    select synced_at from {{ ref('stg_oms__customers') }}
    order by synced_at desc
    limit 1
),

products as (
    select synced_at from {{ ref('stg_oms__products') }}
    order by synced_at desc
    limit 1
),

orders as (
    select synced_at from {{ ref('stg_oms__orders') }}
    order by synced_at desc
    limit 1
),

order_lines as (
    select synced_at from {{ ref('stg_oms__order_lines') }}
    order by synced_at desc
    limit 1
),

payments as (
    select synced_at from {{ ref('stg_oms__payments') }}
    order by synced_at desc
    limit 1
),

newest_write as (
    select
        greatest(
            (select customers.synced_at from customers),
            (select products.synced_at from products),
            (select orders.synced_at from orders),
            (select order_lines.synced_at from order_lines),
            (select payments.synced_at from payments)
        ) as synced_at
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
