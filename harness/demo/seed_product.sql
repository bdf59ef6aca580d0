-- PRODUCT: the catalogue. Rows 1..base are the products, added over the years in SKU order;
-- the last rows are SKU twins, each the same product as an earlier row, keyed in again in
-- lower case or with trailing blanks. Each step ends in "offset 0" so that what it computes is
-- computed once (see seed_functions.sql).
insert into "oms"."PRODUCT" ("SKU", "DESCR", "CAT_PATH", "PRICE", "ACTIVE", "LAST_UPD")
with

sizes as (
    select
        pg_temp.param('count.products')::bigint - pg_temp.param('count.product_twins')::bigint as base,
        pg_temp.param('count.product_twins')::bigint as twins
),

numbered as (
    select
        k::bigint as k,
        k > sizes.base as is_twin,
        case
            -- twins are spread evenly over the catalogue, one per stretch of products
            when k > sizes.base then 1 + floor((k - sizes.base - 1 + pg_temp.rnd(k, 'product.twin_of')) * sizes.base / sizes.twins)::bigint
            else k::bigint
        end as product_no,
        sizes.base
    from sizes
    cross join generate_series(1, pg_temp.param('count.products')::bigint) as k
    offset 0
),

drawn as (
    select
        k,
        is_twin,
        product_no,
        pg_temp.product_sku(product_no) as sku,
        pg_temp.category_entry(product_no) as category,
        pg_temp.draw('product.cat_path', k) as separator,
        pg_temp.draw('product.price_float', k) as price_style,
        pg_temp.draw('product.active', k) as active,
        pg_temp.flag('product.last_upd_null', k) as loses_last_upd,
        -- added in SKU order over the history; a twin was keyed in later
        pg_temp.history_start() + pg_temp.seconds(
            (product_no - 1 + pg_temp.rnd(product_no, 'product.added')) * pg_temp.history_seconds() / base
        ) as added_at,
        pg_temp.rnd(k, 'product.twin_style') as twin_style_u,
        pg_temp.rnd(k, 'product.written') as written_u
    from numbered
    offset 0
),

written as (
    select
        drawn.*,
        pg_temp.local(case
            when is_twin then added_at + pg_temp.seconds(written_u * extract(epoch from pg_temp.history_end() - added_at))
            else added_at
        end) as written_local
    from drawn
    offset 0
)

select
    case
        when not is_twin then sku
        when twin_style_u < 0.4 then pg_temp.lower_c(sku)
        when twin_style_u < 0.7 then sku || ' '
        when twin_style_u < 0.9 then pg_temp.lower_c(sku) || ' '
        else sku || '  '
    end,
    pg_temp.product_descr(product_no),
    case when separator is not null then replace(split_part(category, '|', 2), ' > ', separator) end,
    pg_temp.float_money(pg_temp.product_price_cents(product_no), price_style),
    active,
    pg_temp.last_upd(written_local, loses_last_upd)
from written
