{{ config(materialized='view', schema='fallback', tags=['fallback']) }}

-- The legacy "ORDER_HDR" rows a fallback writes: one per order the new application changed after
-- cutover (see legacy_customer for _fallback_op and _fallback_columns).

with

changes as (
    {{ app_changes('sales_order', ['order_id']) }}
),

orders as not materialized (
    select * from {{ ref('sales_order') }}
),

customers as not materialized (
    {{ with_legacy_key('customer', 'customer_id', 'legacy_cust_id', columns=['display_name']) }}
),

addresses as not materialized (
    select * from {{ ref('address') }}
),

legacy_keys as (
    select * from {{ ref('legacy_keys') }}
    where entity = 'sales_order'
),

currencies as (
    select * from {{ ref('currencies') }}
),

-- The code the legacy application itself writes for each status.
statuses (status, legacy_code) as (
    values
    ('placed', 'NEW'),
    ('shipped', 'SHIPPED'),
    ('cancelled', 'CXL'),
    ('returned', 'RTN')
),

final as (
    select
        coalesce(
            current_row.legacy_order_no,
            legacy_keys.legacy_key,
            (changes.before_image ->> 'legacy_order_no')::integer
        ) as "ORDER_NO",
        customers.legacy_cust_id as "CUST_ID",
        {{ legacy_local_time('current_row.ordered_at') }} as "ORDER_DT",
        statuses.legacy_code as "STATUS_CD",
        customers.display_name as "SHIP_NM",
        addresses.line1 as "SHIP_ADDR1",
        addresses.line2 as "SHIP_ADDR2",
        addresses.city as "SHIP_CITY",
        addresses.region as "SHIP_STATE",
        addresses.postal_code as "SHIP_POSTAL",
        addresses.country_code::text as "SHIP_CTRY",
        -- In the currency's own notation, which the legacy application and the forward mapping read.
        replace(
            to_char(current_row.total_cents / 100.0, 'FM999999999990.00'),
            '.',
            coalesce(currencies.decimal_separator, '.')
        ) as "ORDER_TOTAL",
        current_row.currency::text as "CURR_CD",
        current_row.notes as "NOTES",
        {{ legacy_local_time('changes.last_changed_at') }} as "LAST_UPD",
        {{ fallback_op('current_row.order_id') }} as _fallback_op,
        {{ fallback_columns({
            'CUST_ID': 'customer_id',
            'ORDER_DT': 'ordered_at',
            'STATUS_CD': 'status',
            'SHIP_NM': 'shipping_address_id',
            'SHIP_ADDR1': 'shipping_address_id',
            'SHIP_ADDR2': 'shipping_address_id',
            'SHIP_CITY': 'shipping_address_id',
            'SHIP_STATE': 'shipping_address_id',
            'SHIP_POSTAL': 'shipping_address_id',
            'SHIP_CTRY': 'shipping_address_id',
            'ORDER_TOTAL': 'total_cents',
            'CURR_CD': 'currency',
            'NOTES': 'notes',
        }, always=['LAST_UPD']) }} as _fallback_columns
    from changes
    left join orders as current_row on changes.order_id = current_row.order_id
    left join customers on current_row.customer_id = customers.customer_id
    left join addresses on current_row.shipping_address_id = addresses.address_id
    left join currencies on current_row.currency = currencies.currency_code
    left join legacy_keys on changes.order_id = legacy_keys.app_id
    left join statuses on current_row.status = statuses.status
    where {{ is_carried_back('current_row.order_id') }}
)

select * from final
