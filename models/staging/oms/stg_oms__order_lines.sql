with

source as (
    select * from {{ source('oms', 'ORDER_LINE') }}
),

renamed as (
    select
        "ORDER_NO" as order_no,
        "LINE_NO" as line_no,
        "SKU" as sku,
        {{ normalize_sku('"SKU"') }} as sku_key,
        "QTY" as quantity,
        "UNIT_PRICE" as unit_price_raw,
        {{ money_to_cents('"UNIT_PRICE"', kind='float') }} as unit_price_cents,
        "DISC_PCT" as discount_pct_raw,
        round(coalesce("DISC_PCT", 0) * 100)::integer as discount_bps,
        to_jsonb(source.*) - '_migrate_synced_at' - '_migrate_deleted' as source_row,
        "_migrate_synced_at" as synced_at,
        "_migrate_deleted" as is_deleted
    from source
)

select * from renamed
