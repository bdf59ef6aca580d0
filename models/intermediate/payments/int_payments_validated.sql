{{
    config(
        unique_key='pay_id',
        incremental_strategy='sync_replace',
        indexes=[
            {'columns': ['pay_id'], 'unique': true},
            {'columns': ['order_no']},
            {'columns': ['batch_watermark']},
        ],
    )
}}

-- depends_on: {{ ref('sync_batches') }}

with

payments as not materialized (
    select * from {{ ref('stg_oms__payments') }}
),

orders as not materialized (
    select * from {{ ref('int_orders_validated') }}
),

methods as not materialized (
    select * from {{ ref('payment_methods') }}
),

{%- set payment_columns = [
    'pay_id', 'order_no', 'method_code', 'amount_raw', 'amount_cents', 'paid_at_local', 'paid_at',
    'is_in_dst_gap', 'card_last4', 'has_full_card_number', 'synced_at', 'is_deleted',
] %}

payments_in_scope as (
    {% if is_incremental() %}
        -- Payments written since the last batch, and the payments of every order recomputed in this
        -- batch: each set read through its own index (a join of all their keys back to landing can
        -- be planned as a scan of the whole table).
        select payments.{{ payment_columns | join(', payments.') }}
        from payments
        where {{ in_sync_batch('payments.synced_at') }}
        union
        select payments.{{ payment_columns | join(', payments.') }}
        from payments
        where
            payments.pay_id in (
                select previous.pay_id
                from {{ this }} as previous
                inner join orders on previous.order_no = orders.order_no
                where orders.batch_watermark > {{ sync_low_watermark() }} and orders.has_changed_fate
            )
    {% else %}
        select payments.{{ payment_columns | join(', payments.') }}
        from payments
    {% endif %}
),

resolved as (
    select
        payments.pay_id,
        payments.order_no,
        orders.disposition as order_disposition,
        orders.currency_code,
        payments.method_code,
        methods.method,
        methods.is_card,
        payments.amount_raw,
        payments.amount_cents,
        payments.paid_at_local,
        payments.paid_at,
        payments.is_in_dst_gap,
        payments.card_last4,
        payments.has_full_card_number,
        payments.synced_at,
        payments.is_deleted
    from payments_in_scope as payments
    left join orders on payments.order_no = orders.order_no
    left join methods on payments.method_code = methods.legacy_code
),

decided as (
    select
        *,
        case
            when is_deleted then null
            when order_no is null or order_disposition is null or order_disposition = 'deleted'
                then 'payment_order_missing'
            when order_disposition = 'quarantined' then 'payment_order_quarantined'
            when method is null then 'payment_method_unknown'
            when amount_cents is null then 'payment_amount_missing'
        end as quarantine_rule
    from resolved
),

final as (
    select
        pay_id,
        case
            when is_deleted then 'deleted'
            when quarantine_rule is not null then 'quarantined'
            else 'migrated'
        end as disposition,
        quarantine_rule,
        case quarantine_rule
            when 'payment_order_missing'
                then
                    case
                        when order_no is null then 'ORDER_NO is NULL'
                        else 'order ' || order_no || ' does not exist in ORDER_HDR'
                    end
            when 'payment_order_quarantined' then 'order ' || order_no || ' is quarantined'
            when 'payment_method_unknown'
                then 'method ' || coalesce('''' || method_code || '''', 'NULL') || ' is not in seed payment_methods'
            when 'payment_amount_missing' then 'AMOUNT is NULL'
        end as quarantine_reason,
        order_no,
        method_code,
        method,
        amount_cents,
        currency_code,
        paid_at_local,
        paid_at,
        is_in_dst_gap,
        case when is_card then card_last4 end as card_last4,
        card_last4 is not null and not coalesce(is_card, false) as has_card_on_non_card_method,
        has_full_card_number,
        synced_at,
        {{ sync_high_watermark() }} as batch_watermark
    from decided
)

select * from final
