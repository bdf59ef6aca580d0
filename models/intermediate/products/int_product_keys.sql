{{
    config(
        unique_key='sku_key',
        incremental_strategy='append',
        full_refresh=false,
        indexes=[
            {'columns': ['sku_key'], 'unique': true},
            {'columns': ['product_id'], 'unique': true},
        ],
    )
}}

-- The product key map: one product_id per normalised SKU, assigned once and never reassigned
-- (full_refresh=false: survives `dbt build --full-refresh`).

-- depends_on: {{ ref('sync_batches') }}

with

products as not materialized (
    select * from {{ ref('int_products_deduplicated') }}
),

known_skus as (
    {% if is_incremental() %}
        select
            sku_key,
            product_id
        from {{ this }}
    {% else %}
        select
            null::text as sku_key,
            null::bigint as product_id
        where false
    {% endif %}
),

new_skus as (
    select distinct products.sku_key
    from products
    where
        products.disposition = 'migrated'
        and products.batch_watermark > {{ sync_low_watermark() }}
        and not exists (
            select 1 from known_skus
            where known_skus.sku_key = products.sku_key
        )
),

final as (
    select
        (select coalesce(max(known_skus.product_id), 0) from known_skus)
        + row_number() over (order by new_skus.sku_key) as product_id,
        new_skus.sku_key,
        {{ sync_high_watermark() }} as batch_watermark
    from new_skus
)

select * from final
