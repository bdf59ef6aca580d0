-- ORDER_LINE: one to five lines for every order number, whether its header exists or not.
-- A step that computes values ends in "offset 0", so that each is computed once per line.
insert into "oms"."ORDER_LINE" ("ORDER_NO", "LINE_NO", "SKU", "QTY", "UNIT_PRICE", "DISC_PCT", "LAST_UPD")
with

lines as (
    select
        f.order_no,
        f.currency,
        f.placed_local,
        l::int as line_no,
        f.o * 8 + l as k  -- the line's own row number for drawing
    from pg_temp.order_facts as f
    cross join lateral generate_series(1, f.line_count) as l
    offset 0
),

drawn as (
    select
        lines.*,
        -- popular products have low numbers; twins are never ordered by their own SKU
        1 + floor(pg_temp.rnd(k, 'line.product') * sqrt(pg_temp.rnd(k, 'line.product'))
            * (pg_temp.param('count.products') - pg_temp.param('count.product_twins')))::bigint as product_no,
        pg_temp.draw('line.sku', k) as sku_style,
        pg_temp.draw('line.qty', k) as qty_class,
        pg_temp.draw('line.unit_price_float', k) as price_style,
        pg_temp.draw('line.disc_pct', k) as disc_pct,
        pg_temp.flag('line.last_upd_null', k) as loses_last_upd,
        pg_temp.rnd(k, 'line.value') as value_u
    from lines
    offset 0
),

priced as (
    select
        drawn.*,
        p.sku,
        case currency when 'EUR' then p.eur_cents when 'GBP' then p.gbp_cents when 'CAD' then p.cad_cents else p.usd_cents end as price_cents
    from drawn
    inner join pg_temp.product_facts as p on p.product_no = drawn.product_no
)

select
    order_no,
    line_no,
    case sku_style
        when 'unknown' then 'ZZ-' || lpad(pg_temp.rnd_int(k, 'line.unknown_sku', 1, 99999)::text, 5, '0')
        when 'lower' then pg_temp.lower_c(sku)
        when 'trailing_blank' then sku || ' '
        when 'leading_blank' then ' ' || sku
        when 'mixed_case' then left(sku, 1) || pg_temp.lower_c(substr(sku, 2))
        else sku
    end,
    case qty_class
        when 'negative' then -pg_temp.rnd_int(k, 'line.qty_value', 1, 3)::int
        when 'zero' then 0
        else 1 + floor(power(pg_temp.rnd(k, 'line.qty_value'), 3) * 10)::int
    end,
    pg_temp.float_money(
        case
            when sku_style = 'unknown' then 199 + floor(value_u * 20000)::bigint
            else price_cents
        end,
        price_style),
    disc_pct::numeric(5, 2),
    -- written with the order, in the same transaction
    pg_temp.last_upd(placed_local, loses_last_upd)
from priced
