with

source as (
    select * from {{ source('oms', 'CUSTOMER') }}
),

renamed as (
    select
        "CUST_ID" as cust_id,
        "CUST_NM" as customer_name_raw,
        {{ split_name('"CUST_NM"', 'given') }} as given_name,
        {{ split_name('"CUST_NM"', 'family') }} as family_name,
        {{ split_name('"CUST_NM"', 'display') }} as display_name,
        {{ is_company_name(squish('"CUST_NM"')) }} as is_company,
        {{ name_match_key('"CUST_NM"') }} as name_match_key,
        "EMAIL_ADDR" as email_raw,
        {{ clean_email('"EMAIL_ADDR"') }} as email,
        {{ squish('"PHONE"') }} as phone_raw,
        {{ phone_extension('"PHONE"') }} as phone_extension,
        {{ normalize_address_line('"ADDR1"') }} as line1,
        {{ normalize_address_line('"ADDR2"') }} as line2,
        upper({{ squish('"CITY"') }}) as city,
        upper({{ squish('"STATE_CD"') }}) as region,
        "POSTAL_CD" as postal_code_raw,
        "CTRY" as country_raw,
        {{ country_lookup_key('"CTRY"') }} as country_key,
        "CREATED" as created_raw,
        {{ parse_legacy_date('"CREATED"') }} as created_on,
        upper(btrim("STATUS")) as status_code,
        {{ local_to_timestamptz('"LAST_UPD"') }} as updated_at,
        to_jsonb(source.*) - '_migrate_synced_at' - '_migrate_deleted' as source_row,
        "_migrate_synced_at" as synced_at,
        "_migrate_deleted" as is_deleted
    from source
)

select * from renamed
