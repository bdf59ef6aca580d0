-- Every order number with its facts and the sum of its line totals, from the lines as written
-- (the floats read back from the table) with the one definition of a line total
-- (pg_temp.line_total_cents). Headers and payments both read it.
create temp table order_totals as
select
    f.*,
    s.lines_total
from pg_temp.order_facts as f
inner join (
    select
        "ORDER_NO" as order_no,
        (sum(pg_temp.line_total_cents("QTY", "UNIT_PRICE", "DISC_PCT")) / 100.0)::numeric(14, 2) as lines_total
    from "oms"."ORDER_LINE"
    group by "ORDER_NO"
) as s on s.order_no = f.order_no;
