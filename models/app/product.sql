{{
    config(
        unique_key='product_id',
        post_hook=["{{ advance_identity('product_id') }}"],
    )
}}

-- depends_on: {{ ref('sync_batches') }}

with

products as not materialized (
    select * from {{ ref('int_products_deduplicated') }}
),

product_keys as not materialized (
    select * from {{ ref('int_product_keys') }}
),

category_keys as not materialized (
    select * from {{ ref('int_category_keys') }}
),

final as (
    select
        product_keys.product_id,
        products.sku_key as sku,
        products.product_name as name,
        category_keys.category_id,
        products.price_cents,
        products.is_active
    from products
    inner join product_keys on products.sku_key = product_keys.sku_key
    left join category_keys on products.category_path = category_keys.path
    where
        products.disposition = 'migrated'
        and {{ recomputed_in_this_batch('products.batch_watermark') }}
)

select * from final
