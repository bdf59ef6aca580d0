with

source as (
    select * from {{ source('oms', 'ORDER_HDR') }}
),

renamed as (
    select
        "ORDER_NO" as order_no,
        "CUST_ID" as cust_id,
        "ORDER_DT" as ordered_at_local,
        {{ local_to_timestamptz('"ORDER_DT"') }} as ordered_at,
        coalesce({{ is_nonexistent_local_time('"ORDER_DT"') }}, false) as is_in_dst_gap,
        upper(btrim("STATUS_CD")) as status_code,
        {{ squish('"SHIP_NM"') }} as ship_name,
        {{ normalize_address_line('"SHIP_ADDR1"') }} as ship_line1,
        {{ normalize_address_line('"SHIP_ADDR2"') }} as ship_line2,
        upper({{ squish('"SHIP_CITY"') }}) as ship_city,
        upper({{ squish('"SHIP_STATE"') }}) as ship_region,
        "SHIP_POSTAL" as ship_postal_code_raw,
        "SHIP_CTRY" as ship_country_raw,
        {{ country_lookup_key('"SHIP_CTRY"') }} as ship_country_key,
        "ORDER_TOTAL" as legacy_total_text,
        coalesce(upper(btrim("CURR_CD")), 'USD') as currency_code,
        "NOTES" as notes,
        to_jsonb(source.*) - '_migrate_synced_at' - '_migrate_deleted' as source_row,
        "_migrate_synced_at" as synced_at,
        "_migrate_deleted" as is_deleted
    from source
)

select * from renamed
