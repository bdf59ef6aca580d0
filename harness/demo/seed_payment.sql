-- PAYMENT: mostly one payment per order, some orders unpaid, some paid in two parts, in the
-- order's currency. A headerless order number has exactly one payment: the unknown orders.
-- Each step ends in "offset 0", so that what it computes is computed once per row.
insert into "oms"."PAYMENT" ("PAY_ID", "ORDER_NO", "METHOD", "AMOUNT", "PAID_AT", "CARD_NO", "LAST_UPD")
with

orders as (
    select
        o,
        order_no,
        placed_at,
        lines_total,
        case when has_header then pg_temp.draw('payment.count', o)::int else 1 end as payment_count
    from pg_temp.order_totals
    offset 0
),

payments as (
    select
        orders.*,
        part,
        2 * (o - 1) + part as pay_id  -- two ids per order number: PAY_ID has gaps
    from orders
    cross join lateral generate_series(1, orders.payment_count) as part
    offset 0
),

drawn as (
    select
        payments.*,
        pg_temp.draw('payment.method', pay_id) as method,
        pg_temp.local(least(
            placed_at + pg_temp.seconds(case
                when part = 1 then pg_temp.rnd(pay_id, 'payment.delay') * 3 * 86400
                else (7 + pg_temp.rnd(pay_id, 'payment.delay') * 30) * 86400
            end),
            pg_temp.history_end() - interval '1 second'
        )) as paid_local,
        pg_temp.rnd(pay_id, 'payment.card_digits') as card_u
    from payments
    offset 0
),

carded as (
    select
        drawn.*,
        pg_temp.card_payload(method, card_u) as card_payload
    from drawn
    offset 0
)

select
    pay_id::int,
    order_no,
    method,
    case
        when payment_count = 1 then lines_total
        when part = 1 then pg_temp.first_payment(lines_total, o)
        else lines_total - pg_temp.first_payment(lines_total, o)
    end,
    paid_local,
    case
        when method not in ('VISA', 'MC', 'MASTERCARD', 'AMEX') then null
        when pg_temp.flag('payment.card_full', pay_id) and paid_local < pg_temp.old_writes_before() then
            pg_temp.card_number(method, card_payload, pg_temp.rnd(pay_id, 'payment.card_style'))
        when pg_temp.flag('payment.card_last4', pay_id) then lpad(pg_temp.rnd_int(pay_id, 'payment.last4', 0, 9999)::text, 4, '0')
    end,
    pg_temp.last_upd(paid_local, pg_temp.flag('payment.last_upd_null', pay_id))
from carded
