with

source as (
    select * from {{ source('oms', 'PRODUCT') }}
),

renamed as (
    select
        "SKU" as sku,
        {{ normalize_sku('"SKU"') }} as sku_key,
        {{ squish('"DESCR"') }} as product_name,
        "CAT_PATH" as category_path_raw,
        {{ normalize_category_path('"CAT_PATH"') }} as category_path,
        "PRICE" as price_raw,
        {{ money_to_cents('"PRICE"', kind='float') }} as price_cents,
        "ACTIVE" as active_raw,
        {{ legacy_boolean('"ACTIVE"') }} as is_active,
        {{ local_to_timestamptz('"LAST_UPD"') }} as updated_at,
        to_jsonb(source.*) - '_migrate_synced_at' - '_migrate_deleted' as source_row,
        "_migrate_synced_at" as synced_at,
        "_migrate_deleted" as is_deleted
    from source
)

select * from renamed
