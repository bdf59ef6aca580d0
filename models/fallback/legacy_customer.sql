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
        case
            when current_row.customer_id is null then 'D'
            when changes.is_born then 'I'
            else 'U'
        end as _fallback_op,
        array_remove(array[
            case when {{ changed_after_cutover('display_name') }} then 'CUST_NM' end,
            case when {{ changed_after_cutover('email') }} then 'EMAIL_ADDR' end,
            case when {{ changed_after_cutover('phone_e164') }} then 'PHONE' end,
            case when {{ changed_after_cutover('billing_address_id') }} then 'ADDR1' end,
            case when {{ changed_after_cutover('billing_address_id') }} then 'ADDR2' end,
            case when {{ changed_after_cutover('billing_address_id') }} then 'CITY' end,
            case when {{ changed_after_cutover('billing_address_id') }} then 'STATE_CD' end,
            case when {{ changed_after_cutover('billing_address_id') }} then 'POSTAL_CD' end,
            case when {{ changed_after_cutover('billing_address_id') }} then 'CTRY' end,
            case when {{ changed_after_cutover('created_at') }} then 'CREATED' end,
            case when {{ changed_after_cutover('status') }} then 'STATUS' end,
            'LAST_UPD'
        ], null) as _fallback_columns
    from changes
    left join customers as current_row on changes.customer_id = current_row.customer_id
    left join addresses on current_row.billing_address_id = addresses.address_id
    left join legacy_keys on changes.customer_id = legacy_keys.app_id
    left join statuses on current_row.status = statuses.status
    -- Born in the new system and deleted there again: nothing to carry back.
    where not (changes.is_born and current_row.customer_id is null)
)

select * from final
