-- What the lines, the header and the payments of an order number all need to agree on, computed
-- once per order number. Headerless order numbers are included: their lines and payments exist.
create temp table order_facts as
with

numbered as (
    select
        o::bigint as o,
        pg_temp.order_instant(o) as natural_at
    from generate_series(1, pg_temp.param('count.orders')::bigint) as o
    offset 0
),

localized as (
    select
        o,
        natural_at,
        pg_temp.local(natural_at) as natural_local
    from numbered
    offset 0
),

placed as (
    select
        o,
        natural_at,
        natural_local,
        pg_temp.order_placed(o, natural_local) as placed_local
    from localized
    offset 0
)

select
    o,
    pg_temp.order_no(o) as order_no,
    pg_temp.order_has_header(o) as has_header,
    pg_temp.order_line_count(o) as line_count,
    pg_temp.order_currency(o) as currency,
    pg_temp.order_customer_no(o) as customer_no,
    placed_local,
    -- the real moment; a planted time inside the spring gap is read as one hour later
    case when placed_local = natural_local then natural_at else pg_temp.instant(placed_local) end as placed_at
from placed;

-- SKU and price of every product (twins aside) in each currency, for the order lines.
create temp table product_facts as
select
    product_no,
    sku,
    price_cents as usd_cents,
    round(price_cents * pg_temp.fx_rate('EUR'))::bigint as eur_cents,
    round(price_cents * pg_temp.fx_rate('GBP'))::bigint as gbp_cents,
    round(price_cents * pg_temp.fx_rate('CAD'))::bigint as cad_cents
from (
    select
        n as product_no,
        pg_temp.product_sku(n) as sku,
        pg_temp.product_price_cents(n) as price_cents
    from generate_series(1, pg_temp.param('count.products')::bigint - pg_temp.param('count.product_twins')::bigint) as n
    offset 0
) as products;
