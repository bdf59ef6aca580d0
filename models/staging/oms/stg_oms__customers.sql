-- A single SELECT on purpose, without the usual import CTEs: PostgreSQL does not flatten a view
-- whose query has a WITH clause into the query that uses it, so the incremental models could
-- not look rows up by key through it (they would compute every row of the table instead).
-- The country is resolved here, through seed country_codes, because postal code and phone
-- normalisation depend on it.

select
    source."CUST_ID" as cust_id,
    source."CUST_NM" as customer_name_raw,
    {{ split_name('source."CUST_NM"', 'given') }} as given_name,
    {{ split_name('source."CUST_NM"', 'family') }} as family_name,
    {{ split_name('source."CUST_NM"', 'display') }} as display_name,
    {{ is_company_name(squish('source."CUST_NM"')) }} as is_company,
    {{ name_match_key('source."CUST_NM"') }} as name_match_key,
    source."EMAIL_ADDR" as email_raw,
    {{ clean_email('source."EMAIL_ADDR"') }} as email,
    {{ squish('source."PHONE"') }} as phone_raw,
    {{ phone_to_e164('source."PHONE"', 'countries.calling_code', 'countries.trunk_prefix') }} as phone_e164,
    {{ phone_extension('source."PHONE"') }} as phone_extension,
    {{ normalize_address_line('source."ADDR1"') }} as line1,
    {{ normalize_address_line('source."ADDR2"') }} as line2,
    upper({{ squish('source."CITY"') }}) as city,
    upper({{ squish('source."STATE_CD"') }}) as region,
    source."POSTAL_CD" as postal_code_raw,
    {{ normalize_postal_code('source."POSTAL_CD"', 'countries.country_code') }} as postal_code,
    source."CTRY" as country_raw,
    countries.country_code,
    source."CREATED" as created_raw,
    {{ parse_legacy_date('source."CREATED"') }} as created_on,
    {{ local_to_timestamptz(parse_legacy_date('source."CREATED"') ~ '::timestamp') }} as created_at,
    upper(btrim(source."STATUS")) as status_code,
    {{ local_to_timestamptz('source."LAST_UPD"') }} as updated_at,
    to_jsonb(source.*) - '_migrate_synced_at' - '_migrate_deleted' as source_row,
    source._migrate_synced_at as synced_at,
    source._migrate_deleted as is_deleted
from {{ source('oms', 'CUSTOMER') }} as source
left join {{ ref('country_codes') }} as countries
    on {{ country_lookup_key('source."CTRY"') }} = countries.spelling_key
