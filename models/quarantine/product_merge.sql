{{
    config(
        materialized='view',
    )
}}

-- The merge record of SKU twins: every legacy SKU that is one product with another (differing only
-- in case or blanks) and the product it was merged into. The customers' equivalent is app.customer_merge;
-- this one lives here because app has no such table. A view: it holds nothing the intermediate
-- models do not, so no build has to copy it.

with

products as not materialized (
    select * from {{ ref('int_products_deduplicated') }}
),

product_keys as not materialized (
    select * from {{ ref('int_product_keys') }}
),

final as (
    select
        products.sku as legacy_sku,
        products.sku_key as sku,
        product_keys.product_id
    from products
    inner join product_keys on products.sku_key = product_keys.sku_key
    where products.disposition = 'merged'
)

select * from final
