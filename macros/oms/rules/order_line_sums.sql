{#
    Why: business rule 4, an order's total is the sum of its migrated lines. sales_order stores it
    and findings compares it with the legacy ORDER_TOTAL; each computes it for its own orders (the
    batch's, or all in a full build), so that findings need not wait for sales_order.
    `order_nos`: a predicate on `lines.order_no` choosing the orders.
#}
{% macro order_line_sums(order_nos) -%}
    select
        lines.order_no,
        sum(lines.line_total_cents) as total_cents
    from {{ ref('int_order_lines_validated') }} as lines
    where lines.disposition = 'migrated' and {{ order_nos }}
    group by lines.order_no
{%- endmacro %}
