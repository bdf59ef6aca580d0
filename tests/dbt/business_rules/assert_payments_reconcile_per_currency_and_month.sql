-- Business rule 1: the sum of payment amounts per currency per month is the same in legacy as in
-- the target plus quarantine. Currency is the order's (NULL means USD; unknown order: none), month
-- is the New York calendar month of PAID_AT. Legacy amounts count positive, target and quarantine
-- amounts negative: returns every (currency, month) whose balance is not zero. A sync build
-- compares only the payments its batch recomputed (macro reconcile_only_this_batch): every payment
-- whose row or order changed is recomputed, and no other payment can have moved.

-- depends_on: {{ ref('sync_app_deletes') }}
-- depends_on: {{ ref('sync_batches') }}
-- depends_on: {{ ref('int_payments_validated') }}

{%- set only_this_batch = reconcile_only_this_batch() %}


with

{% if only_this_batch %}
    recomputed as (
        select
            pay_id,
            order_no
        from {{ ref('int_payments_validated') }}
        where batch_watermark > {{ sync_low_watermark() }}
    ),
{% endif %}

legacy_payments as (
    select * from {{ source('oms', 'PAYMENT') }}
    where
        not _migrate_deleted
        and {{ recomputed_only('"PAY_ID"', 'recomputed.pay_id') }}
),

legacy_orders as (
    select * from {{ source('oms', 'ORDER_HDR') }}
    where
        not _migrate_deleted
        and {{ recomputed_only('"ORDER_NO"', 'recomputed.order_no') }}
),

migrated_payments as (
    select * from {{ ref('payment') }}
    where
        legacy_pay_id is not null
        and {{ recomputed_only('legacy_pay_id', 'recomputed.pay_id') }}
),

quarantined_payments as (
    select * from {{ ref('quarantined_rows') }}
    where
        source_table = 'PAYMENT'
        and {{ recomputed_only('source_key', 'recomputed.pay_id::text') }}
),

legacy as (
    select
        case when legacy_orders."ORDER_NO" is not null then coalesce(upper(btrim(legacy_orders."CURR_CD")), 'USD') end
            as currency,
        date_trunc('month', legacy_payments."PAID_AT") as paid_month,
        legacy_payments."AMOUNT" as amount
    from legacy_payments
    left join legacy_orders on legacy_payments."ORDER_NO" = legacy_orders."ORDER_NO"
),

migrated as (
    select
        currency::text as currency,
        date_trunc('month', paid_at at time zone '{{ var("legacy_time_zone") }}') as paid_month,
        -amount_cents / 100.0 as amount
    from migrated_payments
),

quarantined as (
    select
        case when legacy_orders."ORDER_NO" is not null then coalesce(upper(btrim(legacy_orders."CURR_CD")), 'USD') end
            as currency,
        date_trunc('month', (quarantined_payments.source_row ->> 'PAID_AT')::timestamp) as paid_month,
        -(quarantined_payments.source_row ->> 'AMOUNT')::numeric as amount
    from quarantined_payments
    left join legacy_orders
        on (quarantined_payments.source_row ->> 'ORDER_NO')::integer = legacy_orders."ORDER_NO"
),

movements as (
    select * from legacy
    union all
    select * from migrated
    union all
    select * from quarantined
)

select
    currency,
    paid_month,
    sum(amount) as difference
from movements
group by currency, paid_month
having sum(amount) <> 0
