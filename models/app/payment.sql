{{
    config(
        unique_key='payment_id',
        post_hook=["{{ advance_identity('payment_id') }}"],
    )
}}

-- depends_on: {{ ref('sync_batches') }}

with

payments as not materialized (
    select * from {{ ref('int_payments_validated') }}
),

final as (
    select
        pay_id::bigint as payment_id,
        pay_id as legacy_pay_id,
        order_no::bigint as order_id,
        method,
        amount_cents,
        currency_code::char(3) as currency,
        paid_at,
        card_last4::char(4) as card_last4
    from payments
    where
        disposition = 'migrated'
        and {{ recomputed_in_this_batch() }}
)

select * from final
