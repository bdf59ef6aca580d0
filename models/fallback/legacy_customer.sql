{{ config(materialized='view', schema='fallback', tags=['fallback']) }}

-- The legacy "CUSTOMER" rows a fallback writes: one per customer the new application changed
-- after cutover. _fallback_op is I (born in the new system), U or D; _fallback_columns lists the
-- legacy columns to write, those fed by what the new application changed (see
-- changed_after_cutover), so every other legacy column keeps its legacy text.

with

changes as (
    {{ app_changes('customer', ['customer_id']) }}
),

customers as not materialized (
    select * from {{ ref('customer') }}
),

addresses as not materialized (
    select * from {{ ref('address') }}
),

legacy_keys as (
    select * from {{ ref('legacy_keys') }}
    where entity = 'customer'
),

statuses as (
    select * from {{ ref('customer_statuses') }}
),

final as (
    select
        coalesce(
            current_row.legacy_cust_id,
            legacy_keys.legacy_key,
            (changes.before_image ->> 'legacy_cust_id')::integer
        ) as "CUST_ID",
        current_row.display_name as "CUST_NM",
        current_row.email as "EMAIL_ADDR",
        current_row.phone_e164 as "PHONE",
        addresses.line1 as "ADDR1",
        addresses.line2 as "ADDR2",
        addresses.city as "CITY",
        addresses.region as "STATE_CD",
        addresses.postal_code as "POSTAL_CD",
        addresses.country_code::text as "CTRY",
        to_char({{ legacy_local_time('current_row.created_at') }}, 'YYYY-MM-DD') as "CREATED",
        statuses.legacy_code as "STATUS",
        {{ legacy_local_time('current_row.updated_at') }} as "LAST_UPD",
        {{ fallback_op('current_row.customer_id') }} as _fallback_op,
        {{ fallback_columns({
            'CUST_NM': 'display_name',
            'EMAIL_ADDR': 'email',
            'PHONE': 'phone_e164',
            'ADDR1': 'billing_address_id',
            'ADDR2': 'billing_address_id',
            'CITY': 'billing_address_id',
            'STATE_CD': 'billing_address_id',
            'POSTAL_CD': 'billing_address_id',
            'CTRY': 'billing_address_id',
            'CREATED': 'created_at',
            'STATUS': 'status',
        }, always=['LAST_UPD']) }} as _fallback_columns
    from changes
    left join customers as current_row on changes.customer_id = current_row.customer_id
    left join addresses on current_row.billing_address_id = addresses.address_id
    left join legacy_keys on changes.customer_id = legacy_keys.app_id
    left join statuses on current_row.status = statuses.status
    -- Born in the new system and deleted there again: nothing to carry back.
    where {{ is_carried_back('current_row.customer_id') }}
)

select * from final
