-- What the lines, the header and the payments of an order number all need to agree on, computed
-- once per order number. Headerless order numbers are included: their lines and payments exist.
create temp table order_facts as
with

numbered as (
    select
        o::bigint as o,
        pg_temp.local(pg_temp.order_instant(o)) as natural_local
    from generate_series(1, pg_temp.param('count.orders')::bigint) as o
    offset 0
),

placed as (
    select
        o,
        pg_temp.order_placed(o, natural_local) as placed_local
    from numbered
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
    -- the real moment; a time inside the spring gap is read as one hour later
    pg_temp.instant(placed_local) as placed_at
from placed;

-- SKU and list price of every product (twins aside), for the order lines.
create temp table product_facts as
select
    n as product_no,
    pg_temp.product_sku(n) as sku,
    pg_temp.product_price_cents(n) as price_cents
from generate_series(1, pg_temp.param('count.products')::bigint - pg_temp.param('count.product_twins')::bigint) as n;
