{{ config(materialized='view', schema='fallback', tags=['fallback']) }}

-- The legacy "PRODUCT" rows a fallback writes: one per product the new application changed after
-- cutover (see legacy_customer for _fallback_op and _fallback_columns). A product merged from
-- legacy twins is written to the twin that survived the merge; a product born in the new system
-- keeps its SKU, which is already unique.

with

changes as (
    {{ app_changes('product', ['product_id']) }}
),

products as not materialized (
    select * from {{ ref('product') }}
),

legacy_skus as (
    select
        product_keys.product_id,
        products.sku
    from {{ ref('int_product_keys') }} as product_keys
    inner join {{ ref('int_products_deduplicated') }} as products
        on product_keys.sku_key = products.sku_key and products.disposition = 'migrated'
),

categories as not materialized (
    select * from {{ ref('category') }}
),

final as (
    select
        coalesce(legacy_skus.sku, current_row.sku, changes.before_image ->> 'sku') as "SKU",
        current_row.name as "DESCR",
        categories.path as "CAT_PATH",
        (current_row.price_cents / 100.0)::double precision as "PRICE",
        case when current_row.is_active then 'Y' else 'N' end as "ACTIVE",
        {{ legacy_local_time('changes.last_changed_at') }} as "LAST_UPD",
        {{ fallback_op('current_row.product_id') }} as _fallback_op,
        {{ fallback_columns({
            'DESCR': 'name',
            'CAT_PATH': 'category_id',
            'PRICE': 'price_cents',
            'ACTIVE': 'is_active',
        }, always=['LAST_UPD']) }} as _fallback_columns
    from changes
    left join products as current_row on changes.product_id = current_row.product_id
    left join legacy_skus on changes.product_id = legacy_skus.product_id
    left join categories on current_row.category_id = categories.category_id
    where {{ is_carried_back('current_row.product_id') }}
)

select * from final
