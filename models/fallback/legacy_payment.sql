{{ config(materialized='view', schema='fallback', tags=['fallback']) }}

-- The legacy "PAYMENT" rows a fallback writes: one per payment the new application changed after
-- cutover (see legacy_customer for _fallback_op and _fallback_columns). Only the last four card
-- digits exist on the new side; a card number the new application did not change is not written.

with

changes as (
    {{ app_changes('payment', ['payment_id']) }}
),

payments as not materialized (
    select * from {{ ref('payment') }}
),

orders as not materialized (
    {{ with_legacy_key('sales_order', 'order_id', 'legacy_order_no') }}
),

legacy_keys as (
    select * from {{ ref('legacy_keys') }}
    where entity = 'payment'
),

-- The code the legacy application itself writes for each method.
methods (method, legacy_code) as (
    values
    ('card_visa', 'VISA'),
    ('card_mastercard', 'MC'),
    ('card_amex', 'AMEX'),
    ('paypal', 'PAYPAL'),
    ('check', 'CHECK')
),

final as (
    select
        coalesce(
            current_row.legacy_pay_id,
            legacy_keys.legacy_key,
            (changes.before_image ->> 'legacy_pay_id')::integer
        ) as "PAY_ID",
        orders.legacy_order_no as "ORDER_NO",
        methods.legacy_code as "METHOD",
        (current_row.amount_cents / 100.0)::numeric(12, 2) as "AMOUNT",
        {{ legacy_local_time('current_row.paid_at') }} as "PAID_AT",
        current_row.card_last4::text as "CARD_NO",
        {{ legacy_local_time('changes.last_changed_at') }} as "LAST_UPD",
        {{ fallback_op('current_row.payment_id') }} as _fallback_op,
        {{ fallback_columns({
            'ORDER_NO': 'order_id',
            'METHOD': 'method',
            'AMOUNT': 'amount_cents',
            'PAID_AT': 'paid_at',
            'CARD_NO': 'card_last4',
        }, always=['LAST_UPD']) }} as _fallback_columns
    from changes
    left join payments as current_row on changes.payment_id = current_row.payment_id
    left join orders on current_row.order_id = orders.order_id
    left join legacy_keys on changes.payment_id = legacy_keys.app_id
    left join methods on current_row.method = methods.method
    where {{ is_carried_back('current_row.payment_id') }}
)

select * from final
