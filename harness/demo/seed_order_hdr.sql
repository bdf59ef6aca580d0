-- ORDER_HDR: every order number but the few whose header was deleted. 70% ship to the
-- customer's own address, copied with the small differences clerks typed; the rest ship
-- elsewhere. Each step ends in "offset 0", so that what it computes is computed once per row.
insert into "oms"."ORDER_HDR" (
    "ORDER_NO", "CUST_ID", "ORDER_DT", "STATUS_CD",
    "SHIP_NM", "SHIP_ADDR1", "SHIP_ADDR2", "SHIP_CITY", "SHIP_STATE", "SHIP_POSTAL", "SHIP_CTRY",
    "ORDER_TOTAL", "CURR_CD", "NOTES", "LAST_UPD"
)
with

orders as (
    select
        o,
        order_no,
        currency,
        placed_local,
        placed_at,
        lines_total,
        case pg_temp.draw('order.customer', o)
            when 'known' then pg_temp.customer_id(customer_no)
            when 'missing' then pg_temp.missing_customer_id(1 + customer_no / 10)
        end as cust_id,
        pg_temp.draw('order.status', o) as status,
        pg_temp.flag('order.status_lower', o) as is_status_lower,
        pg_temp.draw('order.ship_address', o) as ship_class,
        pg_temp.draw('order.ship_variation', o) as ship_variation,
        pg_temp.pick_class('customer.country', pg_temp.rnd(o, 'order.ship_country')) as other_country,
        pg_temp.draw('order.total', o) as total_class,
        pg_temp.draw('order.total_format', o) as total_format,
        pg_temp.draw('order.notes', o) as notes_class,
        pg_temp.flag('order.notes_huge', o) as has_huge_notes,
        pg_temp.flag('order.last_upd_null', o) as loses_last_upd,
        pg_temp.rnd(o, 'order.value') as value_u
    from pg_temp.order_totals
    where has_header
    offset 0
),

shipping as (
    select
        w.*,
        c."CUST_ID" is not null and w.ship_class = 'customer' as ships_to_customer,
        c."CUST_NM" as cust_nm,
        c."ADDR1" as cust_addr1,
        c."ADDR2" as cust_addr2,
        c."CITY" as cust_city,
        c."STATE_CD" as cust_state,
        c."POSTAL_CD" as cust_postal,
        c."CTRY" as cust_ctry,
        pg_temp.country_iso(w.other_country) as other_iso,
        (w.lines_total * 100)::bigint + case
            -- the legacy total included shipping or a coupon that no line shows
            when w.total_class = 'disagree' then (array[495, 599, 999, 1250, -500, -1000])[1 + floor(w.value_u * 6)::int]
            else 0
        end as shown_cents,
        pg_temp.local(least(
            w.placed_at + pg_temp.seconds(power(w.value_u, 3) * 60 * 86400),  -- status changes up to two months later
            pg_temp.history_end() - interval '1 second'
        )) as written_local
    from orders as w
    left join "oms"."CUSTOMER" as c on c."CUST_ID" = w.cust_id
    offset 0
)

select
    order_no,
    cust_id,
    placed_local,
    case
        when status = 'unknown' then pg_temp.pick_from(array['HOLD', 'BACKORDER', 'PEND', 'ERR', '??'], value_u)
        when is_status_lower then lower(status)
        else status
    end,
    case
        when ships_to_customer then pg_temp.vary_text(cust_nm, ship_variation)
        else pg_temp.first_name(-o) || ' ' || pg_temp.last_name(-o)  -- a recipient of its own
    end,
    case when ships_to_customer then pg_temp.vary_addr1(cust_addr1, ship_variation) else other.addr1 end,
    case when ships_to_customer then pg_temp.vary_text(cust_addr2, ship_variation) else other.addr2 end,
    case when ships_to_customer then pg_temp.vary_text(cust_city, ship_variation) else other.city end,
    case when ships_to_customer then pg_temp.vary_text(cust_state, ship_variation) else other.state_cd end,
    case when ships_to_customer then cust_postal else other.postal_cd end,
    case
        when not ships_to_customer then other_country
        when ship_variation = 'country' then pg_temp.country_spelling(pg_temp.country_iso(cust_ctry), value_u)
        else pg_temp.vary_text(cust_ctry, ship_variation)
    end,
    case when total_class = 'empty' then '' else pg_temp.money_text(shown_cents, currency, total_format) end,
    currency,
    case
        when has_huge_notes then pg_temp.huge_note(o)
        when notes_class = 'text' then pg_temp.note_text(o)
        else notes_class
    end,
    pg_temp.last_upd(written_local, loses_last_upd)
from shipping
cross join lateral pg_temp.address(o, 'order.ship', other_iso, false, false) as other
