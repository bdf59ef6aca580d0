-- A single SELECT on purpose, without the usual import CTEs: PostgreSQL does not flatten a view
-- whose query has a WITH clause into the query that uses it, so the incremental models could
-- not look rows up by key through it (they would compute every row of the table instead).
-- The country is resolved here, through seed country_codes, because postal code and phone
-- normalisation depend on it.

select
    source."ORDER_NO" as order_no,
    source."CUST_ID" as cust_id,
    source."ORDER_DT" as ordered_at_local,
    {{ local_to_timestamptz('source."ORDER_DT"') }} as ordered_at,
    coalesce({{ is_nonexistent_local_time('source."ORDER_DT"') }}, false) as is_in_dst_gap,
    upper(btrim(source."STATUS_CD")) as status_code,
    {{ squish('source."SHIP_NM"') }} as ship_name,
    {{ normalize_address_line('source."SHIP_ADDR1"') }} as ship_line1,
    {{ normalize_address_line('source."SHIP_ADDR2"') }} as ship_line2,
    upper({{ squish('source."SHIP_CITY"') }}) as ship_city,
    upper({{ squish('source."SHIP_STATE"') }}) as ship_region,
    source."SHIP_POSTAL" as ship_postal_code_raw,
    {{ normalize_postal_code('source."SHIP_POSTAL"', 'countries.country_code') }} as ship_postal_code,
    source."SHIP_CTRY" as ship_country_raw,
    countries.country_code as ship_country_code,
    coalesce(
        nullif(btrim(source."SHIP_ADDR1"), ''),
        nullif(btrim(source."SHIP_ADDR2"), ''),
        nullif(btrim(source."SHIP_CITY"), ''),
        nullif(btrim(source."SHIP_POSTAL"), '')
    ) is not null as has_ship_address,
    source."ORDER_TOTAL" as legacy_total_text,
    {{ money_to_cents('source."ORDER_TOTAL"', kind='text') }} as legacy_total_cents,
    coalesce(upper(btrim(source."CURR_CD")), 'USD') as currency_code,
    source."NOTES" as notes,
    to_jsonb(source.*) - '_migrate_synced_at' - '_migrate_deleted' as source_row,
    source._migrate_synced_at as synced_at,
    source._migrate_deleted as is_deleted
from {{ source('oms', 'ORDER_HDR') }} as source
left join {{ ref('country_codes') }} as countries
    on {{ country_lookup_key('source."SHIP_CTRY"') }} = countries.spelling_key
