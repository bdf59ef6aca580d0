{#
    Why: an order's total is the sum of its lines (business rule 4); the legacy ORDER_TOTAL is kept
    (app.sales_order.legacy_total_text) and reported (finding order_total_mismatch) only when it is
    not an amount or is off by more than one cent: sales_order and findings must agree on when.
#}
{% macro order_total_disagrees(legacy_total_cents, total_cents) -%}
    ({{ legacy_total_cents }} is null or abs({{ legacy_total_cents }} - {{ total_cents }}) > 1)
{%- endmacro %}
